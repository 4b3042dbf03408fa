"""Day / dusk / night / fog looks and their application to a composed frame.

A :class:`Look` is sampled once per image (once per video). It fixes the sky colours used
by the backdrop, a global gain and colour tint, light pools of street lamps at night,
depth-dependent fog, and the glow of emissive parts (head / tail lights, lit windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from .palette import Colour

MODES = ("day", "dusk", "night", "fog")
MODE_P = (0.5, 0.17, 0.18, 0.15)


@dataclass(frozen=True)
class Look:
    """Illumination of one image or video."""

    mode: str
    sky_top: Colour
    sky_bottom: Colour
    gain: float  #: overall exposure multiplier
    tint: tuple[float, float, float]  #: white-balance / colour of the light
    ambient: float  #: night: fraction of daylight that remains (1 by day)
    fog_colour: tuple[float, float, float]
    fog_density: float  #: 1/m; 0 = no fog
    glow: float  #: strength of emissive parts
    shadow: float  #: darkness of cast shadows (0..1)
    noise: float  #: sensor noise sigma (0-255 scale)
    lit_windows: float  #: probability that a building window is lit

    @property
    def lights_on(self) -> bool:
        return self.mode in ("night", "dusk")


def sample_look(rng: np.random.Generator, mode: str | None = None) -> Look:
    """Random illumination; ``mode`` forces one of :data:`MODES`."""
    if mode is None:
        mode = str(rng.choice(MODES, p=MODE_P))
    u = rng.uniform
    if mode == "day":
        wb = (float(u(0.94, 1.06)), 1.0, float(u(0.94, 1.08)))
        return Look(
            mode,
            (int(u(60, 120)), int(u(120, 170)), int(u(190, 240))),
            (int(u(170, 215)), int(u(195, 225)), int(u(220, 245))),
            float(u(0.85, 1.15)),
            wb,
            1.0,
            (0.8, 0.8, 0.8),
            0.0,
            0.15,
            float(u(0.3, 0.5)),
            float(u(1.5, 5.0)),
            0.0,
        )
    if mode == "dusk":
        return Look(
            mode,
            (int(u(40, 80)), int(u(50, 80)), int(u(100, 140))),
            (int(u(220, 250)), int(u(130, 170)), int(u(80, 120))),
            float(u(0.55, 0.8)),
            (1.0, float(u(0.78, 0.88)), float(u(0.6, 0.75))),
            1.0,
            (0.8, 0.7, 0.6),
            float(u(0.0, 0.006)),
            0.6,
            float(u(0.15, 0.3)),
            float(u(3.0, 7.0)),
            0.25,
        )
    if mode == "night":
        return Look(
            mode,
            (int(u(5, 15)), int(u(8, 20)), int(u(20, 40))),
            (int(u(20, 40)), int(u(25, 45)), int(u(45, 70))),
            1.0,
            (float(u(0.8, 0.95)), float(u(0.85, 0.95)), 1.0),
            float(u(0.22, 0.4)),
            (0.1, 0.1, 0.12),
            0.0,
            1.0,
            0.1,
            float(u(4.0, 10.0)),
            0.4,
        )
    if mode == "fog":
        g = float(u(0.72, 0.86))
        fog = (g, g, g * float(u(1.0, 1.05)))
        sky = (int(255 * fog[0]), int(255 * fog[1]), int(255 * fog[2]))
        return Look(
            mode,
            sky,
            sky,
            float(u(0.8, 1.0)),
            (1.0, 1.0, 1.0),
            1.0,
            fog,
            float(u(0.02, 0.06)),
            0.4,
            float(u(0.05, 0.15)),
            float(u(2.0, 5.0)),
            0.1,
        )
    raise ValueError(f"unknown look mode {mode!r}")


def light_pools(shape: tuple[int, ...], lamps: list[tuple[float, float, float]]) -> np.ndarray:
    """Illumination (H, W) added at night around street lamps ``(column, ground_row, px/m)``."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    for u, v, s in lamps:
        rx, ry = 5.0 * s, 1.6 * s
        x0, x1 = int(max(0, u - 2.5 * rx)), int(min(w, u + 2.5 * rx + 1))
        y0, y1 = int(max(0, v - 2.5 * ry)), int(min(h, v + 2.5 * ry + 1))
        if x0 >= x1 or y0 >= y1:
            continue
        yy = (np.arange(y0, y1, dtype=np.float32)[:, None] - v) / ry
        xx = (np.arange(x0, x1, dtype=np.float32)[None, :] - u) / rx
        out[y0:y1, x0:x1] += 0.9 * np.exp(-0.5 * (xx * xx + yy * yy))
    return out


def apply_look(
    rgb: np.ndarray,
    depth: np.ndarray,
    emission: np.ndarray | None,
    look: Look,
    lamps: list[tuple[float, float, float]],
) -> np.ndarray:
    """Light a linear-ish RGB frame (H, W, 3 float in [0, 1]); returns a new float array."""
    out = rgb * (look.gain * np.asarray(look.tint, np.float32))
    if look.ambient < 1.0:
        illum = look.ambient + light_pools(depth.shape, lamps) * 0.6
        out *= np.minimum(illum, 1.0)[..., None]
    if look.fog_density > 0.0:
        f = 1.0 - np.exp(-depth * look.fog_density)
        out = out * (1.0 - f[..., None]) + f[..., None] * np.asarray(look.fog_colour, np.float32)
    if emission is not None and look.lights_on:
        e8 = Image.fromarray((np.clip(emission, 0, 1) * 255).astype(np.uint8))
        radius = max(1.5, 0.008 * max(rgb.shape[:2]))
        halo = np.asarray(e8.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255.0
        out = np.maximum(out, emission * look.glow) + halo * (1.2 * look.glow)
    return np.clip(out, 0.0, 1.0, out=out)
