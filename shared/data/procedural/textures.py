"""Texture fills of one procedural image: what the inside of a dead-leaves shape looks like.

A :class:`TexturePalette` holds a few full-size fields drawn once per image (1/f noise of
different slopes, a warped oriented grating); each shape picks one of them (or none: a
flat colour) with a strength and a shading gradient, and reads the field under its
bounding box, so a thousand shapes cost a handful of FFTs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .noise import spectral_noise


@dataclass(frozen=True)
class ShapeFill:
    """How one shape is filled: ``texture`` indexes the palette's fields (-1: flat),
    ``strength`` scales it along ``direction`` (RGB), ``gradient`` = (gy, gx) shading per
    pixel."""

    colour: np.ndarray
    texture: int
    strength: float
    direction: np.ndarray
    gradient: tuple[float, float]


@dataclass(frozen=True)
class TexturePalette:
    """Full-size (H, W) float32 fields, zero mean, roughly unit scale."""

    fields: tuple[np.ndarray, ...]

    @classmethod
    def draw(cls, rng: np.random.Generator, height: int, width: int) -> TexturePalette:
        fields = [spectral_noise(rng, height, width, s) for s in rng.uniform(0.6, 1.8, 2)]
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        theta, period = rng.uniform(0, np.pi), rng.uniform(3.0, 24.0)
        phase = (xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / period)
        warp = 2.0 * spectral_noise(rng, height, width, 1.8)
        fields.append(np.sin(phase + warp).astype(np.float32) * 1.4)
        return cls(tuple(fields))

    def fill(
        self, spec: ShapeFill, box: tuple[slice, slice], local: tuple[np.ndarray, np.ndarray]
    ) -> np.ndarray:
        """The (h, w, 3) fill of one shape over ``box``; ``local`` are the shape-centred
        (y, x) coordinates, (h, 1) and (1, w)."""
        ly, lx = local
        gy, gx = spec.gradient
        shade = (1.0 + gy * ly + gx * lx)[..., None]
        out = spec.colour * shade
        if spec.texture >= 0:
            tex = self.fields[spec.texture][box][..., None]
            out = out + spec.strength * tex * spec.direction
        return out
