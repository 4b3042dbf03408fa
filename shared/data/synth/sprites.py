"""Object sprites: a pen that draws in metres, and the supersampled sprite renderer.

Every class module provides ``sample(rng, name) -> Spec`` and ``draw(pen, spec, phase)``.
Objects are drawn in side view facing right on a transparent canvas at 2-3x the target
resolution and box-downsampled, which anti-aliases edges and keeps thin details (spokes,
light bars, stripes) as faint sub-pixel structures, exactly what a lossy codec removes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .palette import Colour

Point = tuple[float, float]


@dataclass
class Spec:
    """Appearance of one object, sampled once (a video track keeps its spec)."""

    name: str  #: class name
    xmin: float  #: leftmost extent (m), object faces +x
    xmax: float  #: rightmost extent (m)
    height: float  #: top extent above the ground (m)
    anchor_x: float  #: x (m) of the ground contact centre
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> float:
        return self.xmax - self.xmin


@dataclass
class Sprite:
    """A rendered object: premultiplied RGBA + emitted light, anchored at its ground point."""

    rgba: np.ndarray  #: (h, w, 4) float32, colour premultiplied by alpha, in [0, 1]
    emission: np.ndarray | None  #: (h, w, 3) float32 light sources (for night glow)
    anchor: Point  #: (x, y) pixel position of the ground contact point
    full_area: int  #: number of pixels with alpha > 0.5 (before any clipping)


class Pen:
    """Draws shapes given in object metres onto a (supersampled) RGBA canvas.

    Object point (x, y) (y up from the ground) lands on canvas pixel
    ``(ox + x * k * xscale, oy - y * k)``; ``xscale`` foreshortens the object horizontally
    (a slightly yawed pose), a negative ``xscale`` mirrors it. Light sources are also drawn
    onto an emission canvas (created on first use unless one is given).
    """

    def __init__(self, img: Image.Image, k: float, xscale: float, ox: float, oy: float,
                 em: Image.Image | None = None, emit: bool = True) -> None:
        self.img, self.k, self.xscale, self.ox, self.oy = img, k, xscale, ox, oy
        self.size = img.size
        self.draw = ImageDraw.Draw(img)
        self.em, self.emit = em, emit
        self.em_draw: ImageDraw.ImageDraw | None = ImageDraw.Draw(em) if em else None

    @classmethod
    def for_sprite(cls, spec: Spec, k: float, xscale: float, pad: int) -> Pen:
        """A pen on a fresh transparent canvas just large enough for ``spec``."""
        w = int(math.ceil(spec.length * k * xscale)) + 2 * pad
        h = int(math.ceil(spec.height * k)) + 2 * pad
        img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        return cls(img, k, xscale, pad - spec.xmin * k * xscale, pad + spec.height * k)

    def p(self, x: float, y: float) -> Point:
        """Canvas pixel of object point (x, y) metres (y up from the ground)."""
        return (self.ox + x * self.k * self.xscale, self.oy - y * self.k)

    def px(self, metres: float) -> int:
        """A line width in canvas pixels (at least one)."""
        return max(1, int(round(metres * self.k)))

    def poly(self, pts: Sequence[Point], fill: Colour) -> None:
        self.draw.polygon([self.p(x, y) for x, y in pts], fill=fill)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: Colour) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: Colour | None,
                outline: Colour | None = None, width: float = 0.0) -> None:
        self.draw.ellipse(self._box(cx, cy, rx, ry), fill=fill, outline=outline,
                          width=self.px(width) if outline is not None else 0)

    def _box(self, cx: float, cy: float, rx: float, ry: float) -> list[float]:
        x0, y0 = self.p(cx - rx, cy + ry)
        x1, y1 = self.p(cx + rx, cy - ry)
        x0, x1 = min(x0, x1), max(x0, x1)
        return [x0, y0, x1, max(y0, y1)]

    def line(self, pts: Sequence[Point], width: float, fill: Colour) -> None:
        self.draw.line([self.p(x, y) for x, y in pts], fill=fill, width=self.px(width),
                       joint="curve")

    def _emission(self) -> ImageDraw.ImageDraw | None:
        if not self.emit:
            return None
        if self.em_draw is None:
            self.em = Image.new("RGB", self.size, (0, 0, 0))
            self.em_draw = ImageDraw.Draw(self.em)
        return self.em_draw

    def light_poly(self, pts: Sequence[Point], fill: Colour, glow: Colour) -> None:
        """A light source: drawn in ``fill`` and emitting ``glow`` at night."""
        self.poly(pts, fill)
        em = self._emission()
        if em is not None:
            em.polygon([self.p(x, y) for x, y in pts], fill=glow)

    def light_rect(self, x0: float, y0: float, x1: float, y1: float, fill: Colour,
                   glow: Colour) -> None:
        self.light_poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill, glow)

    def light_ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: Colour,
                      glow: Colour) -> None:
        self.ellipse(cx, cy, rx, ry, fill)
        em = self._emission()
        if em is not None:
            em.ellipse(self._box(cx, cy, rx, ry), fill=glow)


DrawFn = Callable[[Pen, Spec, float], None]
SampleFn = Callable[[np.random.Generator, str], Spec]
_REGISTRY: dict[str, tuple[SampleFn, DrawFn]] = {}


def register(names: Sequence[str], sample: SampleFn, draw: DrawFn) -> None:
    """Register the sampler / drawer of one or more classes."""
    for name in names:
        _REGISTRY[name] = (sample, draw)


def _ensure_registered() -> None:
    """Import the class modules (they register themselves on import)."""
    from . import people, props, twowheelers, vehicles  # noqa: F401


def draw_spec(pen: Pen, spec: Spec, phase: float = 0.0) -> None:
    """Draw ``spec`` with an existing pen (e.g. straight onto a backdrop canvas)."""
    _ensure_registered()
    _REGISTRY[spec.name][1](pen, spec, phase)


def sample_spec(rng: np.random.Generator, name: str) -> Spec:
    """Sample the appearance of an object of class ``name``."""
    _ensure_registered()
    return _REGISTRY[name][0](rng, name)


def _rotate_point(x: float, y: float, w: int, h: int, nw: int, nh: int,
                  angle_deg: float) -> Point:
    """Where PIL's ``rotate(angle, expand=True)`` moves pixel (x, y)."""
    a = math.radians(angle_deg)
    dx, dy = x - w / 2.0, y - h / 2.0
    return (nw / 2.0 + dx * math.cos(a) + dy * math.sin(a),
            nh / 2.0 - dx * math.sin(a) + dy * math.cos(a))


def render_sprite(spec: Spec, px_per_m: float, *, flip: bool = False, angle: float = 0.0,
                  xscale: float = 1.0, phase: float = 0.0) -> Sprite:
    """Draw ``spec`` at ``px_per_m`` pixels per metre.

    ``flip`` mirrors the object (facing left), ``angle`` rotates it (degrees, CCW) and
    ``xscale`` foreshortens it; ``phase`` animates wheels / legs (radians).
    """
    _ensure_registered()
    extent = max(spec.length * xscale, spec.height) * px_per_m
    ss = 3 if extent < 48 else 2
    pad = 2 * ss
    pen = Pen.for_sprite(spec, px_per_m * ss, xscale, pad)
    _REGISTRY[spec.name][1](pen, spec, phase)
    anchor = pen.p(spec.anchor_x, 0.0)
    w, h = pen.size
    w2, h2 = w // ss, h // ss
    crop = (0, 0, w2 * ss, h2 * ss)
    img = pen.img.convert("RGBa").resize((w2, h2), Image.Resampling.BOX, box=crop)
    em = pen.em.resize((w2, h2), Image.Resampling.BOX, box=crop) if pen.em else None
    ax, ay = anchor[0] / ss, anchor[1] / ss
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        em = em.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if em else None
        ax = w2 - ax
    if abs(angle) > 0.05:
        img = img.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
        if em is not None:
            em = em.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
        ax, ay = _rotate_point(ax, ay, w2, h2, img.width, img.height, angle)
    rgba = np.asarray(img, dtype=np.float32) * (1.0 / 255.0)
    emission = np.asarray(em, dtype=np.float32) * (1.0 / 255.0) if em is not None else None
    full_area = int(np.count_nonzero(rgba[..., 3] > 0.5))
    return Sprite(rgba=rgba, emission=emission, anchor=(ax, ay), full_area=full_area)
