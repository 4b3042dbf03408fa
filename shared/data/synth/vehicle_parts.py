"""What the car, van, bus and truck drawings share: wheel and light colours, the wheel, and
the rear + front wheel pair of a two-axle body (``spec.params`` rear_w, front_w, r, rim)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import palette as P
from .palette import Colour
from .pen import Pen

TYRE: Colour = (22, 22, 24)
ARCH: Colour = (12, 12, 14)
HEAD_GLOW: Colour = (255, 240, 200)
TAIL_GLOW: Colour = (255, 40, 30)


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A uniform draw in [lo, hi) as a plain float."""
    return float(rng.uniform(lo, hi))


def wheel(pen: Pen, x: float, r: float, rim: Colour, phase: float, spokes: int = 5) -> None:
    """A car/bus/truck wheel: dark arch, tyre, solid rim with a few thick cast spokes."""
    pen.ellipse(x, r, r * 1.13, r * 1.13, ARCH)
    pen.ellipse(x, r, r, r, TYRE)
    pen.ellipse(x, r, r * 0.62, r * 0.62, rim)
    dark = P.shade(rim, 0.55)
    for i in range(spokes):
        a = phase + 2 * np.pi * i / spokes
        pen.line(
            [
                (x + 0.18 * r * np.cos(a), r + 0.18 * r * np.sin(a)),
                (x + 0.55 * r * np.cos(a), r + 0.55 * r * np.sin(a)),
            ],
            0.1 * r,
            dark,
        )
    pen.ellipse(x, r, r * 0.2, r * 0.2, dark)


def axle_wheels(pen: Pen, p: dict[str, Any], phase: float) -> None:
    """The rear and front wheel of a car or van (their rims turn with ``phase`` / r)."""
    L, r = p["L"], p["r"]
    ph = phase / r
    wheel(pen, p["rear_w"] * L, r, p["rim"], ph)
    wheel(pen, p["front_w"] * L, r, p["rim"], ph)
