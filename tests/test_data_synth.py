"""Synthetic traffic-camera generator: invariants, determinism, writer, cache and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polc.shared.data import (
    CLASSES,
    ensure_synthetic,
    render_cls_crop,
    render_scene,
    render_video_frames,
    write_dataset,
)
from polc.shared.data.synth import writer as writer_mod

DET_SIZE = (256, 144)


@pytest.fixture(scope="module")
def det200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One shared 200-scene detection set (small scenes keep the suite fast)."""
    out = tmp_path_factory.mktemp("det200")
    return write_dataset("det", 200, 5, out, size=DET_SIZE, workers=2, progress=False)


@pytest.fixture(scope="module")
def video30(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video30")
    return write_dataset("video", 30, 4, out, size=DET_SIZE, workers=2, progress=False)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_classes_tuple() -> None:
    assert CLASSES == (
        "car",
        "taxi",
        "police",
        "van",
        "bus",
        "truck",
        "motorcycle",
        "bicycle",
        "person",
    )


def test_cls_crop_shape_label_and_determinism() -> None:
    for i in range(9):
        img, label = render_cls_crop(3, i)
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8
        assert label == i
    a, _ = render_cls_crop(3, 4, size=(64, 48))
    assert a.shape == (48, 64, 3)
    b, _ = render_cls_crop(3, 4, size=(64, 48))
    c, _ = render_cls_crop(4, 4, size=(64, 48))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.std() > 5  # not a blank image


def test_scene_invariants() -> None:
    img, anns = render_scene(1, 0, size=DET_SIZE)
    assert img.shape == (DET_SIZE[1], DET_SIZE[0], 3)
    again, anns2 = render_scene(1, 0, size=DET_SIZE)
    assert np.array_equal(img, again) and anns == anns2
    other, _ = render_scene(2, 0, size=DET_SIZE)
    assert not np.array_equal(img, other)


def test_det_coco_boxes_and_all_classes(det200: Path) -> None:
    from pycocotools.coco import COCO

    coco = COCO(str(det200 / "annotations.json"))
    assert len(coco.getImgIds()) == 200
    cats = coco.loadCats(coco.getCatIds())
    assert [c["name"] for c in cats] == list(CLASSES)
    assert [c["id"] for c in cats] == list(range(1, 10))
    anns = coco.loadAnns(coco.getAnnIds())
    assert {a["category_id"] for a in anns} == set(range(1, 10))
    assert len({a["id"] for a in anns}) == len(anns)
    W, H = DET_SIZE
    for a in anns:
        x, y, w, h = a["bbox"]
        assert 0 <= x and 0 <= y and x + w <= W and y + h <= H
        assert w >= 6 and h >= 6
        assert a["iscrowd"] == 0 and 0 < a["area"] <= w * h
    per_image = [len(coco.getAnnIds(imgIds=i)) for i in coco.getImgIds()]
    assert max(per_image) <= 12 and np.mean(per_image) >= 2.0
    assert len(list((det200 / "images").glob("*.png"))) == 200


def test_det_independent_of_workers_and_n(det200: Path, tmp_path: Path) -> None:
    small = write_dataset("det", 6, 5, tmp_path / "d", size=DET_SIZE, workers=1, progress=False)
    for i in range(6):
        name = f"images/{i:06d}.png"
        assert (small / name).read_bytes() == (det200 / name).read_bytes()
    a = json.loads((small / "annotations.json").read_text())
    b = json.loads((det200 / "annotations.json").read_text())
    first = [x for x in b["annotations"] if x["image_id"] <= 6]
    assert a["annotations"] == first


def test_cls_writer_layout_determinism(tmp_path: Path) -> None:
    a = write_dataset("cls", 18, 7, tmp_path / "a", size=(32, 32), workers=2, progress=False)
    b = write_dataset("cls", 18, 7, tmp_path / "b", size=(32, 32), workers=1, progress=False)
    c = write_dataset("cls", 18, 8, tmp_path / "c", size=(32, 32), workers=1, progress=False)
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert fa == fb
    assert fa.keys() == fc.keys() and fa != fc
    for name in CLASSES:
        assert sorted(p.name for p in (a / name).iterdir()) == [
            f"{i:06d}.png" for i in range(18) if i % 9 == CLASSES.index(name)
        ]


def test_video_tracks_are_continuous(video30: Path) -> None:
    data = json.loads((video30 / "annotations.json").read_text())
    assert [im["frame_index"] for im in data["images"]] == list(range(30))
    tracks: dict[int, list[tuple[int, float]]] = {}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        tracks.setdefault(a["track_id"], []).append((a["image_id"] - 1, x + w / 2))
    assert len(tracks) >= 3
    contiguous = 0
    for items in tracks.values():
        items.sort()
        frames = [f for f, _ in items]
        contiguous += frames == list(range(frames[0], frames[-1] + 1))
        for (f0, c0), (f1, c1) in zip(items, items[1:], strict=False):
            if f1 == f0 + 1:
                assert abs(c1 - c0) < 0.25 * DET_SIZE[0]
    assert contiguous >= 0.8 * len(tracks)
    # something moves: at least one track's centre changes over time
    assert any(abs(v[-1][1] - v[0][1]) > 5 for v in tracks.values() if len(v) > 3)


def test_render_video_frames_matches_files_and_prefix(video30: Path) -> None:
    data = json.loads((video30 / "annotations.json").read_text())
    frames = list(render_video_frames(4, 4, size=DET_SIZE))
    assert len(frames) == 4
    for i, (img, anns) in enumerate(frames):
        on_disk = np.asarray(Image.open(video30 / "frames" / f"{i:06d}.png"))
        assert np.array_equal(img, on_disk)
        ref = [
            {k: v for k, v in a.items() if k not in ("id", "image_id")}
            for a in data["annotations"]
            if a["image_id"] == i + 1
        ]
        assert anns == ref


def test_ensure_synthetic_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLC_CACHE", str(tmp_path))
    path = ensure_synthetic("cls", 9, 3, (32, 32))
    assert path == tmp_path / "data" / "cls-n9-s3-32x32"
    assert (path / ".complete").is_file()
    assert len(list(path.rglob("*.png"))) == 9

    def boom(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")

    monkeypatch.setattr(writer_mod, "write_dataset", boom)
    assert ensure_synthetic("cls", 9, 3, (32, 32)) == path
    monkeypatch.undo()
    monkeypatch.setenv("POLC_CACHE", str(tmp_path))
    (path / ".complete").unlink()  # an interrupted run: regenerated
    (path / "car" / "000000.png").unlink()
    assert ensure_synthetic("cls", 9, 3, (32, 32)) == path
    assert (path / "car" / "000000.png").is_file() and (path / ".complete").is_file()
    assert not list(tmp_path.glob("data/*.tmp-*"))


def test_cli_synth_ok_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from polc.app.cli import main

    out = tmp_path / "cls"
    rc = main(
        [
            "data",
            "synth",
            "--task",
            "cls",
            "--n",
            "9",
            "--seed",
            "1",
            "--out",
            str(out),
            "--size",
            "32x32",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 0
    assert len(list(out.rglob("*.png"))) == 9
    capsys.readouterr()
    for bad, word in (
        (["--size", "32by32"], "size"),
        (["--size", "8x8"], "size"),
        (["--n", "0"], "--n"),
        (["--workers", "0"], "--workers"),
    ):
        args = ["data", "synth", "--task", "det", "--n", "2", "--out", str(tmp_path / "x"), *bad]
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and word in err and err.startswith("polc: error:")
    with pytest.raises(SystemExit) as exc:
        main(["data", "synth", "--task", "nope", "--n", "2", "--out", str(tmp_path / "y")])
    assert exc.value.code == 2
