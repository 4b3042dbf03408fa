"""Pedestrians, and the articulated figure also used for riders of two-wheelers.

The figure is a stick skeleton with volume: limbs are thick lines whose middle joint
(knee / elbow) is solved with two-bone inverse kinematics, so walking, standing and
riding poses come from the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import palette as P
from .palette import Colour
from .pen import Pen
from .spec import Spec

Point = tuple[float, float]


@dataclass
class Figure:
    """Body measures and colours of one person (metres, scaled by ``height``)."""

    height: float
    skin: Colour
    hair: Colour
    top: Colour
    bottom: Colour
    shoes: Colour
    helmet: Colour | None = None
    backpack: Colour | None = None
    skirt: bool = False
    coat: bool = False
    frontal: bool = False

    @property
    def s(self) -> float:
        return self.height / 1.75


def sample_figure(rng: np.random.Generator, helmet_p: float = 0.0) -> Figure:
    """Random body measures and clothes."""
    height = float(rng.uniform(1.5, 1.95))
    return Figure(
        height=height,
        skin=P.jitter(rng, P.pick(rng, P.SKIN), 6),
        hair=P.pick(rng, P.HAIR),
        top=P.jitter(rng, P.pick(rng, P.CLOTHES), 10),
        bottom=P.jitter(rng, P.pick(rng, P.CLOTHES[:8]), 8),
        shoes=P.pick(rng, [(20, 20, 20), (60, 40, 30), (230, 230, 230), (90, 90, 95)]),
        helmet=P.pick(
            rng, [(220, 30, 30), (240, 240, 240), (20, 20, 20), (40, 80, 200), (230, 200, 30)]
        )
        if rng.random() < helmet_p
        else None,
        backpack=P.pick(rng, P.CLOTHES) if rng.random() < 0.25 else None,
        skirt=bool(rng.random() < 0.15),
        coat=bool(rng.random() < 0.25),
    )


def _knee(a: Point, t: Point, l1: float, l2: float, bend: float) -> Point:
    """Middle joint of a two-bone limb from ``a`` towards ``t`` (bend: +1 forward, -1 back)."""
    dx, dy = t[0] - a[0], t[1] - a[1]
    d = max(1e-6, min(math.hypot(dx, dy), l1 + l2 - 1e-4))
    cos_a = (l1 * l1 + d * d - l2 * l2) / (2 * l1 * d)
    ang = math.atan2(dy, dx) + bend * math.acos(max(-1.0, min(1.0, cos_a)))
    return (a[0] + l1 * math.cos(ang), a[1] + l1 * math.sin(ang))


def _limb(
    pen: Pen,
    a: Point,
    t: Point,
    l1: float,
    l2: float,
    bend: float,
    width: float,
    colour: Colour,
    end: Colour | None = None,
) -> Point:
    m = _knee(a, t, l1, l2, bend)
    dx, dy = t[0] - m[0], t[1] - m[1]
    norm = max(1e-6, math.hypot(dx, dy))
    e = (m[0] + dx / norm * l2, m[1] + dy / norm * l2)
    pen.line([a, m, e], width, colour)
    if end is not None:
        pen.ellipse(e[0], e[1], width * 0.55, width * 0.5, end)
    return e


def draw_figure(
    pen: Pen,
    f: Figure,
    hip: Point,
    lean: float,
    feet: tuple[Point, Point],
    hands: tuple[Point, Point] | None,
) -> None:
    """Draw a person whose hip is at ``hip``; ``lean`` tilts the torso forward (radians).

    ``feet`` / ``hands`` are targets of the far and the near limb; ``hands=None`` lets the
    arms hang.
    """
    s = f.s
    thigh, shin = 0.45 * s, 0.44 * s
    upper, fore = 0.3 * s, 0.3 * s
    torso = 0.55 * s
    sh = (hip[0] + torso * math.sin(lean), hip[1] + torso * math.cos(lean))
    head = (sh[0] + 0.17 * s * math.sin(lean), sh[1] + 0.2 * s)
    leg_w, arm_w = 0.13 * s, 0.085 * s
    far_b, far_t = P.shade(f.bottom, 0.75), P.shade(f.top, 0.75)
    if hands is None:  # arms hanging at the sides
        side = (0.24 if f.frontal else 0.08) * s
        hands = ((sh[0] - side, sh[1] - 0.56 * s), (sh[0] + side, sh[1] - 0.56 * s))
    # far limbs first
    _limb(pen, hip, feet[0], thigh, shin, 1.0, leg_w, far_b, P.shade(f.shoes, 0.8))
    _limb(pen, sh, hands[0], upper, fore, -1.0, arm_w, far_t, P.shade(f.skin, 0.8))
    if f.backpack is not None:
        bx = sh[0] - 0.16 * s
        pen.rect(bx - 0.08 * s, sh[1] - 0.4 * s, bx + 0.06 * s, sh[1] - 0.02 * s, f.backpack)
    # torso (a tapered quad), optional coat / skirt
    half = (0.2 if f.frontal else 0.13) * s
    low = hip[1] - (0.3 * s if f.coat else 0.0)
    pen.poly(
        [
            (hip[0] - half * 0.9, low),
            (sh[0] - half, sh[1]),
            (sh[0] + half, sh[1]),
            (hip[0] + half * 0.9, low),
        ],
        f.top,
    )
    if f.skirt:
        pen.poly(
            [
                (hip[0] - 0.12 * s, hip[1] + 0.05 * s),
                (hip[0] + 0.12 * s, hip[1] + 0.05 * s),
                (hip[0] + 0.2 * s, hip[1] - 0.3 * s),
                (hip[0] - 0.2 * s, hip[1] - 0.3 * s),
            ],
            f.bottom,
        )
    pen.line([sh, (head[0], head[1] - 0.08 * s)], 0.07 * s, f.skin)
    # head (+ hair or helmet)
    hr = 0.115 * s
    pen.ellipse(head[0], head[1], hr * 0.9, hr, f.skin)
    if f.helmet is not None:
        pen.ellipse(head[0] - 0.01 * s, head[1] + 0.02 * s, hr * 1.12, hr * 1.05, f.helmet)
        pen.rect(
            head[0] + 0.02 * s,
            head[1] - 0.03 * s,
            head[0] + hr * 1.1,
            head[1] + 0.04 * s,
            (30, 30, 35),
        )
    else:
        pen.ellipse(head[0] - 0.03 * s, head[1] + 0.04 * s, hr * 0.9, hr * 0.75, f.hair)
    # near limbs
    _limb(pen, hip, feet[1], thigh, shin, 1.0, leg_w, f.bottom, f.shoes)
    _limb(pen, sh, hands[1], upper, fore, -1.0, arm_w, f.top, f.skin)


def sample_person(rng: np.random.Generator, name: str) -> Spec:
    f = sample_figure(rng)
    f.frontal = bool(rng.random() < 0.25)
    p = {
        "figure": f,
        "stride": float(rng.uniform(0.25, 0.4)),
        "phase0": float(rng.uniform(0, 6.3)),
        "walking": bool(rng.random() < 0.8),
        "lean": float(rng.uniform(-0.03, 0.1)),
    }
    return Spec(
        name=name, xmin=-0.45 * f.s, xmax=0.45 * f.s, height=f.height + 0.02, anchor_x=0.0, params=p
    )


def draw_person(pen: Pen, spec: Spec, phase: float) -> None:
    p = spec.params
    f: Figure = p["figure"]
    s = f.s
    hip = (0.0, 0.9 * s)
    st = p["stride"] * s
    ph = p["phase0"] + 2 * math.pi * phase / (4 * st)  # one gait cycle = two steps
    if p["walking"] and not f.frontal:
        feet = (
            (-st * math.sin(ph), max(0.0, 0.08 * s * math.cos(ph))),
            (st * math.sin(ph), max(0.0, -0.08 * s * math.cos(ph))),
        )
        sh_y = hip[1] + 0.55 * s
        sw = 0.2 * s
        hands = (
            (sw * math.sin(ph) + 0.03, sh_y - 0.56 * s),
            (-sw * math.sin(ph) + 0.03, sh_y - 0.56 * s),
        )
    else:
        spread = 0.1 * s if f.frontal else 0.04 * s
        feet = ((-spread, 0.0), (spread, 0.0))
        hands = None
    draw_figure(pen, f, hip, p["lean"], feet, hands)
