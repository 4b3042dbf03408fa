"""One pass of `polc bench tasks` over a data set: every batch of images is coded at each α
and at each JPEG quality, and each version goes to the task's models at once, so the data
are read once and held one batch at a time (real data sets do not fit in memory).

Per α the codec gives ŷ (the adapter's input, method (a)), x̂₁ (β = 1, method (b)) and
x̄(β = 0) with its enhancement bits (c); JPEG (d) and the original image (e) go to the
pixel model. A :class:`TaskScorer` turns a batch's model outputs into something it can
score once all batches are in (top-1 hits, detections per image id).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from polc.bench.metrics import jpeg
from polc.shared.codec.runtime import Codec

METHODS = (
    "adapter_on_latent",
    "pixel_on_x1",
    "pixel_on_beta0",
    "pixel_on_jpeg",
    "pixel_on_original",
)


@dataclass
class Batch:
    """Images of one size and what the scorer needs to score them (labels, image ids…)."""

    images: torch.Tensor  # (B, 3, H, W) uint8
    info: Any


class TaskScorer(Protocol):
    def latent(self, y_hat: torch.Tensor, batch: Batch) -> Any:
        """The adapter's outputs on a batch of ŷ (of the images in ``batch``)."""

    def pixel(self, images: torch.Tensor, batch: Batch) -> Any:
        """The pixel model's outputs on float images in [0, 1]."""

    def score(self, outputs: list[Any]) -> dict[str, float]:
        """The metric fields of a curve point from the outputs of every batch."""


@dataclass
class _Point:
    """One curve point being accumulated: bits per image and the model outputs."""

    key: dict[str, float | int]
    bpp: list[float] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)


@dataclass
class SweepResult:
    curves: dict[str, list[dict]]
    images: int
    sample_latent: torch.Tensor  # ŷ of one image at the last α (for FLOPs and latency)
    sample_size: tuple[int, int]  # that image's (height, width)
    sizes: set[tuple[int, int]]  # every image size seen


def _to_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in arrays])


def sweep(
    codec: Codec,
    batches: Iterable[Batch],
    total: int,
    alphas: tuple[float, ...],
    qualities: tuple[int, ...],
    scorer: TaskScorer,
    desc: str,
) -> SweepResult:
    """Curves of every method (rows ``{alpha|quality, bpp, <scorer's fields>}``), ``bpp`` the
    mean over images; ``total`` (the number of images) sizes the progress bar."""
    points: dict[str, list[_Point]] = {
        "adapter_on_latent": [_Point({"alpha": a}) for a in alphas],
        "pixel_on_x1": [_Point({"alpha": a}) for a in alphas],
        "pixel_on_beta0": [_Point({"alpha": a}) for a in alphas],
        "pixel_on_jpeg": [_Point({"quality": q}) for q in qualities],
        "pixel_on_original": [_Point({})],
    }
    sample: torch.Tensor | None = None
    sample_size = (0, 0)
    sizes: set[tuple[int, int]] = set()
    count = 0
    with torch.no_grad(), tqdm(total=total, desc=desc, unit="img") as bar:
        for batch in batches:
            arrays = [im.permute(1, 2, 0).numpy() for im in batch.images]
            sizes.add((int(batch.images.shape[-2]), int(batch.images.shape[-1])))
            for k, alpha in enumerate(alphas):
                frames = [codec.decode(codec.encode(a, alpha, enhancement=True)) for a in arrays]
                bits = [codec.bits_per_pixel(f) for f in frames]
                latents = torch.cat([f.y_hat for f in frames])
                sample, sample_size = latents[:1], tuple(batch.images.shape[-2:])
                a = points["adapter_on_latent"][k]
                a.bpp += [b[0] for b in bits]
                a.outputs.append(scorer.latent(latents, batch))
                for beta, name in ((1.0, "pixel_on_x1"), (0.0, "pixel_on_beta0")):
                    x = _to_batch([codec.reconstruct(f, beta) for f in frames])
                    p = points[name][k]
                    p.bpp += [b[0] + (b[1] if beta == 0.0 else 0.0) for b in bits]
                    p.outputs.append(scorer.pixel(x.float() / 255, batch))
            for k, q in enumerate(qualities):
                dec = [jpeg(a, q) for a in arrays]
                p = points["pixel_on_jpeg"][k]
                p.bpp += [d[1] for d in dec]
                p.outputs.append(scorer.pixel(_to_batch([d[0] for d in dec]).float() / 255, batch))
            p = points["pixel_on_original"][0]
            p.bpp.append(24.0)
            p.outputs.append(scorer.pixel(batch.images.float() / 255, batch))
            count += len(batch.images)
            bar.update(len(batch.images))
    if sample is None:
        raise ValueError("no images to evaluate")
    curves = {
        name: [{**p.key, "bpp": float(np.mean(p.bpp)), **scorer.score(p.outputs)} for p in rows]
        for name, rows in points.items()
    }
    return SweepResult(curves, count, sample, (int(sample_size[0]), int(sample_size[1])), sizes)


def batches_of(
    items: Iterable[tuple[torch.Tensor, Any]], batch_size: int
) -> Iterator[tuple[torch.Tensor, list[Any]]]:
    """(image, info) pairs -> (stacked uint8 images, their infos), consecutive images of one
    size together (at most ``batch_size``)."""
    images: list[torch.Tensor] = []
    infos: list[Any] = []
    for image, info in items:
        if images and (len(images) == batch_size or image.shape != images[0].shape):
            yield torch.stack(images), infos
            images, infos = [], []
        images.append(image)
        infos.append(info)
    if images:
        yield torch.stack(images), infos
