"""Camera artefacts: vignetting, defocus / motion blur, sensor noise and JPEG compression."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from .lighting import Look


@dataclass(frozen=True)
class SensorSettings:
    """Fixed properties of a camera (one per image, or one per video)."""

    vignette: float  #: darkening at the corners (0 = none)
    blur: float  #: blur radius in pixels (0 = sharp)
    motion: bool  #: horizontal box blur instead of a Gaussian
    jpeg_quality: int | None  #: re-encode as JPEG at this quality (None = no)


def sample_sensor(rng: np.random.Generator, jpeg_p: float = 0.5) -> SensorSettings:
    """Random camera: 30 % vignetting, 55 % blurred, ``jpeg_p`` JPEG-compressed (q 40-92)."""
    vignette = float(rng.uniform(0.05, 0.2)) if rng.random() < 0.3 else 0.0
    r = rng.random()
    blur, motion = 0.0, False
    if r < 0.45:
        blur = float(rng.uniform(0.3, 0.9))
    elif r < 0.55:
        blur, motion = float(rng.uniform(0.5, 1.0)), True
    q = int(rng.integers(40, 93)) if rng.random() < jpeg_p else None
    return SensorSettings(vignette, blur, motion, q)


def apply_sensor(
    rgb: np.ndarray, look: Look, settings: SensorSettings, rng: np.random.Generator
) -> np.ndarray:
    """Turn a lit float frame (H, W, 3) into the uint8 image the camera delivers.

    ``rng`` only draws the per-frame sensor noise (its strength comes from the look).
    """
    h, w = rgb.shape[:2]
    out = rgb
    if settings.vignette > 0:
        yy = (np.arange(h, dtype=np.float32) - h / 2) / (h / 2)
        xx = (np.arange(w, dtype=np.float32) - w / 2) / (w / 2)
        v = 1.0 - settings.vignette * (yy[:, None] ** 2 + xx[None, :] ** 2) / 2
        out = out * v[..., None]
    # uniform noise scaled to the variance of Gaussian noise (cheaper to draw):
    # luminance noise plus weaker independent chroma noise
    a = look.noise / 255.0 * 3.4641  # sigma * sqrt(12)
    noise = (rng.random((h, w, 1), dtype=np.float32) - 0.5) * a
    noise = noise + (rng.random((h, w, 3), dtype=np.float32) - 0.5) * (0.5 * a)
    img8 = np.clip((out + noise) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    im = Image.fromarray(img8)
    if settings.blur > 0:
        f = (
            ImageFilter.BoxBlur(settings.blur)
            if settings.motion
            else ImageFilter.GaussianBlur(settings.blur)
        )
        im = im.filter(f)
    if settings.jpeg_quality is not None:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=settings.jpeg_quality)
        buf.seek(0)
        im = Image.open(buf)
        im.load()
    return np.asarray(im, dtype=np.uint8)
