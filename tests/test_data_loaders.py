"""Dataset loaders and transforms: shapes, class order, COCO targets and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polc.shared.data import CLASSES, write_dataset
from polc.shared.data.loaders import (
    CocoDetectionDataset,
    ImageFolderDataset,
    ImageTreeDataset,
    collate_detection,
)
from polc.shared.data.transforms import (
    CenterCrop,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    train_transform,
)
from polc.shared.errors import DatasetError


@pytest.fixture(scope="module")
def cls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cls")
    return write_dataset("cls", 18, 0, out, size=(32, 32), workers=1, progress=False)


@pytest.fixture(scope="module")
def det_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("det")
    return write_dataset("det", 4, 0, out, size=(160, 96), workers=1, progress=False)


def _png(path: Path, w: int, h: int, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


# ---------------------------------------------------------------- ImageFolderDataset
def test_image_folder_synthetic(cls_dir: Path) -> None:
    ds = ImageFolderDataset(cls_dir)
    assert ds.classes == list(CLASSES) and len(ds) == 18
    img, label = ds[0]
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    assert isinstance(label, int) and CLASSES[label] == Path(ds.samples[0][0]).parent.name
    flipped = ImageFolderDataset(cls_dir, transform=lambda t: t.flip(-1))[0][0]
    assert torch.equal(flipped, img.flip(-1))


def test_image_folder_generic_names(tmp_path: Path) -> None:
    _png(tmp_path / "zebra" / "1.png", 8, 8)
    _png(tmp_path / "apple" / "1.jpg", 8, 8)
    ds = ImageFolderDataset(tmp_path)
    assert ds.classes == ["apple", "zebra"] and len(ds) == 2


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        ImageFolderDataset(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no class folders"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "car").mkdir()
    (tmp_path / "car" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="no images"):
        ImageFolderDataset(tmp_path)
    bad = tmp_path / "car" / "broken.png"
    bad.write_bytes(b"not a png at all")
    ds = ImageFolderDataset(tmp_path)
    with pytest.raises(DatasetError, match="broken.png"):
        ds[0]


# ---------------------------------------------------------------- CocoDetectionDataset
def test_coco_dataset_targets(det_dir: Path) -> None:
    ds = CocoDetectionDataset(det_dir / "images", det_dir / "annotations.json")
    data = json.loads((det_dir / "annotations.json").read_text())
    assert len(ds) == 4
    img, target = ds[0]
    assert img.shape == (3, 96, 160)
    anns = [a for a in data["annotations"] if a["image_id"] == target["image_id"]]
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (len(anns), 4)
    assert target["labels"].dtype == torch.int64
    assert target["labels"].tolist() == [a["category_id"] for a in anns]
    if anns:
        x, y, w, h = anns[0]["bbox"]
        assert target["boxes"][0].tolist() == [x, y, x + w, y + h]
    images, targets = collate_detection([ds[0], ds[1]])
    assert images.shape == (2, 3, 96, 160) and len(targets) == 2


def test_coco_with_transform_flips_boxes(det_dir: Path) -> None:
    ds = CocoDetectionDataset(
        det_dir / "images",
        det_dir / "annotations.json",
        transform=Compose([RandomHorizontalFlip(p=1.0)]),
    )
    plain = CocoDetectionDataset(det_dir / "images", det_dir / "annotations.json")
    for i in range(len(ds)):
        (a, ta), (b, tb) = ds[i], plain[i]
        assert torch.equal(a, b.flip(-1))
        if len(tb["boxes"]):
            assert torch.allclose(ta["boxes"][:, 0], 160 - tb["boxes"][:, 2])
            break


def _coco_files(tmp_path: Path, data: object, image: bool = True) -> tuple[Path, Path]:
    root = tmp_path / "images"
    root.mkdir(exist_ok=True)
    if image:
        _png(root / "a.png", 20, 10)
    ann = tmp_path / "ann.json"
    ann.write_text(data if isinstance(data, str) else json.dumps(data))
    return root, ann


GOOD = {
    "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}],
    "annotations": [{"id": 1, "image_id": 1, "bbox": [1, 2, 5, 4], "category_id": 3}],
    "categories": [{"id": 3, "name": "police"}],
}


def test_coco_errors(tmp_path: Path) -> None:
    root, ann = _coco_files(tmp_path, GOOD)
    img, target = CocoDetectionDataset(root, ann)[0]
    assert target["boxes"].tolist() == [[1.0, 2.0, 6.0, 6.0]] and target["image_id"] == 1
    with pytest.raises(DatasetError, match="annotation file not found"):
        CocoDetectionDataset(root, tmp_path / "nope.json")
    with pytest.raises(DatasetError, match="image folder not found"):
        CocoDetectionDataset(tmp_path / "nodir", ann)
    root, ann = _coco_files(tmp_path, "{not json")
    with pytest.raises(DatasetError, match="malformed JSON"):
        CocoDetectionDataset(root, ann)
    root, ann = _coco_files(tmp_path, {k: v for k, v in GOOD.items() if k != "annotations"})
    with pytest.raises(DatasetError, match="missing COCO key 'annotations'"):
        CocoDetectionDataset(root, ann)
    bad_box = json.loads(json.dumps(GOOD))
    bad_box["annotations"][0]["bbox"] = [1, 2]
    root, ann = _coco_files(tmp_path, bad_box)
    with pytest.raises(DatasetError, match="bad bbox"):
        CocoDetectionDataset(root, ann)
    root, ann = _coco_files(tmp_path, GOOD)
    (root / "a.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(DatasetError, match="a.png"):
        CocoDetectionDataset(root, ann)[0]
    (root / "a.png").unlink()
    with pytest.raises(DatasetError, match="a.png"):
        CocoDetectionDataset(root, ann)[0]


# ---------------------------------------------------------------- ImageTreeDataset
def test_image_tree(tmp_path: Path) -> None:
    _png(tmp_path / "a" / "big.png", 200, 150)
    _png(tmp_path / "a" / "b" / "small.JPG", 40, 30)
    _png(tmp_path / "c" / "wide.jpeg", 300, 60)
    (tmp_path / "c" / "readme.txt").write_text("ignored")
    ds = ImageTreeDataset(tmp_path, crop=64, train=True)
    assert len(ds) == 3
    for i in range(3):
        x = ds[i]
        assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    ev = ImageTreeDataset(tmp_path, crop=64, train=False)
    assert torch.equal(ev[0], ev[0])


def test_image_tree_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        ImageTreeDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no JPEG/PNG"):
        ImageTreeDataset(tmp_path / "empty")
    (tmp_path / "empty" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="x.jpg"):
        ImageTreeDataset(tmp_path / "empty")[0]


# ---------------------------------------------------------------- transforms
def test_transforms_keep_boxes_inside() -> None:
    torch.manual_seed(0)
    img = torch.rand(3, 50, 80)
    target = {
        "boxes": torch.tensor([[0.0, 0.0, 20.0, 20.0], [60.0, 30.0, 80.0, 50.0]]),
        "labels": torch.tensor([1, 2]),
    }
    for _ in range(10):
        out, t = RandomCrop(40)(img, target)
        assert out.shape == (3, 40, 40)
        assert len(t["boxes"]) == len(t["labels"])
        if len(t["boxes"]):
            assert float(t["boxes"].min()) >= 0 and float(t["boxes"].max()) <= 40
    small = CenterCrop(64)(torch.rand(3, 20, 30))
    assert small.shape == (3, 64, 64)
    x = train_transform(crop=16)(np.zeros((20, 20, 3), np.uint8))
    assert x.shape == (3, 16, 16)
