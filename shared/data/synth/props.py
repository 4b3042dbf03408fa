"""Street furniture and vegetation drawn as sprites: lamp posts, sign posts, bollards,
bins, hedges and trees. They are never annotated; in front of an object they occlude it.
"""

from __future__ import annotations

import numpy as np

from . import palette as P
from .pen import Pen
from .spec import Spec

PROPS = ("lamp", "sign", "bollard", "bin", "hedge", "tree")
#: props that stand in front of objects as partial occluders (trees too wide to be nice)
OCCLUDERS = ("lamp", "sign", "bollard", "bin", "hedge")


def sample_prop(rng: np.random.Generator, name: str) -> Spec:
    u = rng.uniform
    grey = P.pick(rng, [(70, 75, 80), (40, 42, 45), (110, 110, 105), (40, 70, 50)])
    if name == "lamp":
        h = float(u(5.0, 8.0))
        return Spec(name, -0.9, 0.9, h + 0.2, 0.0, {"h": h, "col": grey, "w": float(u(0.12, 0.2))})
    if name == "sign":
        h = float(u(2.2, 3.0))
        face = P.pick(
            rng, [(30, 80, 170), (200, 30, 30), (240, 240, 240), (230, 190, 30), (40, 120, 60)]
        )
        return Spec(
            name,
            -0.45,
            0.45,
            h + 0.1,
            0.0,
            {"h": h, "col": grey, "face": face, "round": bool(rng.random() < 0.5)},
        )
    if name == "bollard":
        return Spec(name, -0.15, 0.15, 1.0, 0.0, {"h": float(u(0.8, 1.0)), "col": grey})
    if name == "bin":
        col = P.pick(rng, [(40, 90, 50), (60, 60, 65), (150, 40, 30), (30, 60, 130)])
        return Spec(name, -0.35, 0.35, 1.1, 0.0, {"h": float(u(0.9, 1.1)), "col": col})
    if name == "hedge":
        w = float(u(1.5, 4.0))
        return Spec(
            name,
            -w / 2,
            w / 2,
            1.3,
            0.0,
            {
                "w": w,
                "h": float(u(0.7, 1.25)),
                "col": P.pick(rng, P.FOLIAGE),
                "blobs": rng.uniform(0, 1, (int(w * 4), 3)).tolist(),
            },
        )
    if name == "tree":
        h = float(u(4.0, 9.0))
        r = float(u(1.3, 2.6))
        return Spec(
            name,
            -r * 1.5,
            r * 1.5,
            h + r * 1.15,
            0.0,
            {
                "h": h,
                "r": r,
                "col": P.pick(rng, P.FOLIAGE),
                "trunk": P.pick(rng, [(80, 60, 45), (100, 90, 80), (60, 50, 40)]),
                "blobs": rng.uniform(0, 1, (9, 4)).tolist(),
            },
        )
    raise ValueError(f"unknown prop {name!r}")


def draw_prop(pen: Pen, spec: Spec, phase: float) -> None:
    p, name = spec.params, spec.name
    if name == "lamp":
        h, w = p["h"], p["w"]
        pen.rect(-w / 2, 0.0, w / 2, h, p["col"])
        pen.rect(-w, 0.0, w, 0.4, P.shade(p["col"], 0.8))
        pen.line([(0.0, h - 0.05), (0.7, h)], 0.08, p["col"])
        pen.light_rect(0.45, h - 0.12, 0.85, h, (240, 235, 210), (255, 220, 150))
    elif name == "sign":
        pen.rect(-0.04, 0.0, 0.04, p["h"], (150, 150, 155))
        top = p["h"]
        if p["round"]:
            pen.ellipse(0.0, top - 0.35, 0.35, 0.35, (240, 240, 240))
            pen.ellipse(0.0, top - 0.35, 0.3, 0.3, p["face"])
        else:
            pen.rect(-0.4, top - 0.7, 0.4, top, (240, 240, 240))
            pen.rect(-0.36, top - 0.66, 0.36, top - 0.04, p["face"])
    elif name == "bollard":
        pen.rect(-0.1, 0.0, 0.1, p["h"], p["col"])
        pen.rect(-0.1, p["h"] - 0.2, 0.1, p["h"] - 0.12, (230, 230, 230))
    elif name == "bin":
        pen.poly([(-0.3, 0.0), (0.3, 0.0), (0.33, p["h"] - 0.1), (-0.33, p["h"] - 0.1)], p["col"])
        pen.rect(-0.35, p["h"] - 0.12, 0.35, p["h"], P.shade(p["col"], 0.7))
    elif name == "hedge":
        w, h, col = p["w"], p["h"], p["col"]
        pen.rect(-w / 2, 0.0, w / 2, h * 0.8, P.shade(col, 0.85))
        for bx, by, bs in p["blobs"]:
            cx = -w / 2 + 0.25 + bx * (w - 0.5)
            pen.ellipse(
                cx, h * (0.6 + 0.2 * by), 0.3, 0.22 + 0.1 * bs, P.shade(col, 0.8 + 0.4 * bs)
            )
    elif name == "tree":
        h, r, col = p["h"], p["r"], p["col"]
        pen.poly([(-0.18, 0.0), (0.18, 0.0), (0.1, h), (-0.1, h)], p["trunk"])
        for bx, by, bs, bc in p["blobs"]:
            cx = (bx - 0.5) * 1.4 * r
            cy = h - 0.2 * r + (by - 0.3) * 0.9 * r
            rr = r * (0.45 + 0.3 * bs)
            pen.ellipse(cx, cy, rr, rr * 0.9, P.shade(col, 0.7 + 0.5 * bc))
