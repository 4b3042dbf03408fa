"""In-memory training sets built on the data loaders (fast random crops on 2 CPU cores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from polc.shared.data.loaders import ImageTreeDataset, load_rgb
from polc.shared.errors import DatasetError


def _read_rgb(path: Path) -> np.ndarray:
    return np.array(load_rgb(path))


def load_image_tensor(paths: list[Path], desc: str) -> torch.Tensor:
    """Stack same-size images into one uint8 tensor (N, 3, H, W)."""
    if not paths:
        raise DatasetError(f"no images to load for {desc}")
    first = _read_rgb(paths[0])
    out = torch.empty((len(paths), 3, *first.shape[:2]), dtype=torch.uint8)
    for i, p in enumerate(tqdm(paths, desc=f"loading {desc}", unit="img", leave=False)):
        arr = first if i == 0 else _read_rgb(p)
        if arr.shape != first.shape:
            raise DatasetError(f"{p}: size {arr.shape[:2]} differs from {first.shape[:2]}")
        out[i] = torch.from_numpy(arr).permute(2, 0, 1)
    return out


def list_images(root: Path) -> list[Path]:
    """Every JPEG/PNG below ``root``, sorted (the data package's folder rules and errors)."""
    return ImageTreeDataset(root).paths


class RandomCropBatches:
    """Draws batches of random crops (+ horizontal flips) from a uint8 image tensor."""

    def __init__(self, images: torch.Tensor, crop: int, batch_size: int, seed: int):
        if images.shape[-1] < crop or images.shape[-2] < crop:
            raise DatasetError(f"images {tuple(images.shape[-2:])} smaller than crop {crop}")
        self.images, self.crop, self.batch_size = images, crop, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> torch.Tensor:
        n, _, h, w = self.images.shape
        idx = torch.randint(0, n, (self.batch_size,), generator=self.gen)
        ys = torch.randint(0, h - self.crop + 1, (self.batch_size,), generator=self.gen)
        xs = torch.randint(0, w - self.crop + 1, (self.batch_size,), generator=self.gen)
        flips = torch.rand(self.batch_size, generator=self.gen) < 0.5
        crops = []
        for i, y0, x0, f in zip(
            idx.tolist(), ys.tolist(), xs.tolist(), flips.tolist(), strict=True
        ):
            c = self.images[i, :, y0 : y0 + self.crop, x0 : x0 + self.crop]
            crops.append(c.flip(-1) if f else c)
        return torch.stack(crops).float().div_(255.0)
