"""What the codec trains and is evaluated on: the fixed synthetic (or folder) set of v1/v2,
or the mix of sources of ``data.mix`` (v3).

Mix sources: ``synthetic`` (the traffic world, fixed set), ``dead_leaves`` and
``spectral`` (procedural images, :mod:`polc.shared.data.procedural`, rendered on the fly
into an :class:`ImagePool`) and ``folder`` (random crops of any folder of photos,
``data.folder`` / ``--data DIR``). The held-out evaluation sets are one per source with a
share: synthetic frames of ``data.eval_seed``, procedural images of seeds no training
image uses, the last ``data.eval_images`` files of the folder (never cropped for training).
Photographs that ship inside Python packages are never used here: they are the
benchmark's (``polc bench codec --photos``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch

from polc.shared.codec.config import CodecConfig, DataConfig
from polc.shared.data import ensure_synthetic
from polc.shared.data.loaders import load_rgb
from polc.shared.data.procedural import render_procedural
from polc.training.datasets import (
    FolderCrops,
    ImagePool,
    MixedCropBatches,
    RandomCropBatches,
    list_images,
    load_image_tensor,
    square_crop,
)

#: procedural training image k of seed s is seed s·2³² + k; held-out ones start at 2⁴⁰
_TRAIN_STRIDE, HELD_OUT_BASE = 1 << 32, 1 << 40

#: what a codec stage draws its batches from
Batches = RandomCropBatches | MixedCropBatches


class CodecData:
    """The held-out sets (by source name; the first is the one the progress line leads
    with) and the batch sampler of each stage."""

    def __init__(self, cfg: CodecConfig) -> None:
        self.cfg = cfg
        if cfg.data.mix is None:
            self._train, evals = legacy_data(cfg)
            self.eval_sets = {"eval": evals}
        else:
            self.eval_sets = mixed_eval_sets(cfg)

    def batches(self, crop: int, batch_size: int, seed: int, step: int) -> Batches:
        if self.cfg.data.mix is None:
            return RandomCropBatches(self._train, crop, batch_size, seed)
        return mixed_batches(self.cfg, crop, batch_size, seed, step)


def _synthetic(count: int, seed: int, desc: str) -> torch.Tensor:
    return load_image_tensor(list_images(ensure_synthetic("det", count, seed) / "images"), desc)


def legacy_data(cfg: CodecConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, eval) uint8 tensors of ``data.source`` (no mix)."""
    d = cfg.data
    if d.source == "folder":
        assert d.folder is not None
        paths = list_images(d.folder)
        train = load_image_tensor(paths[: -d.eval_images] or paths, "codec train")
        evals = load_image_tensor(paths[-d.eval_images :], "codec eval")
        return train, evals
    return (
        _synthetic(d.synthetic_images, d.synthetic_seed, "codec train"),
        _synthetic(d.eval_images, d.eval_seed, "codec eval"),
    )


def procedural_train_image(kind: str, seed: int, size: int, index: int) -> np.ndarray:
    """Training image ``index`` of a procedural family (seeds below :data:`HELD_OUT_BASE`)."""
    return render_procedural(kind, seed * _TRAIN_STRIDE + index, (size, size))


def procedural_held_out(kind: str, count: int, size: int) -> torch.Tensor:
    """The held-out images of a procedural family as (count, 3, size, size) uint8."""
    imgs = [render_procedural(kind, HELD_OUT_BASE + i, (size, size)) for i in range(count)]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()


def _folder_split(d: DataConfig) -> tuple[list[Path], list[Path]]:
    assert d.folder is not None
    paths = list_images(d.folder)
    held = min(d.eval_images, len(paths) // 5)  # keep at least 80 % for training
    return (paths[:-held] if held else paths), (paths[-held:] if held else [])


def mixed_eval_sets(cfg: CodecConfig) -> dict[str, torch.Tensor]:
    """The held-out evaluation set of every source of the mix, by source name."""
    d, p = cfg.data, cfg.data.procedural
    assert d.mix is not None
    sets: dict[str, torch.Tensor] = {}
    for name in d.mix.shares():
        if name == "synthetic":
            sets[name] = _synthetic(d.eval_images, d.eval_seed, "codec eval")
        elif name == "folder":
            _, held = _folder_split(d)
            if held:
                crops = [square_crop(load_rgb(path), p.size, None) for path in held]
                sets[name] = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
        else:
            sets[name] = procedural_held_out(name, p.eval_images, p.size)
    return sets


def mixed_batches(
    cfg: CodecConfig, crop: int, batch_size: int, seed: int, step: int
) -> MixedCropBatches:
    """The batch sampler of the mix, its pools brought to ``step`` (resumes reproduce them)."""
    d, p = cfg.data, cfg.data.procedural
    assert d.mix is not None
    sources: dict[str, torch.Tensor | ImagePool] = {}
    for name in d.mix.shares():
        if name == "synthetic":
            sources[name] = _synthetic(d.synthetic_images, d.synthetic_seed, "codec train")
            continue
        if name == "folder":
            render = FolderCrops(_folder_split(d)[0], p.size, p.seed)
        else:
            render = partial(procedural_train_image, name, p.seed, p.size)
        sources[name] = ImagePool(render, p.pool, p.refresh_every, step, name)
    return MixedCropBatches(sources, d.mix.shares(), crop, batch_size, seed, step)
