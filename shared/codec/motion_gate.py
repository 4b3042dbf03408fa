"""The motion gate of skip-mode P-frames (encoder only; the bitstream does not change).

A skip-mode P-frame codes a latent position when its latent moved τ quantiser steps or more
on some channel. At high α a step is small, and a fixed camera's sensor noise alone moves
many latents of a static background that far: those positions were coded every frame and
the detector gained nothing from them. The gate asks the pixels instead: a position may be
coded only if its 16 × 16 source block changed since the position was last coded. Noise is
averaged out before the comparison (the frame's luma is mean-pooled in 4 × 4 cells, which
divides its standard deviation by 4); a real change in any cell of the block opens it.

    pooled luma of the frame ──┐
                               ├─► max over the block's cells of |frame − anchor| > T  → moved
    anchor (per 4×4 cell) ─────┘
    anchor := the frame's cells wherever a position was coded (all of them at key frames)

The anchor holds, per position, the pixels its reference values were coded from, so slow
drift adds up until it opens the gate (it is not a frame-to-frame difference). The decision
is the encoder's: the decoder reads the coded skip map as before.

Hand-written because it is a few array operations on the encoder's own padded input; no
library offers this gate.
"""

from __future__ import annotations

import numpy as np

from polc.shared.codec.frame_spec import LATENT_STRIDE as STRIDE

CELL = 4  # pooling cell (pixels); a block holds (STRIDE / CELL)² cells
LUMA_255 = np.array([0.299, 0.587, 0.114], np.float32) * np.float32(255.0)  # RGB in [0, 1]


def pooled_luma(x: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Mean luma (0–255) of each CELL × CELL cell of a padded encoder input (1, 3, H, W)
    in [0, 1]: float32 (H / CELL, W / CELL). ``size`` (width, height) is the frame's before
    padding: cells wholly in the padding repeat the last cell of the image instead of
    averaging replicated rows (whose noise would average over 4 pixels, not 16)."""
    if x.ndim != 4 or x.shape[:2] != (1, 3) or x.shape[2] % STRIDE or x.shape[3] % STRIDE:
        raise ValueError(f"expected a padded (1, 3, H, W) encoder input, got {x.shape}")
    h, w = x.shape[2] // CELL, x.shape[3] // CELL
    luma = np.tensordot(LUMA_255, x[0], axes=1)
    cells = luma.reshape(h, CELL, w, CELL).mean(axis=(1, 3), dtype=np.float32)
    if size is not None:
        real_h, real_w = -(-size[1] // CELL), -(-size[0] // CELL)
        cells[real_h:] = cells[real_h - 1 : real_h]
        cells[:, real_w:] = cells[:, real_w - 1 : real_w]
    return cells


def moved_positions(anchor: np.ndarray, cells: np.ndarray, threshold: float) -> np.ndarray:
    """Latent positions (bool (h, w)) whose block has a cell that changed by more than
    ``threshold`` luma levels between ``anchor`` and ``cells`` (both from :func:`pooled_luma`)."""
    if anchor.shape != cells.shape:
        raise ValueError(f"anchor {anchor.shape} and frame {cells.shape} differ in size")
    k = STRIDE // CELL
    h, w = cells.shape[0] // k, cells.shape[1] // k
    change = np.abs(cells - anchor).reshape(h, k, w, k).max(axis=(1, 3))
    return change > threshold


def updated_anchor(
    anchor: np.ndarray | None, cells: np.ndarray, coded: np.ndarray | None
) -> np.ndarray:
    """The anchor after a frame: ``cells`` where a position was coded, ``anchor`` elsewhere;
    all of ``cells`` when every position was coded (``coded`` None: a key frame or lossless
    P-frame) or there was no anchor yet."""
    if anchor is None or coded is None:
        return cells
    k = STRIDE // CELL
    take = np.repeat(np.repeat(coded, k, axis=0), k, axis=1)
    return np.where(take, cells, anchor)
