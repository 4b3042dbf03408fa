"""Cars, taxis and police cars (side view, facing right).

Taxi and police share the car body and palette; they differ only by small details
(roof sign / checker stripe; thin light bar / door stripe).
"""

from __future__ import annotations

import numpy as np

from . import palette as P
from .palette import Colour
from .pen import Pen
from .spec import Spec
from .vehicle_parts import HEAD_GLOW, TAIL_GLOW, axle_wheels, uniform


# --------------------------------------------------------------------------- cars
def sample_car(rng: np.random.Generator, name: str) -> Spec:
    """Sedan / hatchback / SUV; ``name`` in car, taxi, police adds the class details."""
    style = str(rng.choice(["sedan", "hatch", "suv", "wagon"], p=[0.4, 0.25, 0.25, 0.1]))
    length = uniform(rng, 3.7, 4.4) if style == "hatch" else uniform(rng, 4.2, 5.0)
    suv = style == "suv"
    p: dict = {
        "style": style,
        "L": length,
        "r": uniform(rng, 0.33, 0.38) if suv else uniform(rng, 0.29, 0.34),
        "bottom": uniform(rng, 0.3, 0.38) if suv else uniform(rng, 0.2, 0.28),
        "belt": uniform(rng, 0.98, 1.08) if suv else uniform(rng, 0.8, 0.93),
        "roof": uniform(rng, 1.6, 1.8) if suv else uniform(rng, 1.36, 1.5),
        "rear_w": uniform(rng, 0.16, 0.2),
        "front_w": uniform(rng, 0.79, 0.83),
        "c0": {
            "sedan": uniform(rng, 0.14, 0.2),
            "hatch": uniform(rng, 0.02, 0.06),
            "suv": uniform(rng, 0.02, 0.05),
            "wagon": uniform(rng, 0.02, 0.05),
        }[style],
        "c1": uniform(rng, 0.66, 0.74),
        "rake_r": {
            "sedan": uniform(rng, 0.12, 0.18),
            "hatch": uniform(rng, 0.06, 0.12),
            "suv": uniform(rng, 0.02, 0.05),
            "wagon": uniform(rng, 0.02, 0.04),
        }[style],
        "rake_f": uniform(rng, 0.1, 0.14) if suv else uniform(rng, 0.14, 0.2),
        "nose": uniform(rng, 0.12, 0.22),
        "body": P.jitter(rng, P.pick_weighted(rng, P.VEHICLE_COLOURS), 8),
        "glass": P.jitter(rng, P.pick(rng, P.GLASS), 6),
        "rim": P.pick(rng, [(175, 175, 180), (120, 120, 125), (60, 60, 62), (200, 200, 205)]),
        "bumper": bool(rng.random() < 0.5),
        "pillar_dark": bool(rng.random() < 0.4),
    }
    extra = 0.0
    if name == "taxi":
        w = uniform(rng, 0.4, 0.7)
        p["sign"] = {
            "w": w,
            "h": uniform(rng, 0.16, 0.26),
            "pos": uniform(rng, 0.4, 0.6),
            "colour": P.pick(rng, [(250, 215, 40), (245, 245, 240), (240, 150, 30), (40, 40, 40)]),
            "text": P.pick(rng, [(30, 30, 30), (200, 30, 30), (30, 30, 120)]),
        }
        p["checker"] = bool(rng.random() < 0.5)
        p["checker_sq"] = uniform(rng, 0.07, 0.11)
        extra = 0.3
    elif name == "police":
        p["bar"] = {
            "w": uniform(rng, 0.8, 1.25),
            "h": uniform(rng, 0.07, 0.11),
            "pos": uniform(rng, 0.4, 0.6),
            "segments": int(rng.choice([2, 4, 6])),
            "colours": [(220, 25, 25), (30, 60, 230)]
            if rng.random() < 0.8
            else [(30, 60, 230), (30, 60, 230)],
        }
        body = p["body"]
        p["stripe"] = {
            "y": uniform(rng, 0.45, 0.7),
            "h": uniform(rng, 0.05, 0.1),
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
    L, bot, belt, roof = p["L"], p["bottom"], p["belt"], p["roof"]
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
    axle_wheels(pen, p, phase)
