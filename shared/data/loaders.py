"""Datasets used by all training and evaluation code (synthetic and real data alike).

* :class:`ImageFolderDataset` -- classification, ``root/<class>/<image>`` layout.
* :class:`CocoDetectionDataset` -- detection, COCO JSON + image folder.
* :class:`ImageTreeDataset` -- codec training on any folder tree of JPEG/PNG images
  (CLIC, Flickr2W, ...).

Problems with the data raise :class:`~polc.shared.errors.DatasetError` with a message
naming the folder or file.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from pycocotools.coco import COCO
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder

from polc.shared.errors import DatasetError

from .synth.classes import CLASSES
from .transforms import CenterCrop, RandomCrop, RandomHorizontalFlip, to_tensor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image as RGB, raising :class:`DatasetError` naming the file if it is bad."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise DatasetError(f"image file not found: {path}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc


def _require_dir(root: str | Path, what: str) -> Path:
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{what} not found: {root}")
    if not root.is_dir():
        raise DatasetError(f"{what} is not a directory: {root}")
    return root


class _Folder(ImageFolder):
    """ImageFolder whose class order is :data:`CLASSES` when the folders are those classes."""

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        names = sorted(
            e.name for e in Path(directory).iterdir() if e.is_dir() and not e.name.startswith(".")
        )
        if not names:
            raise DatasetError(f"no class folders in {directory}")
        if set(names) == set(CLASSES):
            names = list(CLASSES)
        return names, {n: i for i, n in enumerate(names)}


class ImageFolderDataset(Dataset):
    """Classification dataset ``root/<class>/<image>`` -> (CHW float tensor in [0, 1], label).

    ``classes`` are the folder names (sorted; the :data:`CLASSES` order for synthetic data).
    ``transform`` receives the image tensor, e.g. :func:`~.transforms.train_transform`.
    """

    def __init__(
        self, root: str | Path, transform: Callable[[torch.Tensor], Any] | None = None
    ) -> None:
        self.root = _require_dir(root, "dataset folder")
        try:
            folder = _Folder(str(self.root), loader=load_rgb, allow_empty=True)
        except FileNotFoundError as exc:
            raise DatasetError(f"no images found in {self.root}: {exc}") from exc
        if not folder.samples:
            raise DatasetError(f"no images found in {self.root} (expected <class>/<image>.png)")
        self.classes: list[str] = list(folder.classes)
        self.class_to_idx: dict[str, int] = dict(folder.class_to_idx)
        self.samples: list[tuple[str, int]] = list(folder.samples)
        self.targets: list[int] = [s[1] for s in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        image = to_tensor(load_rgb(path))
        if self.transform is not None:
            image = self.transform(image)
        return image, label


def _load_coco_json(annotation_file: Path) -> dict:
    if not annotation_file.is_file():
        raise DatasetError(f"annotation file not found: {annotation_file}")
    try:
        data = json.loads(annotation_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"malformed JSON in {annotation_file}: {exc}") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{annotation_file}: top level must be a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{annotation_file}: missing COCO key '{key}' (a list)")
    for im in data["images"]:
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise DatasetError(f"{annotation_file}: every image needs 'id' and 'file_name'")
    for a in data["annotations"]:
        if not isinstance(a, dict) or any(k not in a for k in ("image_id", "bbox", "category_id")):
            raise DatasetError(
                f"{annotation_file}: every annotation needs 'image_id', 'bbox' and 'category_id'"
            )
        if not isinstance(a["bbox"], list) or len(a["bbox"]) != 4:
            raise DatasetError(f"{annotation_file}: annotation {a.get('id')} has a bad bbox")
    return data


class CocoDetectionDataset(Dataset):
    """COCO detection dataset -> (CHW float image, target).

    The target holds ``boxes`` (float32 [K, 4], xyxy pixels), ``labels`` (int64 [K], the
    COCO category ids), ``image_id`` (int), ``area``, ``iscrowd``, ``orig_size`` (H, W) and,
    for synthetic videos, ``track_ids``. ``coco`` is the pycocotools index (for COCOeval).
    ``transform(image, target)`` must return ``(image, target)``.
    """

    def __init__(
        self,
        root_images: str | Path,
        annotation_file: str | Path,
        transform: Callable[..., Any] | None = None,
    ) -> None:
        self.root = _require_dir(root_images, "image folder")
        self.annotation_file = Path(annotation_file)
        data = _load_coco_json(self.annotation_file)
        if not data["images"]:
            raise DatasetError(f"{self.annotation_file}: no images listed")
        self.coco = COCO()
        self.coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco.createIndex()
        self.ids: list[int] = sorted(self.coco.imgs)
        self.categories: dict[int, str] = {
            c["id"]: c.get("name", str(c["id"])) for c in data["categories"]
        }
        self.transform = transform

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        image = to_tensor(load_rgb(self.root / info["file_name"]))
        anns = [
            a
            for a in self.coco.imgToAnns.get(image_id, [])
            if a["bbox"][2] > 0 and a["bbox"][3] > 0
        ]
        boxes = torch.tensor(
            [
                [
                    a["bbox"][0],
                    a["bbox"][1],
                    a["bbox"][0] + a["bbox"][2],
                    a["bbox"][1] + a["bbox"][3],
                ]
                for a in anns
            ],
            dtype=torch.float32,
        ).reshape(-1, 4)
        target: dict[str, Any] = {
            "boxes": boxes,
            "labels": torch.tensor([a["category_id"] for a in anns], dtype=torch.int64),
            "image_id": int(image_id),
            "area": torch.tensor(
                [float(a.get("area", a["bbox"][2] * a["bbox"][3])) for a in anns],
                dtype=torch.float32,
            ),
            "iscrowd": torch.tensor([int(a.get("iscrowd", 0)) for a in anns], dtype=torch.int64),
            "orig_size": torch.tensor(image.shape[-2:], dtype=torch.int64),
        }
        if anns and all("track_id" in a for a in anns):
            target["track_ids"] = torch.tensor([a["track_id"] for a in anns], dtype=torch.int64)
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target


class ImageTreeDataset(Dataset):
    """Every JPEG/PNG below ``root`` (recursively) as ``crop`` x ``crop`` CHW float tensors.

    Training: random crop + random horizontal flip; evaluation: center crop. Images smaller
    than the crop are padded (reflection).
    """

    def __init__(self, root: str | Path, crop: int = 128, train: bool = True) -> None:
        self.root = _require_dir(root, "image folder")
        self.paths = sorted(
            p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self.paths:
            raise DatasetError(f"no JPEG/PNG images under {self.root}")
        self.crop, self.train = crop, train
        self._crop = RandomCrop(crop) if train else CenterCrop(crop)
        self._flip = RandomHorizontalFlip() if train else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self._crop(to_tensor(load_rgb(self.paths[index])))
        if self._flip is not None:
            image = self._flip(image)
        return image


def collate_detection(
    batch: list[tuple[torch.Tensor, dict[str, Any]]],
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Stack detection samples: images zero-padded (bottom / right) to the largest size in
    the batch -> [B, 3, H, W]; targets stay a list (boxes are unaffected by the padding)."""
    if not batch:
        raise DatasetError("empty detection batch")
    images, targets = zip(*batch, strict=True)
    h = max(im.shape[-2] for im in images)
    w = max(im.shape[-1] for im in images)
    out = images[0].new_zeros((len(images), images[0].shape[0], h, w))
    for i, im in enumerate(images):
        out[i, :, : im.shape[-2], : im.shape[-1]] = im
    return out, list(targets)
