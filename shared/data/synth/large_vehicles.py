"""Vans, buses and trucks (side view, facing right).

Vans differ from cars by the tall box body, buses from trucks by the window row and the wheel
count (2 vs 3-4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import palette as P
from .palette import Colour
from .pen import Pen
from .spec import Spec
from .vehicle_parts import HEAD_GLOW, TAIL_GLOW, axle_wheels, uniform, wheel

Range = tuple[float, float]


def _box_body(
    rng: np.random.Generator, length: Range, height: Range, wheel: Range, bottom: Range
) -> dict[str, Any]:
    """What a van and a bus draw first, in this order: length L, height H, wheel radius r and
    the body's bottom edge, each uniform in its range."""
    return {
        "L": uniform(rng, *length),
        "H": uniform(rng, *height),
        "r": uniform(rng, *wheel),
        "bottom": uniform(rng, *bottom),
    }


# --------------------------------------------------------------------------- vans
def sample_van(rng: np.random.Generator, name: str) -> Spec:
    p = _box_body(rng, (4.6, 5.9), (1.95, 2.6), (0.32, 0.37), (0.28, 0.36)) | {
        "roof_front": uniform(rng, 0.76, 0.84),
        "shield": uniform(rng, 0.88, 0.92),
        "hood": uniform(rng, 0.48, 0.58),
        "passenger": bool(rng.random() < 0.45),
        "n_windows": int(rng.integers(2, 4)),
        "body": P.jitter(
            rng,
            P.pick_weighted(rng, P.VEHICLE_COLOURS[:6]) if rng.random() < 0.6 else (240, 240, 238),
            8,
        ),
        "glass": P.jitter(rng, P.pick(rng, P.GLASS), 6),
        "rim": P.pick(rng, [(150, 150, 155), (60, 60, 62), (200, 200, 205)]),
        "logo": P.pick(rng, P.CLOTHES) if rng.random() < 0.35 else None,
        "rear_w": uniform(rng, 0.15, 0.19),
        "front_w": uniform(rng, 0.8, 0.84),
    }
    length = p["L"]
    return Spec(name=name, xmin=0.0, xmax=length, height=p["H"], anchor_x=length / 2, params=p)


def draw_van(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    L, H, bot = p["L"], p["H"], p["bottom"]
    body: Colour = p["body"]
    dark = P.shade(body, 0.72)
    rf, sh, hood = p["roof_front"] * L, p["shield"] * L, p["hood"] * H
    pen.poly(
        [
            (0.0, bot),
            (0.0, H - 0.06),
            (0.03 * L, H),
            (rf, H),
            (sh, hood + 0.15 * H),
            (0.985 * L, hood),
            (L, hood - 0.08),
            (L, bot + 0.06),
            (0.98 * L, bot),
        ],
        body,
    )
    pen.poly([(0.0, bot), (L, bot), (L, bot + 0.18), (0.0, bot + 0.18)], dark)
    g: Colour = p["glass"]
    # cab side window
    xw = rf - 0.14 * L
    pen.poly(
        [
            (xw, 0.6 * H),
            (xw, 0.9 * H),
            (rf - 0.02 * L, 0.9 * H),
            (sh - 0.03 * L, hood + 0.2 * H),
            (sh - 0.05 * L, 0.6 * H),
        ],
        g,
    )
    pen.line([(xw - 0.02 * L, 0.95 * H), (xw - 0.02 * L, bot + 0.15)], 0.02, dark)
    if p["passenger"]:
        n = p["n_windows"]
        span = (xw - 0.08 * L) - 0.05 * L
        wdt = span / n
        for i in range(n):
            x0 = 0.05 * L + i * wdt
            pen.rect(x0 + 0.05, 0.6 * H, x0 + wdt - 0.05, 0.88 * H, g)
    elif p["logo"] is not None:
        pen.rect(0.12 * L, 0.45 * H, 0.55 * L, 0.7 * H, p["logo"])
    # sliding door + track
    pen.line([(0.42 * L, 0.92 * H), (0.42 * L, bot + 0.15)], 0.02, dark)
    pen.line([(0.42 * L, 0.55 * H), (xw - 0.04 * L, 0.55 * H)], 0.025, dark)
    pen.rect(0.44 * L, 0.5 * H, 0.44 * L + 0.15, 0.5 * H + 0.04, P.shade(body, 0.5))
    pen.light_rect(L - 0.04, hood - 0.2, L, hood - 0.08, (250, 245, 215), HEAD_GLOW)
    pen.light_rect(0.0, 0.35 * H, 0.025, 0.6 * H, (200, 20, 25), TAIL_GLOW)
    axle_wheels(pen, p, phase)


# --------------------------------------------------------------------------- buses
def sample_bus(rng: np.random.Generator, name: str) -> Spec:
    p = _box_body(rng, (9.0, 13.0), (2.9, 3.3), (0.46, 0.52), (0.3, 0.4)) | {
        "pitch": uniform(rng, 1.1, 1.6),
        "pillar": uniform(rng, 0.1, 0.2),
        "win_lo": uniform(rng, 0.5, 0.56),
        "win_hi": uniform(rng, 0.84, 0.9),
        "body": P.jitter(rng, P.pick(rng, P.BUS_COLOURS), 8),
        "glass": P.jitter(rng, P.pick(rng, P.GLASS), 6),
        "stripe": P.pick(rng, P.BUS_COLOURS) if rng.random() < 0.5 else None,
        "middle_door": bool(rng.random() < 0.7),
        "ac": bool(rng.random() < 0.5),
        "rim": P.pick(rng, [(150, 150, 155), (60, 60, 62), (200, 200, 205)]),
    }
    length = p["L"]
    return Spec(
        name=name,
        xmin=0.0,
        xmax=length,
        height=p["H"] + (0.25 if p["ac"] else 0.0),
        anchor_x=length / 2,
        params=p,
    )


def draw_bus(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    L, H, r, bot = p["L"], p["H"], p["r"], p["bottom"]
    body: Colour = p["body"]
    dark = P.shade(body, 0.7)
    pen.poly(
        [
            (0.0, bot),
            (0.0, H - 0.15),
            (0.02 * L, H),
            (0.985 * L, H),
            (L, H - 0.25),
            (L, bot + 0.05),
            (0.99 * L, bot),
        ],
        body,
    )
    pen.rect(0.0, bot, L, bot + 0.25, dark)
    if p["ac"]:
        pen.rect(0.3 * L, H - 0.02, 0.55 * L, H + 0.22, P.shade(body, 0.9))
    if p["stripe"] is not None:
        pen.rect(0.0, p["win_lo"] * H - 0.22, L, p["win_lo"] * H - 0.1, p["stripe"])
    g: Colour = p["glass"]
    lo, hi = p["win_lo"] * H, p["win_hi"] * H
    pen.rect(0.03 * L, lo, L - 0.05, hi, g)
    x = 0.03 * L + p["pitch"]
    while x < L - 0.6:
        pen.rect(x - p["pillar"] / 2, lo, x + p["pillar"] / 2, hi, body)
        x += p["pitch"]
    pen.rect(0.03 * L, hi - 0.05, L - 0.05, hi - 0.02, P.shade(g, 1.4))
    # doors: front and middle
    doors = [L - 1.6]
    if p["middle_door"]:
        doors.append(0.5 * L - 0.6)
    for d0 in doors:
        pen.rect(d0, bot + 0.12, d0 + 1.1, hi, P.shade(g, 0.85))
        pen.line([(d0 + 0.55, bot + 0.12), (d0 + 0.55, hi)], 0.04, (20, 20, 20))
        pen.rect(d0 - 0.03, bot + 0.1, d0 + 1.13, bot + 0.14, (30, 30, 30))
    pen.light_rect(0.75 * L, hi + 0.02, 0.97 * L, H - 0.06, (30, 30, 30), (255, 170, 40))
    pen.rect(0.77 * L, hi + 0.06, 0.95 * L, H - 0.1, (230, 150, 30))
    pen.light_rect(L - 0.05, bot + 0.3, L, bot + 0.5, (250, 245, 215), HEAD_GLOW)
    pen.light_rect(0.0, bot + 0.3, 0.04, bot + 0.7, (200, 20, 25), TAIL_GLOW)
    ph = phase / r
    for xw in (0.2 * L, 0.8 * L - 0.3):
        wheel(pen, xw, r, p["rim"], ph, spokes=8)


# --------------------------------------------------------------------------- trucks
def sample_truck(rng: np.random.Generator, name: str) -> Spec:
    length = uniform(rng, 7.0, 11.5)
    box_h = uniform(rng, 3.3, 3.9)
    p: dict[str, Any] = {
        "L": length,
        "cab": uniform(rng, 2.0, 2.4),
        "cab_h": uniform(rng, 2.7, 3.1),
        "box_h": box_h,
        "box_bot": uniform(rng, 1.0, 1.25),
        "r": uniform(rng, 0.46, 0.52),
        "rear_axles": int(rng.choice([2, 3], p=[0.7, 0.3])),
        "box": P.jitter(
            rng,
            P.pick(
                rng,
                [
                    (235, 235, 232),
                    (200, 200, 200),
                    (170, 30, 30),
                    (30, 60, 140),
                    (230, 190, 40),
                    (60, 110, 60),
                    (150, 150, 150),
                ],
            ),
            8,
        ),
        "cab_col": P.jitter(rng, P.pick(rng, P.BUS_COLOURS + [(25, 25, 28)]), 8),
        "glass": P.jitter(rng, P.pick(rng, P.GLASS), 6),
        "ribs": bool(rng.random() < 0.5),
        "rib_pitch": uniform(rng, 0.5, 0.9),
        "logo": P.pick(rng, P.CLOTHES) if rng.random() < 0.4 else None,
        "tanker": bool(rng.random() < 0.15),
        "rim": P.pick(rng, [(150, 150, 155), (60, 60, 62), (200, 200, 205)]),
    }
    return Spec(name=name, xmin=0.0, xmax=length, height=box_h, anchor_x=length / 2, params=p)


def draw_truck(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    L, r, cab, cab_h = p["L"], p["r"], p["cab"], p["cab_h"]
    box_end = L - cab - 0.25
    # chassis
    pen.rect(0.1, 0.55, L - 0.3, 0.95, (35, 35, 38))
    # cargo: box or tank
    bb, bh = p["box_bot"], p["box_h"]
    box: Colour = p["box"]
    if p["tanker"]:
        pen.ellipse(box_end / 2, (bb + bh) / 2 - 0.1, box_end / 2, (bh - bb) / 2 - 0.1, box)
        pen.line([(0.2, bh - 0.35), (box_end - 0.2, bh - 0.35)], 0.04, P.shade(box, 1.2))
    else:
        pen.rect(0.0, bb, box_end, bh, box)
        pen.rect(0.0, bb, box_end, bb + 0.12, P.shade(box, 0.7))
        pen.rect(0.0, bh - 0.08, box_end, bh, P.shade(box, 0.85))
        if p["ribs"]:
            x = p["rib_pitch"]
            while x < box_end - 0.2:
                pen.line([(x, bb + 0.12), (x, bh - 0.08)], 0.03, P.shade(box, 0.85))
                x += p["rib_pitch"]
        if p["logo"] is not None:
            pen.rect(
                0.15 * box_end,
                bb + 0.4 * (bh - bb),
                0.85 * box_end,
                bb + 0.65 * (bh - bb),
                p["logo"],
            )
        pen.line([(0.04, bb + 0.1), (0.04, bh - 0.1)], 0.03, P.shade(box, 0.6))
    # cab
    cc: Colour = p["cab_col"]
    x0 = L - cab
    pen.poly(
        [
            (x0, 0.5),
            (x0, cab_h),
            (L - 0.25, cab_h),
            (L - 0.05, cab_h - 0.7),
            (L, cab_h - 0.8),
            (L, 0.5),
        ],
        cc,
    )
    pen.poly(
        [
            (x0 + 0.25 * cab, cab_h - 0.9),
            (x0 + 0.25 * cab, cab_h - 0.15),
            (L - 0.28, cab_h - 0.15),
            (L - 0.1, cab_h - 0.75),
            (L - 0.1, cab_h - 0.9),
        ],
        p["glass"],
    )
    pen.line([(x0 + 0.2 * cab, cab_h - 0.05), (x0 + 0.2 * cab, 0.6)], 0.025, P.shade(cc, 0.6))
    pen.rect(x0 + 0.3 * cab, 0.5, x0 + 0.6 * cab, 0.62, (40, 40, 40))
    pen.rect(L - 0.1, 0.5, L, 0.9, (45, 45, 45))
    pen.light_rect(L - 0.05, 0.95, L, 1.15, (250, 245, 215), HEAD_GLOW)
    pen.light_rect(0.0, 0.7, 0.06, 0.95, (200, 20, 25), TAIL_GLOW)
    ph = phase / r
    wheel(pen, L - 0.55 * cab, r, p["rim"], ph, spokes=8)
    x = 0.16 * L + r
    for _ in range(p["rear_axles"]):
        wheel(pen, x, r, p["rim"], ph, spokes=8)
        x += 2.15 * r
