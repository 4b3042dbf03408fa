"""Colour palettes (sRGB, 0-255) and small colour helpers."""

from __future__ import annotations

import numpy as np

Colour = tuple[int, int, int]

#: Vehicle body colours with rough real-world frequencies. Car, taxi and police share this
#: palette on purpose: the classes must be told apart by details, not by body colour.
VEHICLE_COLOURS: list[tuple[Colour, float]] = [
    ((235, 235, 232), 0.20),
    ((25, 25, 28), 0.16),
    ((160, 163, 168), 0.14),
    ((100, 102, 108), 0.10),
    ((170, 30, 30), 0.07),
    ((30, 55, 130), 0.08),
    ((20, 30, 60), 0.04),
    ((40, 90, 55), 0.03),
    ((225, 185, 30), 0.05),
    ((200, 185, 150), 0.04),
    ((110, 70, 45), 0.03),
    ((220, 110, 30), 0.03),
    ((120, 160, 200), 0.03),
]
BUS_COLOURS: list[Colour] = [
    (235, 235, 230),
    (200, 35, 35),
    (230, 190, 30),
    (40, 90, 170),
    (40, 130, 70),
    (230, 120, 30),
    (150, 150, 155),
    (90, 30, 110),
]
GLASS: list[Colour] = [(40, 50, 60), (55, 70, 85), (30, 35, 45), (70, 85, 100), (50, 60, 55)]
SKIN: list[Colour] = [
    (240, 200, 170),
    (225, 180, 140),
    (190, 140, 100),
    (150, 100, 70),
    (110, 75, 50),
    (80, 55, 40),
]
HAIR: list[Colour] = [
    (20, 18, 16),
    (60, 40, 25),
    (110, 80, 45),
    (190, 160, 100),
    (150, 150, 150),
    (120, 50, 30),
]
CLOTHES: list[Colour] = [
    (30, 30, 35),
    (60, 60, 65),
    (200, 200, 200),
    (240, 240, 240),
    (30, 50, 100),
    (60, 90, 160),
    (150, 30, 30),
    (200, 60, 80),
    (40, 100, 60),
    (120, 110, 70),
    (190, 160, 110),
    (230, 200, 40),
    (220, 120, 40),
    (100, 60, 120),
    (90, 60, 40),
    (70, 120, 140),
]
BUILDING: list[Colour] = [
    (170, 80, 60),
    (190, 170, 140),
    (150, 150, 150),
    (210, 205, 195),
    (120, 115, 110),
    (200, 180, 120),
    (130, 90, 70),
    (90, 95, 105),
    (220, 215, 205),
    (160, 120, 100),
]
FOLIAGE: list[Colour] = [(50, 90, 40), (70, 110, 50), (40, 75, 45), (90, 120, 60), (60, 85, 35)]


def pick(rng: np.random.Generator, colours: list[Colour]) -> Colour:
    """Uniformly pick one colour."""
    return colours[int(rng.integers(len(colours)))]


def pick_weighted(rng: np.random.Generator, table: list[tuple[Colour, float]]) -> Colour:
    """Pick a colour from a (colour, weight) table."""
    weights = np.array([w for _, w in table])
    return table[int(rng.choice(len(table), p=weights / weights.sum()))][0]


def jitter(rng: np.random.Generator, colour: Colour, amount: float = 12.0) -> Colour:
    """Add a small random offset to each channel."""
    c = np.asarray(colour, dtype=np.float64) + rng.normal(0.0, amount, 3)
    red, green, blue = (int(v) for v in np.clip(c, 0, 255))
    return red, green, blue


def shade(colour: Colour, factor: float) -> Colour:
    """Multiply a colour by ``factor`` (darker < 1 < lighter), clipped to 0-255."""
    red, green, blue = (int(min(255, max(0, round(v * factor)))) for v in colour)
    return red, green, blue


def mix(a: Colour, b: Colour, t: float) -> Colour:
    """Linear blend ``a*(1-t) + b*t``."""
    red, green, blue = (int(round(x * (1 - t) + y * t)) for x, y in zip(a, b, strict=True))
    return red, green, blue


def contrast_colour(colour: Colour) -> Colour:
    """White on dark colours, dark blue on light ones."""
    return (240, 240, 240) if sum(colour) < 380 else (25, 45, 120)
