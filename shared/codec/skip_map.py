"""The skip map of a skip-mode P-frame: one flag per latent position, coded losslessly.

A flag says "this position copies the reference's decoded ŷ (all M channels), no symbols".
Flags are coded in raster order with a binary ANS coder (constriction's Bernoulli model) and
adaptive context counts kept as exact integers on both ends:

    context = left flag + 2·(up flag) + 4·(the reference's flag at this position)
    p(flag = 1) = c₁ / (c₀ + c₁)       counts start at (1, 1); both halve (rounding up)
                                       when their sum exceeds COUNT_LIMIT

Outside the map (left of column 0, above row 0) a flag counts as 0; a reference without a map
(key frame, lossless P-frame) has all flags 0. The probability is a float64 quotient of two
small integers, so both ends hand constriction bit-identical models.
"""

from __future__ import annotations

import constriction
import numpy as np

from polc.shared.errors import BitstreamError

CONTEXTS = 8
COUNT_LIMIT = 1024


class _Counts:
    """Adaptive integer counts per context (identical updates on both ends)."""

    def __init__(self) -> None:
        self.c = [[1, 1] for _ in range(CONTEXTS)]

    def p_one(self, ctx: int) -> float:
        c0, c1 = self.c[ctx]
        return c1 / (c0 + c1)

    def update(self, ctx: int, flag: int) -> None:
        counts = self.c[ctx]
        counts[flag] += 1
        if counts[0] + counts[1] > COUNT_LIMIT:
            counts[0], counts[1] = (counts[0] + 1) // 2, (counts[1] + 1) // 2


def _context(flags: np.ndarray, ref: np.ndarray, i: int, j: int) -> int:
    left = int(flags[i, j - 1]) if j else 0
    up = int(flags[i - 1, j]) if i else 0
    return left + 2 * up + 4 * int(ref[i, j])


def _reference_flags(ref_flags: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if ref_flags is None:
        return np.zeros(shape, np.uint8)
    if ref_flags.shape != shape:
        raise ValueError(f"reference skip map {ref_flags.shape} differs from {shape}")
    return ref_flags.astype(np.uint8)


def encode_skip_map(flags: np.ndarray, ref_flags: np.ndarray | None) -> bytes:
    """Bytes of the bool (h, w) ``flags`` given the reference's map (or None)."""
    flags = np.asarray(flags, np.uint8)
    ref = _reference_flags(ref_flags, flags.shape)
    counts = _Counts()
    probs = np.empty(flags.size, np.float64)
    h, w = flags.shape
    for i in range(h):
        for j in range(w):
            ctx = _context(flags, ref, i, j)
            probs[i * w + j] = counts.p_one(ctx)
            counts.update(ctx, int(flags[i, j]))
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(
        flags.ravel().astype(np.int32), constriction.stream.model.Bernoulli(perfect=False), probs
    )
    return coder.get_compressed().astype("<u4").tobytes()


def decode_skip_map(
    payload: bytes, shape: tuple[int, ...], ref_flags: np.ndarray | None
) -> np.ndarray:
    """Inverse of :func:`encode_skip_map` (BitstreamError on inconsistent data)."""
    if len(payload) % 4:
        raise BitstreamError("skip map length is not a multiple of 4 bytes")
    ref = _reference_flags(ref_flags, shape)
    flags = np.zeros(shape, np.uint8)
    counts = _Counts()
    h, w = shape
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, "<u4").astype(np.uint32))
        for i in range(h):
            for j in range(w):
                ctx = _context(flags, ref, i, j)
                model = constriction.stream.model.Bernoulli(counts.p_one(ctx), perfect=False)
                flag = int(coder.decode(model))
                flags[i, j] = flag
                counts.update(ctx, flag)
        leftover = not coder.is_empty()
    except Exception as exc:  # constriction reports corrupt data as ValueError/AssertionError
        raise BitstreamError(f"skip map decoding failed: {exc}") from exc
    if leftover:
        raise BitstreamError("skip map does not end where the model expects")
    return flags.astype(bool)
