"""Camera-like degradations of a clean procedural image: optical blur, exposure and
gamma, sensor noise (signal-dependent shot noise + read noise) and 8-bit quantisation.
No JPEG: the codec must not learn to reproduce another codec's artefacts."""

from __future__ import annotations

import numpy as np


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, C) float image, edges reflected."""
    if sigma <= 0.05:
        return img
    radius = max(1, int(3 * sigma + 0.5))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    pad = np.pad(img, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    h, w = img.shape[:2]
    rows = sum(taps[k] * pad[k : k + h] for k in range(len(taps)))
    return sum(taps[k] * rows[:, k : k + w] for k in range(len(taps))).astype(np.float32)


def camera(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A random camera applied to a float (H, W, 3) image in [0, 1] → uint8 image."""
    if rng.uniform() < 0.5:
        img = gaussian_blur(img, rng.uniform(0.3, 1.2))
    img = np.clip(img * rng.uniform(0.7, 1.3), 0.0, 1.0) ** rng.uniform(0.8, 1.25)
    if rng.uniform() < 0.6:
        shot, read = rng.uniform(0.0, 0.0008), rng.uniform(0.0, 0.006)
        sigma = np.sqrt(shot * img + read * read)
        img = img + sigma * rng.standard_normal(img.shape).astype(np.float32)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
