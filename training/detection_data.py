"""Detection training data in memory: uint8 frames + boxes, random crops and flips.

Labels are 0-based class indices (COCO category id − 1 for the synthetic set). A box cut
by a crop is kept (clipped) while at least ``min_visible`` of its area stays in the crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from polc.shared.data import CocoDetectionDataset


@dataclass
class DetectionSet:
    images: torch.Tensor  # (N, 3, H, W) uint8
    targets: list[dict[str, torch.Tensor]]  # boxes xyxy float32, labels 0-based int64
    image_ids: list[int]
    coco: object  # pycocotools COCO index (for COCOeval)

    @classmethod
    def load(
        cls, root: Path, desc: str = "detection set", limit: int | None = None
    ) -> DetectionSet:
        """The first ``limit`` frames (default all) of a COCO folder (``images/``)."""
        ds = CocoDetectionDataset(root / "images", root / "annotations.json")
        n = min(len(ds), limit or len(ds))
        images: torch.Tensor | None = None
        targets, ids = [], []
        for i in tqdm(range(n), desc=f"loading {desc}", unit="img", leave=False):
            image, t = ds[i]
            if images is None:  # one preallocated uint8 block (frames share one size)
                images = torch.empty((n, *image.shape), dtype=torch.uint8)
            images[i] = image.mul_(255.0).add_(0.5)
            targets.append({"boxes": t["boxes"], "labels": t["labels"] - 1})
            ids.append(int(t["image_id"]))
        assert images is not None
        return cls(images, targets, ids, ds.coco)

    def __len__(self) -> int:
        return len(self.images)


def crop_targets(
    target: dict[str, torch.Tensor],
    x0: int,
    y0: int,
    w: int,
    h: int,
    flip: bool,
    min_visible: float = 0.4,
) -> dict[str, torch.Tensor]:
    boxes = target["boxes"] - torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    clipped = torch.stack(
        [
            boxes[:, 0].clamp(0, w),
            boxes[:, 1].clamp(0, h),
            boxes[:, 2].clamp(0, w),
            boxes[:, 3].clamp(0, h),
        ],
        dim=1,
    )
    cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (cw >= 2) & (ch >= 2) & (cw * ch >= min_visible * area)
    clipped = clipped[keep]
    if flip:
        clipped = torch.stack(
            [w - clipped[:, 2], clipped[:, 1], w - clipped[:, 0], clipped[:, 3]], dim=1
        )
    return {"boxes": clipped, "labels": target["labels"][keep]}


class CropBatches:
    """Batches of random ``crop`` (H, W) windows with horizontal flips, and their boxes."""

    def __init__(self, data: DetectionSet, crop: tuple[int, int], batch_size: int, seed: int):
        self.data, self.crop, self.batch_size = data, crop, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        n, _, h, w = self.data.images.shape
        ch, cw = self.crop
        idx = torch.randint(0, n, (self.batch_size,), generator=self.gen).tolist()
        ys = torch.randint(0, h - ch + 1, (self.batch_size,), generator=self.gen).tolist()
        xs = torch.randint(0, w - cw + 1, (self.batch_size,), generator=self.gen).tolist()
        flips = (torch.rand(self.batch_size, generator=self.gen) < 0.5).tolist()
        crops, targets = [], []
        for i, y0, x0, f in zip(idx, ys, xs, flips, strict=True):
            c = self.data.images[i, :, y0 : y0 + ch, x0 : x0 + cw]
            crops.append(c.flip(-1) if f else c)
            targets.append(crop_targets(self.data.targets[i], x0, y0, cw, ch, f))
        return torch.stack(crops).float().div_(255.0), targets
