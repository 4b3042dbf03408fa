"""polc on a clip for ``polc bench video``: every frame coded alone (intra), and the temporal
(P-frame) codec through one pluggable hook.

Both give, per frame, the decoded ŷ (what the detection adapter reads in the cloud) and the
bits of the frame's base layer; encode / decode are timed per frame (wall, this process's
torch threads). Decode stops at ŷ: the cloud never decodes pixels for the machine task.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import torch

from polc.shared.codec.runtime import Codec

# ── temporal codec hook ──────────────────────────────────────────────────────────────────
# The temporal codec (issue 16) lives in TEMPORAL_MODULE once it lands. The bench needs
#     encode_clip_temporal(codec, frames, alpha, gop, **mode) -> list[bytes]  one per frame
#         (mode: e.g. skip_tau=τ for skip-mode P-frames; none = lossless conditional)
#     decode_clip(codec, blobs) -> list[DecodedFrame]                 ŷ of every frame, in order
# and counts frame i as a key (I) frame when i % gop == 0, every other frame as a P-frame.
# Until the module exists the method is reported "not available"; nothing is substituted.
TEMPORAL_MODULE = "polc.shared.codec.temporal"
TEMPORAL_FUNCTIONS = ("encode_clip_temporal", "decode_clip")


def temporal_codec() -> tuple[ModuleType | None, str]:
    """(the temporal codec module, "") or (None, why it is not available)."""
    try:
        module = importlib.import_module(TEMPORAL_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and TEMPORAL_MODULE.startswith(exc.name):
            return None, f"no temporal codec yet (module {TEMPORAL_MODULE} not found)"
        raise
    missing = [f for f in TEMPORAL_FUNCTIONS if not hasattr(module, f)]
    if missing:
        return None, f"{TEMPORAL_MODULE} has no {', '.join(missing)}"
    return module, ""


# ── end of the temporal codec hook ───────────────────────────────────────────────────────


@dataclass
class CodedLatents:
    """One clip coded by polc at one α."""

    y_hats: list[torch.Tensor]  #: decoded ŷ per frame, (1, M, h, w)
    bits: list[int]  #: base-layer bits per frame
    encode_s: float
    decode_s: float
    key_frames: list[bool] = field(default_factory=list)  #: temporal only: I (True) or P


def code_intra(codec: Codec, frames: np.ndarray, alpha: float) -> CodedLatents:
    """Every frame coded alone by the shipped codec (base layer only)."""
    blobs = []
    t0 = time.perf_counter()
    for frame in frames:
        blobs.append(codec.encode(frame, alpha))
    encode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = [codec.decode(b) for b in blobs]
    decode_s = time.perf_counter() - t0
    return CodedLatents(
        [d.y_hat for d in decoded],
        [len(b) * 8 for b in blobs],
        encode_s,
        decode_s,
        [True] * len(blobs),
    )


def code_temporal(
    temporal: ModuleType, codec: Codec, frames: np.ndarray, alpha: float, gop: int, **mode: Any
) -> CodedLatents:
    """The clip through the temporal codec's hook functions (see TEMPORAL_MODULE); ``mode``
    goes to ``encode_clip_temporal`` (e.g. ``skip_tau``)."""
    t0 = time.perf_counter()
    blobs = list(temporal.encode_clip_temporal(codec, list(frames), alpha, gop, **mode))
    encode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = list(temporal.decode_clip(codec, blobs))
    decode_s = time.perf_counter() - t0
    if len(blobs) != len(frames) or len(decoded) != len(frames):
        raise RuntimeError(
            f"temporal codec returned {len(blobs)} containers / {len(decoded)} "
            f"frames for {len(frames)} frames"
        )
    return CodedLatents(
        [d.y_hat for d in decoded],
        [len(b) * 8 for b in blobs],
        encode_s,
        decode_s,
        [i % gop == 0 for i in range(len(blobs))],
    )
