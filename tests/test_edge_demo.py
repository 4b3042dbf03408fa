"""`polc demo` end to end (small test codec and teacher, a short small clip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polc.app.cli import main


@pytest.mark.parametrize("extra", [[], ["--backend", "onnx", "--target-kbps", "20"]])
def test_demo_streams_and_reconstructs(
    tmp_path: Path, small_codec_file, teacher_file, capsys, extra: list[str]
) -> None:
    out = tmp_path / "out"
    rc = main(
        [
            "demo",
            "--weights",
            str(small_codec_file),
            "--teacher",
            str(teacher_file),
            "--frames",
            "5",
            "--width",
            "128",
            "--height",
            "64",
            "--fps",
            "20",
            "--out",
            str(out),
            *extra,
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    assert text.count("\nframe ") == 5 and "cloud: " in text
    assert "summary: 5/5 frames stored in the cloud" in text
    assert "accuracy vs the clip's ground truth" in text
    assert "beta=1" in text and "beta=0 " in text
    assert "rate: temporal coding" in text and "vs intra coding" in text
    assert "metrics URLs" in text and "http://127.0.0.1:" in text
    for name in (
        "original.png",
        "beta0.0.png",
        "beta0.5.png",
        "beta1.0.png",
        "metrics-cloud.txt",
        "metrics-edge.txt",
    ):
        assert (out / name).is_file(), name
    assert "polc_edge_frames_acked_total 5.0" in (out / "metrics-edge.txt").read_text()


def test_demo_codec_only(tmp_path: Path, small_codec_file, capsys) -> None:
    rc = main(
        [
            "demo",
            "--codec-only",
            "--weights",
            str(small_codec_file),
            "--frames",
            "2",
            "--width",
            "128",
            "--height",
            "64",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    assert "summary: 2 frames" in capsys.readouterr().out
    assert (tmp_path / "beta0.5.png").is_file()


def test_demo_without_weights_is_a_clear_error(tmp_path: Path, capsys) -> None:
    rc = main(["demo", "--weights", str(tmp_path / "missing.pt"), "--out", str(tmp_path)])
    assert rc == 2
    assert "codec weights not found" in capsys.readouterr().err


def test_demo_detection_scoring_matches_each_truth_box_once() -> None:
    from polc.app.demo.frames import DemoFrame as _Frame
    from polc.app.demo.scoring import detection_matches

    truth = [("car", (0.0, 0.0, 10.0, 10.0)), ("person", (20.0, 20.0, 30.0, 40.0))]
    f = _Frame(
        image=None,
        truth=["car", "person"],
        alpha=0.5,
        base_bpp=0.1,
        encode_s=0.01,
        truth_boxes=truth,
    )
    f.boxes = [
        ("car", 0.9, (0.0, 0.0, 10.0, 11.0)),  # hit (IoU 0.91)
        ("car", 0.8, (0.0, 0.0, 10.0, 10.0)),  # duplicate: the car is taken
        ("bus", 0.7, (20.0, 20.0, 30.0, 40.0)),  # right place, wrong class
        ("person", 0.6, (20.0, 30.0, 30.0, 50.0)),
    ]  # IoU 1/3 < 0.5
    assert detection_matches([f]) == (1, 4, 2)
    f.boxes.append(("person", 0.5, (21.0, 21.0, 30.0, 40.0)))
    assert detection_matches([f]) == (2, 5, 2)
