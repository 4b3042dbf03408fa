"""Temporal coding of a clip: GOPs of one key frame + P-frames (the bench's entry points).

    frame 0 ──key──► ref₀ ──P──► ref₁ ──P──► … ──P──► ref_{gop−1}   frame gop ──key──► …

Every P-frame refers to the previous decoded frame; α is constant over the clip (within a
GOP it must be: α changes only at key frames). The decoder rebuilds each reference from the
frame it just decoded, so a clip decodes exactly the encoder's ŷ (lossless P-frames: the
same ŷ as intra coding at that α; skip mode: the encoder's lossy ŷ).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.runtime import Codec, DecodedFrame


def encode_clip_temporal(
    codec: Codec,
    frames: Iterable[np.ndarray],
    alpha: float,
    gop: int,
    skip_tau: float | None = None,
    motion_threshold: float | None = None,
) -> list[bytes]:
    """Containers of ``frames`` (uint8 H×W×3) at ``alpha``: frame i is a key frame when
    i % gop == 0, else a P-frame against frame i − 1 (seq = index in the clip): lossless
    conditional (``skip_tau`` None, ŷ = intra's) or skip mode at threshold ``skip_tau``
    (with the motion gate at ``motion_threshold`` luma levels when given)."""
    if gop < 1:
        raise ValueError(f"gop must be >= 1, got {gop}")
    out: list[bytes] = []
    reference: ReferenceState | None = None
    for seq, image in enumerate(frames):
        data, reference = codec.encode_frame(
            image,
            alpha,
            seq,
            None if seq % gop == 0 else reference,
            skip_tau=skip_tau,
            motion_threshold=motion_threshold,
        )
        out.append(data)
    return out


def decode_clip(codec: Codec, containers: Iterable[bytes]) -> list[DecodedFrame]:
    """Decode what :func:`encode_clip_temporal` wrote (seq = index in the list)."""
    frames: list[DecodedFrame] = []
    reference: ReferenceState | None = None
    for seq, data in enumerate(containers):
        frame = codec.decode(data, reference)
        reference = frame.reference(seq)
        frames.append(frame)
    return frames
