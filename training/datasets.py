"""In-memory training sets built on the data loaders (fast random crops on 2 CPU cores).

Fixed sets are one uint8 tensor (:func:`load_image_tensor`, :class:`RandomCropBatches`);
sources that never end (procedural images, crops of a folder of any-size photos) are an
:class:`ImagePool` whose images are replaced one at a time as training goes on, and
:class:`MixedCropBatches` draws each crop of a batch from one of several sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
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


def random_crops(
    images: torch.Tensor, count: int, crop: int, gen: torch.Generator
) -> list[torch.Tensor]:
    """``count`` random ``crop``² uint8 crops (+ horizontal flips) of an (N, 3, H, W) tensor."""
    n, _, h, w = images.shape
    idx = torch.randint(0, n, (count,), generator=gen)
    ys = torch.randint(0, h - crop + 1, (count,), generator=gen)
    xs = torch.randint(0, w - crop + 1, (count,), generator=gen)
    flips = torch.rand(count, generator=gen) < 0.5
    crops = []
    for i, y0, x0, f in zip(idx.tolist(), ys.tolist(), xs.tolist(), flips.tolist(), strict=True):
        c = images[i, :, y0 : y0 + crop, x0 : x0 + crop]
        crops.append(c.flip(-1) if f else c)
    return crops


def _check_crop(images: torch.Tensor, crop: int) -> None:
    if images.shape[-1] < crop or images.shape[-2] < crop:
        raise DatasetError(f"images {tuple(images.shape[-2:])} smaller than crop {crop}")


class RandomCropBatches:
    """Draws batches of random crops (+ horizontal flips) from a uint8 image tensor."""

    def __init__(self, images: torch.Tensor, crop: int, batch_size: int, seed: int):
        _check_crop(images, crop)
        self.images, self.crop, self.batch_size = images, crop, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> torch.Tensor:
        crops = random_crops(self.images, self.batch_size, self.crop, self.gen)
        return torch.stack(crops).float().div_(255.0)


#: renders image number ``index`` of an endless source as (H, W, 3) uint8
ImageSource = Callable[[int], np.ndarray]


class ImagePool:
    """``size`` images of an endless source held in memory; :meth:`advance` replaces the
    oldest with the source's next image every ``refresh_every`` steps.

    Image ``k`` of the source is ``render(k)``. Which images the pool holds is a function
    of the step alone (slot ``r % size`` holds image ``size + r`` after refresh ``r``), so
    a run resumed at step s crops from the same pool as the run that reached s.
    """

    def __init__(
        self, render: ImageSource, size: int, refresh_every: int, step: int, desc: str
    ) -> None:
        self.render, self.size, self.refresh_every = render, size, refresh_every
        self.refreshes = step // refresh_every
        first = render(self._holds(0))
        self.images = torch.empty((size, 3, *first.shape[:2]), dtype=torch.uint8)
        for slot in tqdm(range(size), desc=f"rendering {desc}", unit="img", leave=False):
            arr = first if slot == 0 else self.render(self._holds(slot))
            self.images[slot] = torch.from_numpy(arr).permute(2, 0, 1)

    def _holds(self, slot: int) -> int:
        """Index of the source image in ``slot`` after :attr:`refreshes` refreshes."""
        if self.refreshes <= slot:
            return slot
        last = slot + ((self.refreshes - 1 - slot) // self.size) * self.size
        return self.size + last

    def advance(self, step: int) -> None:
        """Bring the pool to ``step`` (one new image per ``refresh_every`` steps)."""
        while self.refreshes < step // self.refresh_every:
            slot = self.refreshes % self.size
            arr = self.render(self.size + self.refreshes)
            self.images[slot] = torch.from_numpy(arr).permute(2, 0, 1)
            self.refreshes += 1


class MixedCropBatches:
    """Batches whose crops come from several sources: each crop picks its source with the
    given probabilities. The sampler counts its batches from ``step`` and advances the
    pools to that count before each one."""

    def __init__(
        self,
        sources: Mapping[str, torch.Tensor | ImagePool],
        shares: Mapping[str, float],
        crop: int,
        batch_size: int,
        seed: int,
        step: int = 0,
    ) -> None:
        self.names, self.step = list(shares), step
        self.sources = [sources[n] for n in self.names]
        for src in self.sources:
            _check_crop(src.images if isinstance(src, ImagePool) else src, crop)
        self.probs = torch.tensor([shares[n] for n in self.names], dtype=torch.float64)
        self.crop, self.batch_size = crop, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> torch.Tensor:
        picks = torch.multinomial(self.probs, self.batch_size, True, generator=self.gen)
        crops: list[torch.Tensor] = []
        for k, src in enumerate(self.sources):
            count = int((picks == k).sum())
            if isinstance(src, ImagePool):
                src.advance(self.step)
                src = src.images
            if count:
                crops += random_crops(src, count, self.crop, self.gen)
        self.step += 1
        return torch.stack(crops).float().div_(255.0)


def square_crop(image: Image.Image, side: int, rng: np.random.Generator | None) -> np.ndarray:
    """A ``side``² crop of an image as (side, side, 3) uint8: random position with ``rng``,
    centred without; an image whose short side is below ``side`` is first scaled up."""
    w, h = image.size
    if min(w, h) < side:
        scale = side / min(w, h)
        image = image.resize((max(side, round(w * scale)), max(side, round(h * scale))))
        w, h = image.size
    x0 = int(rng.integers(0, w - side + 1)) if rng is not None else (w - side) // 2
    y0 = int(rng.integers(0, h - side + 1)) if rng is not None else (h - side) // 2
    return np.array(image.crop((x0, y0, x0 + side, y0 + side)))


class FolderCrops:
    """An endless source of random ``side``² crops of a folder's images (any sizes):
    image ``k`` is a crop of a random file, both drawn from ``(seed, k)``."""

    def __init__(self, paths: list[Path], side: int, seed: int) -> None:
        if not paths:
            raise DatasetError("no images to crop from")
        self.paths, self.side, self.seed = paths, side, seed

    def __call__(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        path = self.paths[int(rng.integers(0, len(self.paths)))]
        return square_crop(load_rgb(path), self.side, rng)
