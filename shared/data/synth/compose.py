"""Painter's-algorithm composition of sprites onto a backdrop with occlusion bookkeeping.

Every pasted object writes its id into a label map wherever it is opaque; props write 0.
After all pastes the label map tells, for each object, which of its pixels are visible,
giving occlusion-aware boxes and the fraction of the object that is still visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .backdrop import Backdrop
from .sprites import Sprite


@dataclass
class Placement:
    """Where an annotated sprite was pasted."""

    obj_id: int
    x0: int
    y0: int
    sprite: Sprite


@dataclass
class Visibility:
    """Visible extent of one pasted object."""

    obj_id: int
    bbox: tuple[int, int, int, int] | None  #: visible box x, y, w, h (None if invisible)
    visible: int  #: visible pixels
    full: int  #: pixels of the whole (unclipped, unoccluded) object
    in_image: int  #: pixels inside the image (unoccluded)


class Canvas:
    """A frame under construction: colour, emission, depth and object-label layers."""

    def __init__(self, backdrop: Backdrop) -> None:
        self.rgb = backdrop.rgb.copy()
        self.depth = backdrop.depth.copy()
        self.emission = None if backdrop.emission is None else backdrop.emission.copy()
        self.height, self.width = self.rgb.shape[:2]
        self.label = np.zeros((self.height, self.width), np.int32)
        self.placements: list[Placement] = []

    def shadow(self, u: float, v: float, half_w: float, half_h: float, strength: float) -> None:
        """Darken a soft ellipse on the ground centred at column ``u``, row ``v``."""
        if strength <= 0 or half_w < 1:
            return
        half_h = max(half_h, 1.0)
        x0, y0 = int(u - half_w * 1.3), int(v - half_h * 1.6)
        w, h = int(half_w * 2.6) + 2, int(half_h * 3.2) + 2
        xa, ya, xb, yb = max(0, x0), max(0, y0), min(self.width, x0 + w), min(self.height, y0 + h)
        if xa >= xb or ya >= yb:
            return
        m = Image.new("L", (w, h))
        ImageDraw.Draw(m).ellipse(
            [half_w * 0.3, half_h * 0.6, w - half_w * 0.3 - 2, h - half_h * 0.6 - 2], fill=255
        )
        m = m.filter(ImageFilter.BoxBlur(max(1.0, half_h * 0.5)))
        a = np.asarray(m, np.float32)[ya - y0 : yb - y0, xa - x0 : xb - x0] * (strength / 255.0)
        self.rgb[ya:yb, xa:xb] *= (1.0 - a)[..., None]

    def paste(self, sprite: Sprite, u: float, v: float, depth: float, obj_id: int = 0) -> None:
        """Paste ``sprite`` with its anchor at (u, v). ``obj_id`` 0 marks an unlabelled prop."""
        x0 = int(round(u - sprite.anchor[0]))
        y0 = int(round(v - sprite.anchor[1]))
        h, w = sprite.rgba.shape[:2]
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(self.width, x0 + w), min(self.height, y0 + h)
        if obj_id:
            self.placements.append(Placement(obj_id, x0, y0, sprite))
        if xa >= xb or ya >= yb:
            return
        src = sprite.rgba[ya - y0 : yb - y0, xa - x0 : xb - x0]
        a = src[..., 3:]
        dst = self.rgb[ya:yb, xa:xb]
        dst *= 1.0 - a
        dst += src[..., :3]
        opaque = a[..., 0] > 0.5
        self.label[ya:yb, xa:xb][opaque] = obj_id
        self.depth[ya:yb, xa:xb][opaque] = depth
        if self.emission is not None:
            e = self.emission[ya:yb, xa:xb]
            e *= 1.0 - a
            if sprite.emission is not None:
                e += sprite.emission[ya - y0 : yb - y0, xa - x0 : xb - x0] * a

    def visibility(self) -> list[Visibility]:
        """Visible box and pixel counts of every annotated placement."""
        out = []
        for p in self.placements:
            h, w = p.sprite.rgba.shape[:2]
            xa, ya = max(0, p.x0), max(0, p.y0)
            xb, yb = min(self.width, p.x0 + w), min(self.height, p.y0 + h)
            if xa >= xb or ya >= yb:
                out.append(Visibility(p.obj_id, None, 0, p.sprite.full_area, 0))
                continue
            mask = self.label[ya:yb, xa:xb] == p.obj_id
            in_image = int(
                np.count_nonzero(
                    p.sprite.rgba[ya - p.y0 : yb - p.y0, xa - p.x0 : xb - p.x0, 3] > 0.5
                )
            )
            n = int(np.count_nonzero(mask))
            bbox = None
            if n:
                rows = np.flatnonzero(mask.any(axis=1))
                cols = np.flatnonzero(mask.any(axis=0))
                bbox = (
                    xa + int(cols[0]),
                    ya + int(rows[0]),
                    int(cols[-1] - cols[0] + 1),
                    int(rows[-1] - rows[0] + 1),
                )
            out.append(Visibility(p.obj_id, bbox, n, p.sprite.full_area, in_image))
        return out


def keep_annotation(v: Visibility, min_side: int = 6, min_visible: float = 0.3) -> bool:
    """An object is annotated if its visible box is >= ``min_side`` px on both sides and it
    is not mostly hidden: at least ``min_visible`` of its in-image part is unoccluded and
    at least 15 % of the whole object is inside the image."""
    if v.bbox is None or v.full == 0 or v.in_image == 0:
        return False
    return (
        v.bbox[2] >= min_side
        and v.bbox[3] >= min_side
        and v.visible >= min_visible * v.in_image
        and v.in_image >= 0.15 * v.full
    )
