"""Spectral (1/f) noise: random-phase fields whose amplitude spectrum falls as 1/f^slope.

Natural photographs have an amplitude spectrum close to 1/f (power 1/f², slope ≈ 1); a
slope above 1 gives smoother (cloud-like) fields, below 1 rougher ones. The fields are
built in the Fourier domain from white Gaussian noise, so they are exact in expectation
and cost two FFTs.
"""

from __future__ import annotations

import numpy as np


def radial_frequency(height: int, width: int) -> np.ndarray:
    """|f| in cycles per pixel on the rfft2 grid of a (height, width) image."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    return np.sqrt(fy * fy + fx * fx)


def spectral_noise(
    rng: np.random.Generator, height: int, width: int, slope: float = 1.0
) -> np.ndarray:
    """A (height, width) float32 field, zero mean and unit standard deviation, whose
    amplitude spectrum is ∝ 1/f^slope (the DC term is removed)."""
    white = rng.standard_normal((height, width))
    f = radial_frequency(height, width)
    f[0, 0] = 1.0
    amplitude = f ** (-slope)
    amplitude[0, 0] = 0.0
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=(height, width))
    std = field.std()
    return (field / (std if std > 0 else 1.0)).astype(np.float32)


def spectral_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A colour 1/f image (height, width, 3) float32 in [0, 1].

    One luminance field and two weaker chroma fields (slopes drawn around 1) are mixed
    into RGB by a random colour basis; a random contrast, mean colour and mild gamma make
    each image look like a different texture of the world rather than one global noise.
    """
    slope = rng.uniform(0.75, 1.6)
    lum = spectral_noise(rng, height, width, slope)
    chroma = [spectral_noise(rng, height, width, slope + rng.uniform(-0.2, 0.4)) for _ in "ab"]
    base = rng.uniform(0.2, 0.8, size=3)
    tint = rng.normal(0.0, 1.0, size=(2, 3))
    tint /= np.linalg.norm(tint, axis=1, keepdims=True)
    contrast = rng.uniform(0.08, 0.25)
    chroma_amount = rng.uniform(0.1, 0.6)
    img = base + contrast * lum[..., None] * rng.uniform(0.7, 1.0, size=3)
    for field, direction in zip(chroma, tint, strict=True):
        img = img + contrast * chroma_amount * field[..., None] * direction
    img = np.clip(img, 0.0, 1.0) ** rng.uniform(0.8, 1.25)
    return img.astype(np.float32)
