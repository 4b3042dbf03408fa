"""Cars, taxis, police cars, vans, buses and trucks (side view, facing right).

Taxi and police share the car body and palette; they differ only by small details
(roof sign / checker stripe; thin light bar / door stripe). Vans differ from cars by the
tall box body, buses from trucks by the window row and the wheel count (2 vs 3-4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import palette as P
from .palette import Colour
from .pen import Pen
from .spec import Spec

TYRE: Colour = (22, 22, 24)
ARCH: Colour = (12, 12, 14)
HEAD_GLOW: Colour = (255, 240, 200)
TAIL_GLOW: Colour = (255, 40, 30)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _wheel(pen: Pen, x: float, r: float, rim: Colour, phase: float, spokes: int = 5) -> None:
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


# --------------------------------------------------------------------------- cars
def sample_car(rng: np.random.Generator, name: str) -> Spec:
    """Sedan / hatchback / SUV; ``name`` in car, taxi, police adds the class details."""
    style = str(rng.choice(["sedan", "hatch", "suv", "wagon"], p=[0.4, 0.25, 0.25, 0.1]))
    length = _u(rng, 3.7, 4.4) if style == "hatch" else _u(rng, 4.2, 5.0)
    suv = style == "suv"
    p: dict = {
        "style": style,
        "L": length,
        "r": _u(rng, 0.33, 0.38) if suv else _u(rng, 0.29, 0.34),
        "bottom": _u(rng, 0.3, 0.38) if suv else _u(rng, 0.2, 0.28),
        "belt": _u(rng, 0.98, 1.08) if suv else _u(rng, 0.8, 0.93),
        "roof": _u(rng, 1.6, 1.8) if suv else _u(rng, 1.36, 1.5),
        "rear_w": _u(rng, 0.16, 0.2),
        "front_w": _u(rng, 0.79, 0.83),
        "c0": {
            "sedan": _u(rng, 0.14, 0.2),
            "hatch": _u(rng, 0.02, 0.06),
            "suv": _u(rng, 0.02, 0.05),
            "wagon": _u(rng, 0.02, 0.05),
        }[style],
        "c1": _u(rng, 0.66, 0.74),
        "rake_r": {
            "sedan": _u(rng, 0.12, 0.18),
            "hatch": _u(rng, 0.06, 0.12),
            "suv": _u(rng, 0.02, 0.05),
            "wagon": _u(rng, 0.02, 0.04),
        }[style],
        "rake_f": _u(rng, 0.1, 0.14) if suv else _u(rng, 0.14, 0.2),
        "nose": _u(rng, 0.12, 0.22),
        "body": P.jitter(rng, P.pick_weighted(rng, P.VEHICLE_COLOURS), 8),
        "glass": P.jitter(rng, P.pick(rng, P.GLASS), 6),
        "rim": P.pick(rng, [(175, 175, 180), (120, 120, 125), (60, 60, 62), (200, 200, 205)]),
        "bumper": bool(rng.random() < 0.5),
        "pillar_dark": bool(rng.random() < 0.4),
    }
    extra = 0.0
    if name == "taxi":
        w = _u(rng, 0.4, 0.7)
        p["sign"] = {
            "w": w,
            "h": _u(rng, 0.16, 0.26),
            "pos": _u(rng, 0.4, 0.6),
            "colour": P.pick(rng, [(250, 215, 40), (245, 245, 240), (240, 150, 30), (40, 40, 40)]),
            "text": P.pick(rng, [(30, 30, 30), (200, 30, 30), (30, 30, 120)]),
        }
        p["checker"] = bool(rng.random() < 0.5)
        p["checker_sq"] = _u(rng, 0.07, 0.11)
        extra = 0.3
    elif name == "police":
        p["bar"] = {
            "w": _u(rng, 0.8, 1.25),
            "h": _u(rng, 0.07, 0.11),
            "pos": _u(rng, 0.4, 0.6),
            "segments": int(rng.choice([2, 4, 6])),
            "colours": [(220, 25, 25), (30, 60, 230)]
            if rng.random() < 0.8
            else [(30, 60, 230), (30, 60, 230)],
        }
        body = p["body"]
        p["stripe"] = {
            "y": _u(rng, 0.45, 0.7),
            "h": _u(rng, 0.05, 0.1),
            "colour": P.contrast_colour(body)
            if rng.random() < 0.7
            else P.pick(rng, [(230, 200, 30), (30, 60, 200), (200, 30, 30)]),
            "checks": bool(rng.random() < 0.3),
        }
        p["pushbar"] = bool(rng.random() < 0.35)
        extra = 0.15
    return Spec(
        name=name, xmin=0.0, xmax=length, height=p["roof"] + extra, anchor_x=length / 2.0, params=p
    )


def draw_car(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    L, r, bot, belt, roof = p["L"], p["r"], p["bottom"], p["belt"], p["roof"]
    c0, c1 = p["c0"] * L, p["c1"] * L
    r0, r1 = c0 + p["rake_r"] * L, c1 - p["rake_f"] * L
    nose = belt - p["nose"]
    body: Colour = p["body"]
    dark = P.shade(body, 0.72)
    pen.poly(
        [
            (0.0, bot + 0.05),
            (0.0, belt - 0.1),
            (0.03 * L, belt),
            (c0, belt + 0.02),
            (r0, roof),
            (r1, roof),
            (c1, belt + 0.02),
            (0.95 * L, nose),
            (L, nose - 0.1),
            (L, bot + 0.08),
            (0.97 * L, bot),
            (0.03 * L, bot),
        ],
        body,
    )
    pen.poly(
        [
            (0.0, bot + 0.05),
            (0.03 * L, bot),
            (0.97 * L, bot),
            (L, bot + 0.08),
            (L, bot + 0.2),
            (0.0, bot + 0.2),
        ],
        dark,
    )
    pen.line(
        [(0.04 * L, belt - 0.04), (c1, belt - 0.02), (0.93 * L, nose - 0.03)],
        0.025,
        P.shade(body, 1.18),
    )
    # windows split by the B pillar (and a C pillar on hatch / SUV / wagon)
    g: Colour = p["glass"]
    inset = 0.05
    win = [
        (c0 + 0.06 * L, belt + 0.04),
        (r0 + 0.02 * L, roof - inset),
        (r1 - 0.005 * L, roof - inset),
        (c1 - 0.04 * L, belt + 0.04),
    ]
    pen.poly(win, g)
    pen.poly(
        [
            (r0 + 0.02 * L, roof - inset),
            (r1 - 0.005 * L, roof - inset),
            (r1 - 0.03 * L, roof - inset - 0.08),
            (r0 + 0.05 * L, roof - inset - 0.08),
        ],
        P.shade(g, 1.35),
    )
    pillar = (20, 20, 22) if p["pillar_dark"] else body
    bx = 0.5 * (r0 + r1) + 0.03 * L
    pen.rect(bx - 0.05, belt, bx + 0.05, roof, pillar)
    if p["style"] != "sedan":
        cx = c0 + 0.16 * L
        pen.rect(cx - 0.06, belt, cx + 0.06, roof, pillar)
    # doors, handles, mirror
    for x in (c1 - 0.02 * L, bx, bx - 0.27 * L):
        if x > c0 + 0.05 * L:
            pen.line([(x, belt), (x, bot + 0.12)], 0.018, dark)
    for x in (bx - 0.1 * L, c1 - 0.1 * L):
        pen.rect(x, belt - 0.12, x + 0.12, belt - 0.09, P.shade(body, 0.5))
    pen.ellipse(c1 - 0.03 * L, belt + 0.06, 0.07, 0.05, P.shade(body, 0.8))
    # lights and bumpers
    pen.light_rect(0.975 * L, nose - 0.2, L, nose - 0.1, (250, 245, 215), HEAD_GLOW)
    pen.light_rect(0.0, belt - 0.24, 0.02 * L, belt - 0.1, (200, 20, 25), TAIL_GLOW)
    if p["bumper"]:
        pen.rect(0.0, bot + 0.05, 0.06 * L, bot + 0.16, (40, 40, 42))
        pen.rect(0.94 * L, bot + 0.05, L, bot + 0.16, (40, 40, 42))
    # class details
    if "sign" in p:
        s = p["sign"]
        x = r0 + s["pos"] * (r1 - r0)
        pen.rect(x - 0.3 * s["w"], roof, x + 0.3 * s["w"], roof + 0.04, (30, 30, 30))
        pen.light_poly(
            [
                (x - s["w"] / 2, roof + 0.03),
                (x - s["w"] / 2 + 0.04, roof + s["h"]),
                (x + s["w"] / 2 - 0.04, roof + s["h"]),
                (x + s["w"] / 2, roof + 0.03),
            ],
            s["colour"],
            (255, 230, 150),
        )
        pen.rect(
            x - 0.3 * s["w"], roof + 0.35 * s["h"], x + 0.3 * s["w"], roof + 0.7 * s["h"], s["text"]
        )
        if p["checker"]:
            sq = p["checker_sq"]
            y0 = belt - 0.2
            x0 = c0 + 0.02 * L
            i = 0
            while x0 + sq < 0.93 * L:
                for row in range(2):
                    col = (20, 20, 20) if (i + row) % 2 else (240, 240, 235)
                    pen.rect(x0, y0 + row * sq, x0 + sq, y0 + (row + 1) * sq, col)
                x0 += sq
                i += 1
    if "bar" in p:
        b = p["bar"]
        x = r0 + b["pos"] * (r1 - r0)
        x0, x1 = x - b["w"] / 2, x + b["w"] / 2
        pen.rect(x0 + 0.05, roof, x1 - 0.05, roof + 0.03, (25, 25, 25))
        n = b["segments"]
        for i in range(n):
            col = b["colours"][0] if (i < n // 2) else b["colours"][1]
            xa = x0 + (x1 - x0) * i / n
            xb = x0 + (x1 - x0) * (i + 1) / n
            pen.light_rect(xa, roof + 0.02, xb, roof + 0.02 + b["h"], col, P.shade(col, 1.2))
        st = p["stripe"]
        y0 = bot + st["y"] * (belt - bot)
        if st["checks"]:
            sq = st["h"]
            xq, i = 0.06 * L, 0
            while xq + sq < 0.94 * L:
                pen.rect(xq, y0, xq + sq, y0 + sq, st["colour"] if i % 2 else body)
                xq += sq
                i += 1
        else:
            pen.rect(0.04 * L, y0, 0.96 * L, y0 + st["h"], st["colour"])
        if p["pushbar"]:
            pen.rect(0.985 * L, bot + 0.05, L + 0.0, nose - 0.05, (30, 30, 30))
    ph = phase / r
    _wheel(pen, p["rear_w"] * L, r, p["rim"], ph)
    _wheel(pen, p["front_w"] * L, r, p["rim"], ph)


# --------------------------------------------------------------------------- vans
def sample_van(rng: np.random.Generator, name: str) -> Spec:
    length = _u(rng, 4.6, 5.9)
    p: dict[str, Any] = {
        "L": length,
        "H": _u(rng, 1.95, 2.6),
        "r": _u(rng, 0.32, 0.37),
        "bottom": _u(rng, 0.28, 0.36),
        "roof_front": _u(rng, 0.76, 0.84),
        "shield": _u(rng, 0.88, 0.92),
        "hood": _u(rng, 0.48, 0.58),
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
        "rear_w": _u(rng, 0.15, 0.19),
        "front_w": _u(rng, 0.8, 0.84),
    }
    return Spec(name=name, xmin=0.0, xmax=length, height=p["H"], anchor_x=length / 2, params=p)


def draw_van(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    L, H, r, bot = p["L"], p["H"], p["r"], p["bottom"]
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
    ph = phase / r
    _wheel(pen, p["rear_w"] * L, r, p["rim"], ph)
    _wheel(pen, p["front_w"] * L, r, p["rim"], ph)


# --------------------------------------------------------------------------- buses
def sample_bus(rng: np.random.Generator, name: str) -> Spec:
    length = _u(rng, 9.0, 13.0)
    p: dict[str, Any] = {
        "L": length,
        "H": _u(rng, 2.9, 3.3),
        "r": _u(rng, 0.46, 0.52),
        "bottom": _u(rng, 0.3, 0.4),
        "pitch": _u(rng, 1.1, 1.6),
        "pillar": _u(rng, 0.1, 0.2),
        "win_lo": _u(rng, 0.5, 0.56),
        "win_hi": _u(rng, 0.84, 0.9),
        "body": P.jitter(rng, P.pick(rng, P.BUS_COLOURS), 8),
        "glass": P.jitter(rng, P.pick(rng, P.GLASS), 6),
        "stripe": P.pick(rng, P.BUS_COLOURS) if rng.random() < 0.5 else None,
        "middle_door": bool(rng.random() < 0.7),
        "ac": bool(rng.random() < 0.5),
        "rim": P.pick(rng, [(150, 150, 155), (60, 60, 62), (200, 200, 205)]),
    }
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
        _wheel(pen, xw, r, p["rim"], ph, spokes=8)


# --------------------------------------------------------------------------- trucks
def sample_truck(rng: np.random.Generator, name: str) -> Spec:
    length = _u(rng, 7.0, 11.5)
    box_h = _u(rng, 3.3, 3.9)
    p: dict[str, Any] = {
        "L": length,
        "cab": _u(rng, 2.0, 2.4),
        "cab_h": _u(rng, 2.7, 3.1),
        "box_h": box_h,
        "box_bot": _u(rng, 1.0, 1.25),
        "r": _u(rng, 0.46, 0.52),
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
        "rib_pitch": _u(rng, 0.5, 0.9),
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
    _wheel(pen, L - 0.55 * cab, r, p["rim"], ph, spokes=8)
    x = 0.16 * L + r
    for _ in range(p["rear_axles"]):
        _wheel(pen, x, r, p["rim"], ph, spokes=8)
        x += 2.15 * r
