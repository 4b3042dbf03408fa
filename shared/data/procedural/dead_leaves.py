"""Dead-leaves images: random shapes that occlude each other, with power-law sizes.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) reproduces the scale
invariance, the 1/f spectrum and the edge statistics of natural photographs: shapes with
radii distributed as r⁻³ fall on the image plane until it is covered; the first ones to
fall are in front. This renderer composites front to back with a transmittance map, so
occlusion is exact and each shape's edge is anti-aliased with a soft width drawn per image
(from razor sharp to defocused). Shapes are disks, ellipses and rotated rectangles filled
with flat colours, shading gradients or 1/f and grating textures (:mod:`.textures`);
whatever is left uncovered after ``max_shapes`` shows a textured background.
"""

from __future__ import annotations

import numpy as np

from .textures import ShapeFill, TexturePalette

#: a pixel counts as covered when less than this much of what is behind shows through
COVERED = 1e-3


def power_law_radii(rng: np.random.Generator, n: int, r_min: float, r_max: float) -> np.ndarray:
    """``n`` radii with density ∝ r⁻³ on [r_min, r_max] (inverse-CDF sampling)."""
    u = rng.uniform(0.0, 1.0, n)
    a, b = r_min**-2, r_max**-2
    return (a - u * (a - b)) ** -0.5


def shape_distance(
    kind: int, theta: float, aspect: float, radius: float, ly: np.ndarray, lx: np.ndarray
) -> np.ndarray:
    """Approximate signed distance (pixels, negative inside) to a shape of ``radius``
    centred at the local origin: 0 disk, 1 ellipse, 2 rectangle (rotated by ``theta``)."""
    if kind == 0:
        return np.sqrt(ly * ly + lx * lx) - radius
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * lx + s * ly, -s * lx + c * ly
    a, b = radius, radius * aspect
    if kind == 1:  # normalised radius, scaled back to pixels
        return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * b
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


def dead_leaves(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    r_min: float | None = None,
    r_max: float | None = None,
    max_shapes: int = 1500,
) -> np.ndarray:
    """A dead-leaves colour image (height, width, 3) float32 in [0, 1]; ``r_min`` (drawn
    per image in [2, 8] px when None: from cluttered to calm scenes) and ``r_max`` bound the
    shape radii."""
    r_min = r_min if r_min is not None else float(np.exp(rng.uniform(np.log(2.0), np.log(8.0))))
    r_max = r_max if r_max is not None else 0.6 * max(height, width)
    palette = TexturePalette.draw(rng, height, width)
    n = max_shapes
    # every random draw up front (one call per parameter, not per shape)
    radii = power_law_radii(rng, n, r_min, r_max)
    cy = rng.uniform(-radii, height + radii)
    cx = rng.uniform(-radii, width + radii)
    kinds = rng.integers(0, 3, n)
    thetas, aspects = rng.uniform(0.0, np.pi, n), rng.uniform(0.3, 1.0, n)
    # colours of one image share a palette: a few hues with a spread, desaturated toward
    # their grey by a per-image amount (photographs are rarely saturated everywhere)
    centres = rng.uniform(0.05, 0.95, size=(int(rng.integers(2, 7)), 3))
    colours = centres[rng.integers(0, len(centres), n)] + rng.normal(
        0, rng.uniform(0.05, 0.3), (n, 3)
    )
    grey = colours.mean(1, keepdims=True)
    colours = np.clip(grey + rng.uniform(0.2, 1.0) * (colours - grey), 0.0, 1.0).astype(np.float32)
    textures = rng.integers(-2, len(palette.fields), n)  # < 0: flat (with shading)
    strengths = rng.uniform(0.03, 0.25, n)
    directions = (colours * rng.uniform(0.5, 1.0, (n, 1)) + rng.uniform(0, 0.5, (n, 3))).astype(
        np.float32
    )
    gradients = rng.normal(0.0, 0.25, (n, 2)) / np.maximum(radii, 1.0)[:, None]
    softness = rng.uniform(0.5, 2.5) if rng.uniform() < 0.8 else rng.uniform(2.5, 6.0)

    out = np.zeros((height, width, 3), np.float32)
    transmit = np.ones((height, width), np.float32)
    for i in range(n):
        reach = radii[i] + 2 * softness
        y0, y1 = max(int(cy[i] - reach), 0), min(int(cy[i] + reach) + 1, height)
        x0, x1 = max(int(cx[i] - reach), 0), min(int(cx[i] + reach) + 1, width)
        if y0 >= y1 or x0 >= x1:
            continue
        box = (slice(y0, y1), slice(x0, x1))
        t = transmit[box]
        if t.max() < COVERED:
            continue
        ly = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy[i])
        lx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx[i])
        dist = shape_distance(int(kinds[i]), thetas[i], aspects[i], radii[i], ly, lx)
        weight = t * np.clip(0.5 - dist / softness, 0.0, 1.0)
        spec = ShapeFill(
            colours[i], int(textures[i]), strengths[i], directions[i], tuple(gradients[i])
        )
        out[box] += weight[..., None] * palette.fill(spec, box, (ly, lx))
        transmit[box] = t - weight
        if i % 128 == 127 and transmit.max() < COVERED:
            break
    background = rng.uniform(0.1, 0.9, 3) + 0.15 * palette.fields[0][..., None]
    out += transmit[..., None] * background.astype(np.float32)
    return np.clip(out, 0.0, 1.0)
