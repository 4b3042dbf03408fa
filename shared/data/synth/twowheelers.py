"""Motorcycles and bicycles (side view, facing right), optionally with a rider.

Motorcycles have solid wheels (thick tyre + cast disc), an engine block and a tank;
bicycles have thin tyres with many sub-pixel spokes and a thin tube frame. At low
resolution or after lossy compression the difference fades to faint texture.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import palette as P
from .palette import Colour
from .pen import Pen, Point
from .people import Figure, draw_figure, sample_figure
from .spec import Spec
from .vehicle_parts import HEAD_GLOW, TAIL_GLOW

TYRE: Colour = (20, 20, 22)


def _size_and_rider(
    rng: np.random.Generator, length: tuple[float, float], wheel: tuple[float, float]
) -> tuple[dict[str, Any], bool]:
    """What a motorcycle and a bicycle draw first, in this order: its length L, whether it
    has a rider (60 %), its wheel radius r."""
    L = float(rng.uniform(*length))
    rider = bool(rng.random() < 0.6)
    return {"L": L, "r": float(rng.uniform(*wheel))}, rider


def _spec(name: str, p: dict[str, Any], bare_height: float, saddle: float) -> Spec:
    """A two-wheeler ``p["L"]`` long: ``bare_height`` high without a rider, else up to the
    head of its rider sitting at ``saddle``."""
    length = p["L"]
    rider: Figure | None = p["rider"]
    height = bare_height if rider is None else saddle + 0.93 * rider.s
    return Spec(name=name, xmin=0.0, xmax=length, height=height, anchor_x=length / 2, params=p)


def _wheel_centres(p: dict[str, Any], inset: float) -> tuple[float, float, Point, Point]:
    """Length L, wheel radius r and the rear / front wheel centres, ``inset`` in from the
    ends."""
    L, r = p["L"], p["r"]
    return L, r, (r + inset, r), (L - r - inset, r)


def sample_motorcycle(rng: np.random.Generator, name: str) -> Spec:
    size, rider = _size_and_rider(rng, (1.95, 2.3), (0.29, 0.33))
    p = size | {
        "body": P.jitter(rng, P.pick_weighted(rng, P.VEHICLE_COLOURS), 10),
        "engine": P.pick(rng, [(70, 70, 75), (140, 140, 145), (40, 40, 42), (170, 170, 175)]),
        "disc": P.pick(rng, [(40, 40, 42), (90, 90, 95), (150, 150, 155), (25, 25, 25)]),
        "fairing": bool(rng.random() < 0.4),
        "rider": sample_figure(rng, helmet_p=1.0) if rider else None,
        "lean": float(rng.uniform(0.15, 0.5)),
    }
    return _spec(name, p, bare_height=1.15, saddle=0.95)


def draw_motorcycle(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    L, r, rear, front = _wheel_centres(p, inset=0.02)
    body: Colour = p["body"]
    rider: Figure | None = p["rider"]
    # swingarm, exhaust, engine block with cooling fins
    pen.line([rear, (0.42 * L, 0.45)], 0.06, (40, 40, 42))
    pen.line([(0.5 * L, 0.3), (0.25 * L, 0.33), (0.03 * L, 0.45)], 0.08, (190, 190, 195))
    eng = p["engine"]
    pen.poly([(0.38 * L, 0.22), (0.63 * L, 0.22), (0.68 * L, 0.62), (0.4 * L, 0.64)], eng)
    for i in range(4):
        y = 0.32 + 0.07 * i
        pen.line([(0.42 * L, y), (0.64 * L, y)], 0.02, P.shade(eng, 1.4))
    # tail, seat, tank, fork, handlebar, headlight
    pen.poly([(0.03 * L, 0.78), (0.3 * L, 0.72), (0.35 * L, 0.82), (0.08 * L, 0.88)], body)
    pen.poly([(0.18 * L, 0.84), (0.5 * L, 0.8), (0.5 * L, 0.9), (0.22 * L, 0.92)], (25, 25, 25))
    pen.ellipse(0.6 * L, 0.86, 0.14 * L, 0.11, body)
    pen.line([front, (0.8 * L, 1.08)], 0.07, (170, 170, 175))
    pen.line([(0.8 * L, 1.08), (0.74 * L, 1.13)], 0.04, (20, 20, 20))
    if p["fairing"]:
        pen.poly([(0.68 * L, 0.55), (0.95 * L, 0.7), (0.9 * L, 1.1), (0.7 * L, 0.95)], body)
    pen.light_ellipse(0.88 * L, 0.95, 0.05, 0.06, (250, 245, 215), HEAD_GLOW)
    pen.light_rect(0.02 * L, 0.8, 0.05 * L, 0.86, (200, 20, 25), TAIL_GLOW)
    # solid wheels
    for cx, cy in (rear, front):
        pen.ellipse(cx, cy, r, r, TYRE)
        pen.ellipse(cx, cy, 0.72 * r, 0.72 * r, p["disc"])
        for i in range(3):
            a = phase / r + 2 * math.pi * i / 3
            pen.line(
                [(cx, cy), (cx + 0.7 * r * math.cos(a), cy + 0.7 * r * math.sin(a))],
                0.05,
                P.shade(p["disc"], 0.6),
            )
        pen.ellipse(cx, cy, 0.18 * r, 0.18 * r, (170, 170, 175))
    if rider is not None:
        hip = (0.36 * L, 0.95)
        draw_figure(
            pen,
            rider,
            hip,
            p["lean"],
            ((0.48 * L, 0.42), (0.5 * L, 0.42)),
            ((0.74 * L, 1.12), (0.76 * L, 1.12)),
        )


def sample_bicycle(rng: np.random.Generator, name: str) -> Spec:
    size, rider = _size_and_rider(rng, (1.65, 1.85), (0.32, 0.36))
    p = size | {
        "frame": P.jitter(rng, P.pick(rng, P.CLOTHES + [(200, 200, 205)]), 10),
        "spokes": int(rng.choice([12, 16, 18])),
        "tyre": float(rng.uniform(0.03, 0.045)),
        "rider": sample_figure(rng, helmet_p=0.35) if rider else None,
        "lean": float(rng.uniform(0.0, 0.4)),
        "basket": bool(rng.random() < 0.15),
    }
    return _spec(name, p, bare_height=1.05, saddle=0.96)


def draw_bicycle(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    L, r, rear, front = _wheel_centres(p, inset=0.01)
    frame: Colour = p["frame"]
    # thin wheels with many spokes
    for cx, cy in (rear, front):
        for i in range(p["spokes"]):
            a = phase / r + 2 * math.pi * i / p["spokes"]
            pen.line(
                [(cx, cy), (cx + r * math.cos(a), cy + r * math.sin(a))], 0.006, (150, 150, 155)
            )
        pen.ellipse(cx, cy, r, r, None, outline=TYRE, width=p["tyre"])
        pen.ellipse(
            cx, cy, r - p["tyre"], r - p["tyre"], None, outline=(170, 170, 175), width=0.012
        )
        pen.ellipse(cx, cy, 0.04, 0.04, (120, 120, 125))
    bb = (0.46 * L, 0.3)
    seat = (0.36 * L, 0.88)
    head_top, head_bot = (0.78 * L, 0.92), (0.8 * L, 0.78)
    w = 0.035
    for a, b in (
        (bb, seat),
        (seat, head_top),
        (bb, head_bot),
        (rear, bb),
        (rear, seat),
        (head_bot, front),
        (head_top, head_bot),
    ):
        pen.line([a, b], w, frame)
    pen.poly(
        [
            (seat[0] - 0.12, seat[1] + 0.05),
            (seat[0] + 0.1, seat[1] + 0.07),
            (seat[0] + 0.08, seat[1] + 0.02),
            (seat[0] - 0.1, seat[1] + 0.01),
        ],
        (25, 25, 25),
    )
    pen.line([head_top, (0.74 * L, 1.0)], 0.03, (30, 30, 30))
    crank = 0.17
    ca = phase / r
    pedal = (bb[0] + crank * math.cos(ca), bb[1] + crank * math.sin(ca))
    pedal2 = (bb[0] - crank * math.cos(ca), bb[1] - crank * math.sin(ca))
    pen.line([pedal2, pedal], 0.025, (60, 60, 62))
    pen.ellipse(bb[0], bb[1], 0.06, 0.06, None, outline=(60, 60, 62), width=0.015)
    if p["basket"]:
        pen.rect(0.82 * L, 0.8, 0.98 * L, 0.98, (120, 90, 50))
    rider: Figure | None = p["rider"]
    if rider is not None:
        hip = (seat[0] - 0.02, seat[1] + 0.08)
        draw_figure(pen, rider, hip, p["lean"], (pedal2, pedal), ((0.73 * L, 1.0), (0.75 * L, 1.0)))
