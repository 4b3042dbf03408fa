"""Helpers for the P-frame tests: an untrained temporal model exported for the small test
codec (exactness holds for any weights), and short synthetic fixed-camera clips."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from polc.shared.codec.container import FrameContainer
from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.runtime import Codec, DecodedFrame
from polc.shared.codec.temporal_weights import export_temporal
from polc.shared.data.synth.video import render_video_frames
from polc.shared.models.codec.temporal import TemporalContext
from polc.shared.models.codec.temporal_skip import SkipContext
from polc.shared.models.weights_file import save_weights

CLIP_SIZE = (128, 96)  # small frames keep the fast suite fast (padded to 128×128)


def write_temporal_file(
    codec: Codec, path: Path, hidden: int = 16, seed: int = 0, skip_hidden: int | None = None
) -> Path:
    """An untrained h_t (and h_k with ``skip_hidden`` channels) for ``codec``, exported
    exactly like the shipped one."""
    torch.manual_seed(seed)
    model = TemporalContext(codec.wire.M, hidden)
    skip_model = None if skip_hidden is None else SkipContext(codec.wire.M, skip_hidden)
    z_indexes = np.arange(codec.wire.N) % len(codec.wire.tables_y)
    state = export_temporal(model, z_indexes, codec.wire.fingerprint, {"test": True}, skip_model)
    save_weights(path, "temporal", state)
    return path


def temporal_codec(codec_file: Path, temporal_file: Path) -> Codec:
    return Codec.load(codec_file, temporal_path=temporal_file)


@functools.cache
def clip(n: int, seed: int = 7) -> tuple[np.ndarray, ...]:
    """``n`` consecutive frames of a fixed-camera synthetic clip (uint8 H×W×3)."""
    return tuple(image for image, _ in render_video_frames(n, seed, CLIP_SIZE))


def decode_stored(
    codec: Codec,
    read: Callable[[int], bytes],
    seq: int,
    references: dict[int, ReferenceState] | None = None,
) -> DecodedFrame:
    """Decode stored frame ``seq`` (``read``: seq -> base layer): a P-frame from its key
    frame, following the reference each frame names. ``references`` (seq -> state) keeps
    the states decoded on the way, for the next call."""
    references = {} if references is None else references
    chain = [seq]
    while (
        link := FrameContainer.from_bytes(read(chain[-1])).reference
    ) is not None and link.seq not in references:
        chain.append(link.seq)
    for s in reversed(chain):
        container = FrameContainer.from_bytes(read(s))
        link = container.reference
        frame = codec.decode(container, None if link is None else references[link.seq])
        references[s] = frame.reference(s)
    return frame
