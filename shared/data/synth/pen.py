"""Pen: draws shapes given in object metres onto a (supersampled) RGBA canvas.

Objects are drawn in side view facing right; light sources also go onto an emission canvas
(the glow at night). The class modules draw with it, ``sprites`` renders its canvas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

from .palette import Colour
from .spec import Spec

Point = tuple[float, float]


class Pen:
    """Draws shapes given in object metres onto a (supersampled) RGBA canvas.

    Object point (x, y) (y up from the ground) lands on canvas pixel
    ``(ox + x * k * xscale, oy - y * k)``; ``xscale`` foreshortens the object horizontally
    (a slightly yawed pose), a negative ``xscale`` mirrors it. Light sources are also drawn
    onto an emission canvas (created on first use unless one is given).
    """

    def __init__(
        self,
        img: Image.Image,
        k: float,
        xscale: float,
        ox: float,
        oy: float,
        em: Image.Image | None = None,
        emit: bool = True,
    ) -> None:
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

    def ellipse(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        fill: Colour | None,
        outline: Colour | None = None,
        width: float = 0.0,
    ) -> None:
        self.draw.ellipse(
            self._box(cx, cy, rx, ry),
            fill=fill,
            outline=outline,
            width=self.px(width) if outline is not None else 0,
        )

    def _box(self, cx: float, cy: float, rx: float, ry: float) -> list[float]:
        x0, y0 = self.p(cx - rx, cy + ry)
        x1, y1 = self.p(cx + rx, cy - ry)
        x0, x1 = min(x0, x1), max(x0, x1)
        return [x0, y0, x1, max(y0, y1)]

    def line(self, pts: Sequence[Point], width: float, fill: Colour) -> None:
        self.draw.line(
            [self.p(x, y) for x, y in pts], fill=fill, width=self.px(width), joint="curve"
        )

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

    def light_rect(
        self, x0: float, y0: float, x1: float, y1: float, fill: Colour, glow: Colour
    ) -> None:
        self.light_poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill, glow)

    def light_ellipse(
        self, cx: float, cy: float, rx: float, ry: float, fill: Colour, glow: Colour
    ) -> None:
        self.ellipse(cx, cy, rx, ry, fill)
        em = self._emission()
        if em is not None:
            em.ellipse(self._box(cx, cy, rx, ry), fill=glow)
