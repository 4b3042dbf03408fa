"""Procedural images with natural-image statistics (numpy only, deterministic per seed).

Codec training data that transfers to photographs without downloading any: dead-leaves
compositions (occlusion, power-law sizes, textured fills, :mod:`.dead_leaves`) and colour
1/f noise (:mod:`.noise`), each passed through a random camera (:mod:`.degrade`: blur,
exposure, sensor noise). :func:`render_procedural` is the one entry point.
"""

from __future__ import annotations

import numpy as np

from .dead_leaves import dead_leaves
from .degrade import camera
from .noise import spectral_image, spectral_noise

#: the procedural families, by the name the training mix uses
KINDS = ("dead_leaves", "spectral")


def render_procedural(kind: str, seed: int, size: tuple[int, int] = (256, 256)) -> np.ndarray:
    """One (H, W, 3) uint8 image of family ``kind`` at ``size`` = (width, height)."""
    width, height = size
    rng = np.random.default_rng([seed, KINDS.index(kind)] if kind in KINDS else None)
    if kind == "dead_leaves":
        clean = dead_leaves(rng, height, width)
    elif kind == "spectral":
        clean = spectral_image(rng, height, width)
    else:
        raise ValueError(f"unknown procedural kind {kind!r}; expected one of {KINDS}")
    return camera(rng, clean)


__all__ = [
    "KINDS",
    "camera",
    "dead_leaves",
    "render_procedural",
    "spectral_image",
    "spectral_noise",
]
