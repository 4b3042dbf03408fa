"""The data `polc bench tasks` evaluates on, read a batch at a time: an ImageFolder
(``DIR/<class>/<image>``, classification) or a COCO folder (``DIR/annotations.json`` +
``DIR/images/``, detection; the reader the training uses), by default the synthetic
held-out sets.

``--size WxH``: classification images are resized to cover W × H and centre-cropped to it;
detection frames are resized to W × H and their detections scaled back to the annotations'
pixels. Without it images keep their size (consecutive images of one size are batched). The
codec pads every frame to a multiple of 64 (replicate, bottom / right) and counts bits per
pixel of the unpadded frame.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import torch
import torchvision.transforms.functional as TF
from PIL import Image

from polc.bench.tasks_sweep import Batch, batches_of
from polc.shared.data import CocoDetectionDataset
from polc.shared.data.loaders import ImageFolderDataset
from polc.shared.errors import DatasetError

COCO_FILE = "annotations.json"


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (W, H) (an argparse ``type``)."""
    found = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not found or min(int(found[1]), int(found[2])) < 16:
        raise argparse.ArgumentTypeError(f"expected WxH (each at least 16), e.g. 256x256: {text!r}")
    return int(found[1]), int(found[2])


def as_uint8(image: torch.Tensor) -> torch.Tensor:
    return image.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8)


def cover_and_crop(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A float CHW image resized to cover W × H (aspect kept), centre-cropped to W × H."""
    width, height = size
    h, w = image.shape[-2:]
    scale = max(width / w, height / h)
    shape = [max(height, round(h * scale)), max(width, round(w * scale))]
    return TF.center_crop(TF.resize(image, shape, antialias=True), [height, width])


def _numbered(classes: list[str]) -> bool:
    """Whether the class names are the placeholders of a file without names."""
    return classes == [f"class_{i}" for i in range(len(classes))]


def class_indexes(folders: list[str], classes: list[str], root: Path) -> list[int]:
    """The model's output index of each class folder: by name, or, for a model whose classes
    are unnamed (``class_<i>``), the folders' sorted order when there are as many."""
    if set(folders) <= set(classes):
        return [classes.index(f) for f in folders]
    if _numbered(classes) and len(folders) == len(classes):
        return list(range(len(folders)))
    unknown = sorted(set(folders) - set(classes))
    shown = ", ".join(classes[:5]) + (", …" if len(classes) > 5 else "")
    raise DatasetError(
        f"{root}: class folders {unknown[:5]} are not classes of the adapter "
        f"({len(classes)} classes: {shown}); name the folders after the model's classes"
    )


def _header_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except OSError:
        return (0, 0)  # unreadable: reported by the loader when its turn comes


class LabelledImages:
    """An ImageFolder labelled with the model's class indexes; ``limit`` images drawn at
    random (seed 0, as the adapter training draws its held-out images)."""

    def __init__(
        self,
        root: Path,
        classes: list[str],
        limit: int | None = None,
        size: tuple[int, int] | None = None,
    ):
        self.root, self.size = Path(root), size
        self.folder = ImageFolderDataset(self.root)
        index = class_indexes(self.folder.classes, classes, self.root)
        n = min(len(self.folder), limit or len(self.folder))
        order = torch.randperm(len(self.folder), generator=torch.Generator().manual_seed(0))
        self.order = order[:n].tolist()
        if size is None:  # batch images of one size together
            self.order.sort(key=lambda i: _header_size(self.folder.samples[i][0]))
        self.labels = {i: index[self.folder.samples[i][1]] for i in self.order}

    def __len__(self) -> int:
        return len(self.order)

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Batches with ``info`` the labels (a long tensor)."""

        def items() -> Iterator[tuple[torch.Tensor, int]]:
            for i in self.order:
                image = self.folder[i][0]
                if self.size is not None:
                    image = cover_and_crop(image, self.size)
                yield as_uint8(image), self.labels[i]

        for images, labels in batches_of(items(), batch_size):
            yield Batch(images, torch.tensor(labels))


class CocoFrames:
    """A COCO folder's first ``limit`` frames; ``info`` of a batch: per frame (image id,
    (x, y) factor from the coded frame's pixels back to the annotations')."""

    def __init__(self, root: Path, limit: int | None = None, size: tuple[int, int] | None = None):
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"detection data folder not found: {root}")
        if not (root / COCO_FILE).is_file():
            raise DatasetError(
                f"{root}: no COCO file {COCO_FILE} (expected {COCO_FILE} + images/ in it)"
            )
        self.root, self.size = root, size
        self.dataset = CocoDetectionDataset(root / "images", root / COCO_FILE)
        self.count = min(len(self.dataset), limit or len(self.dataset))

    @property
    def coco(self) -> object:
        return self.dataset.coco

    @property
    def categories(self) -> dict[int, str]:
        return self.dataset.categories

    def __len__(self) -> int:
        return self.count

    def batches(self, batch_size: int) -> Iterator[Batch]:
        def items() -> Iterator[tuple[torch.Tensor, tuple[int, tuple[float, float]]]]:
            for i in range(self.count):
                image, target = self.dataset[i]
                scale = (1.0, 1.0)
                if self.size is not None:
                    h, w = image.shape[-2:]
                    width, height = self.size
                    image = TF.resize(image, [height, width], antialias=True)
                    scale = (w / width, h / height)
                yield as_uint8(image), (int(target["image_id"]), scale)

        for images, infos in batches_of(items(), batch_size):
            yield Batch(images, infos)
