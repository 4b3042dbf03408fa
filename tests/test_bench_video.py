"""`polc bench video` on a tiny clip (1 clip, 8 frames, 256×144, one α, one CRF per codec):
the JSON it writes, the plot, and the BD-rate's handling of curves that do not overlap.
No number of the benchmark itself is asserted (that is the benchmark's job)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from polc.bench import cli as bench_cli
from polc.bench import video
from polc.bench.video_ffmpeg import missing_encoder
from polc.bench.video_polc import temporal_codec
from polc.bench.video_scoring import detection_weights_missing
from polc.shared.errors import ConfigError

_NO_ENCODER = next(filter(None, map(missing_encoder, ("x264", "x265"))), None)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_cli.register(parser)
    return parser.parse_args(["video", *argv])


@pytest.mark.skipif(_NO_ENCODER is not None, reason=f"ffmpeg: {_NO_ENCODER}")
@pytest.mark.skipif(
    detection_weights_missing() is not None, reason=str(detection_weights_missing())
)
def test_tiny_run_writes_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "video.json"
    args = _parse(
        [
            "--json",
            str(out),
            "--clips",
            "1",
            "--frames",
            "8",
            "--size",
            "256x144",
            "--alphas",
            "0.5",
            "--x264-crf",
            "33",
            "--x265-crf",
            "35",
            "--object-oracle",
        ]
    )
    assert args.handler is video.run
    assert args.handler(args) == 0

    result = json.loads(out.read_text())
    assert {
        "command_line",
        "arguments",
        "machine",
        "setup",
        "clips",
        "methods",
        "bd_rate",
        "plot",
    } <= set(result)
    assert {"cpu_count", "torch_threads", "ffmpeg"} <= set(result["machine"])
    assert result["machine"]["ffmpeg"].startswith("ffmpeg version")
    assert result["setup"]["size"] == [256, 144] and result["setup"]["gop"] == 20
    assert result["clips"] == [
        {"seed": video.FIRST_SEED, "frames": 8, "objects": result["clips"][0]["objects"]}
    ]
    methods = result["methods"]
    skip_curves = {
        video.skip_method(t, g) for t in video.SKIP_TAUS for g in (None, *video.MOTION_THRESHOLDS)
    }
    temporal_curves = {*skip_curves, video.ORACLE}
    assert set(methods) == {
        "original",
        "polc_intra",
        "polc_temporal",
        "x264",
        "x265",
        *temporal_curves,
    }
    expected = {
        "original": None,
        "polc_intra": ("alpha", 0.5),
        "x264": ("crf", 33),
        "x265": ("crf", 35),
    }
    for name, key in expected.items():
        (point,) = methods[name]["points"]
        if key:
            assert point[key[0]] == key[1]
            assert point["encode_ms"] > 0 and point["decode_ms"] > 0
        assert point["bpp"] > 0 and point["kbps"] > 0
        assert 0.0 <= point["map50"] <= 1.0 and 0.0 <= point["map"] <= 1.0
        assert len(point["map50_per_clip"]) == 1
        assert point["bpp_per_clip"] == [pytest.approx(point["bpp"])]
    assert methods["polc_intra"]["points"][0]["frames_i"] == 8
    temporal = methods["polc_temporal"]
    assert temporal["available"] == (temporal_codec()[0] is not None)
    if temporal["available"]:  # GOP 20 > 8 frames: one key frame, then P-frames
        (point,) = temporal["points"]
        assert (point["frames_i"], point["frames_p"]) == (1, 7)
        assert point["bpp_i"] > 0 and point["bpp_p"] > 0
        assert point["y_hat_equals_intra"] is True  # lossless conditional coding
        for name in temporal_curves:  # skip mode: lossy P-frames, same I/P split
            (point,) = methods[name]["points"]
            assert (point["frames_i"], point["frames_p"]) == (1, 7)
            assert 0 < point["bpp_p"] < temporal["points"][0]["bpp_p"]
    else:
        assert "temporal" in temporal["reason"]
    assert set(result["bd_rate"]) == {
        "polc_intra_vs_x264",
        "polc_intra_vs_x265",
        "polc_temporal_vs_x264",
        "polc_temporal_vs_x265",
        *(f"{name}_vs_{codec}" for name in temporal_curves for codec in ("x264", "x265")),
    }
    # one point per curve: no BD-rate, and the reason is given
    assert result["bd_rate"]["polc_intra_vs_x264"]["percent"] is None
    assert result["bd_rate"]["polc_intra_vs_x264"]["note"]

    plot = Path(result["plot"])
    assert plot == out.with_suffix(".png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _curve(points: list[tuple[float, float]]) -> list[dict]:
    return [{"bpp": bpp, "map50": m} for bpp, m in points]


def test_bd_rate_on_overlapping_curves() -> None:
    a = _curve([(0.1, 0.5), (0.2, 0.7), (0.4, 0.8)])
    b = _curve([(0.05, 0.6), (0.1, 0.75), (0.2, 0.9)])
    bd = video.compare(a, b, "a", "b")
    assert bd["overlap_map50"] == [0.6, 0.8]
    assert bd["percent"] is not None and math.isfinite(bd["percent"]) and bd["percent"] > 0
    assert video.compare(b, a, "b", "a")["percent"] < 0


def test_bd_rate_says_when_curves_do_not_overlap() -> None:
    a = _curve([(0.1, 0.5), (0.2, 0.6)])
    b = _curve([(0.05, 0.7), (0.1, 0.9)])
    bd = video.compare(a, b, "a", "b")
    assert bd["percent"] is None and bd["overlap_map50"] is None
    assert "do not overlap" in bd["note"]
    assert bd["map50_ranges"] == {"a": [0.5, 0.6], "b": [0.7, 0.9]}
    single = video.compare(a[:1], b, "a", "b")
    assert single["percent"] is None and "fewer than 2" in single["note"]


def test_clip_seeds_stay_below_the_training_seeds(tmp_path: Path) -> None:
    args = _parse(["--json", str(tmp_path / "v.json"), "--first-seed", "998", "--clips", "3"])
    with pytest.raises(ConfigError, match="training"):
        video.run(args)


def test_negative_skip_threshold_is_refused(tmp_path: Path) -> None:
    args = _parse(["--json", str(tmp_path / "v.json"), "--skip-taus", "1,-0.5"])
    with pytest.raises(ConfigError, match="skip-taus"):
        video.run(args)
