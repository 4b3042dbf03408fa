"""The static part of a frame: sky, buildings / park, sidewalks, kerbs, road and markings.

Everything is drawn with PIL at twice the output resolution through the street camera
(so lane markings, tile seams and zebra stripes converge correctly), box-downsampled and
textured with multiplicative value noise and grain. Trees and far-side street lamps are
pasted as sprites; lamps are remembered for night-time light pools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from . import palette as P
from .catalogue import draw_spec, sample_spec
from .geometry import StreetCamera, StreetLayout
from .lighting import Look
from .palette import Colour
from .pen import Pen

SS = 2  # supersampling factor of the backdrop
SKY_DEPTH = 1e4


@dataclass
class Backdrop:
    """Static background layers of one camera view."""

    rgb: np.ndarray  #: (H, W, 3) float32 in [0, 1]
    depth: np.ndarray  #: (H, W) float32 metres (fog)
    emission: np.ndarray | None  #: (H, W, 3) float32 lit windows, lamps
    lamps: list[tuple[float, float, float]] = field(default_factory=list)


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1] with features of about ``cell`` pixels."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = Image.fromarray(rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32), mode="F")
    return np.asarray(grid.resize((w, h), Image.Resampling.BILINEAR), np.float32)


def _rect(draw: ImageDraw.ImageDraw, box: list[float], fill: Colour) -> None:
    """``draw.rectangle`` that tolerates swapped corners and clamps far-off coordinates."""
    x0, y0, x1, y1 = (min(1e5, max(-4.0, float(c))) for c in box)
    draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=fill)


class _Ground:
    """Maps ground points (world X, depth) to supersampled canvas pixels."""

    def __init__(self, cam: StreetCamera) -> None:
        self.cam = cam

    def pt(self, x: float, depth: float) -> tuple[float, float]:
        return (self.cam.column(x, depth) * SS, self.cam.ground_row(depth) * SS)

    def row(self, depth: float) -> float:
        return self.cam.ground_row(depth) * SS

    def quad(self, x0: float, x1: float, d0: float, d1: float) -> list[tuple[float, float]]:
        return [self.pt(x0, d0), self.pt(x1, d0), self.pt(x1, d1), self.pt(x0, d1)]


def _x_range(
    cam: StreetCamera, width: int, depth: float, margin: float = 2.0
) -> tuple[float, float]:
    return (cam.world_x(0.0, depth) - margin, cam.world_x(float(width), depth) + margin)


def _draw_prop(
    img: Image.Image,
    em: Image.Image | None,
    rng: np.random.Generator,
    name: str,
    cam: StreetCamera,
    x: float,
    depth: float,
) -> None:
    """Draw a prop (tree, lamp, hedge) standing at (x, depth) straight onto the canvas."""
    s = cam.scale(depth) * SS
    spec = sample_spec(rng, name)
    xs = -1.0 if rng.random() < 0.5 else 1.0
    u, v = cam.column(x, depth) * SS, cam.ground_row(depth) * SS
    reach = spec.length * s
    if max(spec.length, spec.height) * s < 2 or u + reach < 0 or u - reach > img.width:
        return
    pen = Pen(img, s, xs, u - spec.anchor_x * s * xs, v, em=em, emit=em is not None)
    draw_spec(pen, spec)


def render_backdrop(
    cam: StreetCamera,
    layout: StreetLayout,
    width: int,
    height: int,
    rng: np.random.Generator,
    look: Look,
) -> Backdrop:
    """Render the static background of a ``width`` x ``height`` view."""
    W, H = width * SS, height * SS
    img = Image.new("RGB", (W, H))
    draw = ImageDraw.Draw(img)
    em: Image.Image | None = Image.new("RGB", (W, H)) if look.lights_on else None
    em_draw = ImageDraw.Draw(em) if em is not None else None
    g = _Ground(cam)
    # sky: vertical gradient
    sky = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    top, bot = np.asarray(look.sky_top, np.float32), np.asarray(look.sky_bottom, np.float32)
    sky_img = (top * (1 - sky) + bot * sky).astype(np.uint8)[:, None, :].repeat(W, axis=1)
    img.paste(Image.fromarray(sky_img[..., :3], "RGB"))
    horizon = cam.horizon * SS
    facade_row = g.row(layout.facade)
    # distant ground between horizon and the facade line
    far_col = P.jitter(rng, (120, 125, 110) if layout.has_buildings else (85, 110, 60), 10)
    _rect(draw, [0, max(horizon, -1), W, facade_row + 1], fill=far_col)
    lamps: list[tuple[float, float, float]] = []
    _draw_far_side(draw, em_draw, img, em, rng, cam, layout, width, look, lamps)
    _draw_ground(draw, g, rng, cam, layout, width, H)
    # far-side lamp posts at the back of the far sidewalk
    lamp_d = layout.far_walk[1] - 0.4
    if rng.random() < 0.7:
        pitch = float(rng.uniform(14.0, 30.0))
        xa, xb = _x_range(cam, width, lamp_d, 3.0)
        x = np.floor(xa / pitch) * pitch + float(rng.uniform(0, pitch))
        while x < xb:
            _draw_prop(img, em, rng, "lamp", cam, x, lamp_d)
            if look.lights_on:
                lamps.append(
                    (cam.column(x + 0.65, lamp_d), cam.ground_row(lamp_d - 2.0), cam.scale(lamp_d))
                )
            x += pitch
    small = img.reduce(SS)
    rgb = np.asarray(small, np.float32) * (1.0 / 255.0)
    # texture: smooth weathering everywhere, grain on the ground
    lo = value_noise(rng, height, width, 10.0)
    rgb = rgb * (1.0 + 0.06 * lo)[..., None]
    g_start = int(max(0, min(height, cam.ground_row(layout.facade))))
    grain = rng.random((height - g_start, width), dtype=np.float32) - 0.5
    rgb[g_start:] *= (1.0 + 0.12 * grain)[..., None]
    rows = np.arange(height, dtype=np.float64) + 0.5
    depth_row = np.asarray(cam.depth_of_row(rows), np.float64)
    depth_row = np.where(rows < cam.horizon, SKY_DEPTH, np.minimum(depth_row, layout.facade))
    depth = np.repeat(depth_row.astype(np.float32)[:, None], width, axis=1)
    emission = None
    if em is not None:
        emission = np.asarray(em.reduce(SS), np.float32) * (1.0 / 255.0)
    return Backdrop(rgb=np.clip(rgb, 0, 1), depth=depth, emission=emission, lamps=lamps)


def _draw_far_side(
    draw: ImageDraw.ImageDraw,
    em_draw: ImageDraw.ImageDraw | None,
    img: Image.Image,
    em: Image.Image | None,
    rng: np.random.Generator,
    cam: StreetCamera,
    layout: StreetLayout,
    width: int,
    look: Look,
    lamps: list[tuple[float, float, float]],
) -> None:
    """Buildings with windows and shop fronts, or a park with trees and hedges."""
    d = layout.facade
    s = cam.scale(d) * SS
    base = cam.ground_row(d) * SS
    xa, xb = _x_range(cam, width, d, 1.0)
    if layout.has_buildings:
        x = xa - float(rng.uniform(0.0, 12.0))
        while x < xb:
            bw = float(rng.uniform(6.0, 22.0))
            bh = float(rng.uniform(5.0, 32.0))
            c0 = cam.column(x, d) * SS
            c1 = cam.column(x + bw, d) * SS
            if c1 > 0:
                _building(draw, em_draw, rng, c0, c1, base, s, bh, look)
            x += bw + (float(rng.uniform(0.5, 4.0)) if rng.random() < 0.3 else 0.0)
    # trees at the back of the far sidewalk (denser in a park)
    tree_d = d - 0.6
    pitch = float(rng.uniform(5.0, 9.0) if not layout.has_buildings else rng.uniform(8, 20))
    if rng.random() < (1.0 if not layout.has_buildings else 0.55):
        ta, tb = _x_range(cam, width, tree_d, 4.0)
        x = ta + float(rng.uniform(0, pitch))
        while x < tb:
            _draw_prop(img, em, rng, "tree", cam, x, tree_d)
            x += pitch * float(rng.uniform(0.7, 1.3))
    if not layout.has_buildings and rng.random() < 0.6:
        ha, hb = _x_range(cam, width, tree_d + 0.3, 2.0)
        x = ha
        while x < hb:
            _draw_prop(img, em, rng, "hedge", cam, x, tree_d + 0.3)
            x += float(rng.uniform(2.0, 4.0))


def _building(
    draw: ImageDraw.ImageDraw,
    em_draw: ImageDraw.ImageDraw | None,
    rng: np.random.Generator,
    c0: float,
    c1: float,
    base: float,
    s: float,
    bh: float,
    look: Look,
) -> None:
    """One facade between canvas columns ``c0`` and ``c1`` (supersampled pixels)."""
    wall = P.jitter(rng, P.pick(rng, P.BUILDING), 10)
    top = base - bh * s
    _rect(draw, [c0, top, c1, base], fill=wall)
    _rect(draw, [c0, top, c1, top + 0.4 * s], fill=P.shade(wall, 0.75))
    glass = P.pick(rng, P.GLASS)
    floor_h = float(rng.uniform(2.9, 3.6))
    win_w, win_h = float(rng.uniform(0.9, 1.6)), float(rng.uniform(1.2, 1.9))
    pitch = float(rng.uniform(max(2.2, win_w + 0.6), 4.0))
    frame = P.shade(wall, 0.8) if rng.random() < 0.5 else (230, 230, 225)
    lit = look.lit_windows
    # shop front / ground floor
    shop = rng.random() < 0.5
    if shop:
        _rect(
            draw,
            [c0 + 0.3 * s, base - 2.6 * s, c1 - 0.3 * s, base - 0.2 * s],
            fill=P.shade(glass, 1.1),
        )
        awning = P.pick(rng, P.CLOTHES)
        _rect(draw, [c0 + 0.1 * s, base - 3.1 * s, c1 - 0.1 * s, base - 2.6 * s], fill=awning)
        if em_draw is not None and rng.random() < 0.7:
            _rect(
                em_draw,
                [c0 + 0.3 * s, base - 2.6 * s, c1 - 0.3 * s, base - 0.2 * s],
                fill=(180, 160, 110),
            )
    n_floors = int((bh - 3.2) / floor_h)
    if win_w * s < 1.0:
        return
    cols = np.arange(c0 + 0.8 * s, c1 - win_w * s, pitch * s)
    for f in range(n_floors):
        y1 = base - 3.4 * s - f * floor_h * s
        y0 = y1 - win_h * s
        for cx in cols:
            on = lit > 0 and rng.random() < lit
            _rect(
                draw,
                [cx - 0.08 * s, y0 - 0.08 * s, cx + win_w * s + 0.08 * s, y1 + 0.08 * s],
                fill=frame,
            )
            _rect(draw, [cx, y0, cx + win_w * s, y1], fill=(230, 200, 130) if on else glass)
            if on and em_draw is not None:
                _rect(em_draw, [cx, y0, cx + win_w * s, y1], fill=(200, 170, 100))


def _draw_ground(
    draw: ImageDraw.ImageDraw,
    g: _Ground,
    rng: np.random.Generator,
    cam: StreetCamera,
    layout: StreetLayout,
    width: int,
    H: int,
) -> None:
    """Sidewalks with kerbs and tile seams, the road with wear, markings and a crossing."""
    W = width * SS
    big = 1e5

    def band(d0: float, d1: float, colour: Colour) -> None:
        """Fill the ground between depths d0 < d1 across the whole width."""
        y_far, y_near = g.row(d1), g.row(d0)
        if y_near < 0 or y_far > H:
            return
        _rect(draw, [0, y_far, W, y_near], fill=colour)

    walk = P.jitter(
        rng, P.pick(rng, [(175, 170, 160), (150, 145, 140), (190, 180, 165), (160, 130, 120)]), 8
    )
    asphalt = P.jitter(
        rng, P.pick(rng, [(85, 85, 88), (70, 70, 72), (100, 100, 100), (60, 62, 66)]), 5
    )
    verge = P.pick(rng, [(90, 120, 60), (150, 145, 140), (120, 110, 90)])
    band(0.1, layout.near_walk[0], verge)
    band(*layout.near_walk, walk)
    band(*layout.far_walk, P.jitter(rng, walk, 6))
    band(*layout.road, asphalt)
    # kerbs: top faces, and the vertical face of the far kerb (faces the camera)
    kerb = P.shade(walk, 1.1)
    band(layout.near_walk[1] - 0.2, layout.near_walk[1], kerb)
    band(layout.far_walk[0], layout.far_walk[0] + 0.2, kerb)
    rf = g.row(layout.road[1])
    _rect(draw, [0, rf - 0.15 * cam.scale(layout.road[1]) * SS, W, rf], fill=P.shade(kerb, 0.92))
    # tile seams converging to the vanishing point
    seam = P.shade(walk, 0.82)
    for d0, d1 in (layout.near_walk, layout.far_walk):
        pitch = float(rng.uniform(0.6, 1.5))
        xa, xb = _x_range(cam, width, d0, 1.0)
        xa2, xb2 = _x_range(cam, width, d1, 1.0)
        xa, xb = min(xa, xa2), max(xb, xb2)
        if (xb - xa) / pitch > 400:
            continue
        for x in np.arange(np.floor(xa / pitch) * pitch, xb, pitch):
            draw.line([g.pt(x, d0 + 0.2), g.pt(x, d1 - 0.2)], fill=seam, width=1)
        for dd in np.arange(d0 + pitch, d1, pitch):
            y = g.row(dd)
            draw.line([(0, y), (W, y)], fill=seam, width=1)
    # road wear: darker wheel tracks per lane, patches and a manhole
    for lane in layout.road_lanes():
        for t in (0.3, 0.7):
            dc = lane.near + t * (lane.far - lane.near)
            _rect(draw, [0, g.row(dc + 0.35), W, g.row(dc - 0.35)], fill=P.shade(asphalt, 0.9))
    xa, xb = _x_range(cam, width, layout.road[0], 1.0)
    for _ in range(int(rng.integers(0, 4))):
        x = float(rng.uniform(xa, xb))
        dd = float(rng.uniform(*layout.road))
        w, dl = float(rng.uniform(1.0, 5.0)), float(rng.uniform(0.5, 2.5))
        draw.polygon(
            g.quad(x, x + w, dd, min(dd + dl, layout.road[1])),
            fill=P.shade(asphalt, float(rng.uniform(0.8, 1.15))),
        )
    if rng.random() < 0.3:
        x, dd = float(rng.uniform(xa, xb)), float(rng.uniform(*layout.road))
        c, r = g.pt(x, dd), 0.35 * cam.scale(dd) * SS
        ry = r * cam.cam_height / dd
        draw.ellipse([c[0] - r, c[1] - ry, c[0] + r, c[1] + ry], fill=(45, 45, 48))
    # zebra crossing
    white = (225, 225, 220)
    if rng.random() < 0.2:
        xc = float(rng.uniform(xa, xb))
        for i in range(int(rng.integers(6, 12))):
            x = xc + i * 1.0
            draw.polygon(g.quad(x, x + 0.5, layout.road[0] + 0.3, layout.road[1] - 0.3), fill=white)
    # lane markings: dashed white between lanes, double yellow at the centre
    dash, gap = float(rng.uniform(2.0, 3.5)), float(rng.uniform(4.0, 9.0))
    phase = float(rng.uniform(0.0, dash + gap))
    for de in layout.lane_edges:
        xa, xb = _x_range(cam, width, de, dash + gap)
        if (xb - xa) / (dash + gap) > 300:
            continue
        x = np.floor((xa - phase) / (dash + gap)) * (dash + gap) + phase
        while x < xb:
            draw.polygon(g.quad(x, x + dash, de - 0.07, de + 0.07), fill=white)
            x += dash + gap
    if layout.centre_edge is not None:
        yellow = P.jitter(rng, (220, 180, 40), 8)
        for off in (-0.12, 0.12):
            dc = layout.centre_edge + off
            draw.polygon(g.quad(-big, big, dc - 0.06, dc + 0.06), fill=yellow)
    if rng.random() < 0.6:
        for dc in (layout.road[0] + 0.25, layout.road[1] - 0.25):
            draw.polygon(g.quad(-big, big, dc - 0.06, dc + 0.06), fill=white)
    if layout.bike_lane is not None:
        b0, b1 = layout.bike_lane
        draw.polygon(g.quad(-big, big, b0 + 0.05, b1), fill=(95, 130, 95))
        draw.polygon(g.quad(-big, big, b1 - 0.07, b1 + 0.07), fill=white)
