"""The codec weights file -> the codec module + its wire model (tables, integer h_s).

File format (``polc.shared.models.weights_file``, kind ``codec``):
    {"format": "polc-codec-1", "arch": {...}, "state_dict": {fp16 tensors},
     "wire": {fingerprint, log_gain_y, log_gain_s, integer_hs, thresholds, tables_*},
     "meta": {...}}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from polc.shared.codec.wire import WireModel
from polc.shared.errors import ModelError
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import default_codec_path, load_weights


def to_numpy(obj):
    if isinstance(obj, torch.Tensor):
        arr = obj.numpy()
        # int16 is only a storage width (see to_tensors): readers get the int32 they always had
        return arr.astype(np.int32) if arr.dtype == np.int16 else arr
    if isinstance(obj, dict):
        return {k: to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_numpy(v) for v in obj]
    return obj


def to_tensors(obj):
    """numpy containers -> torch tensors (so the file loads with weights_only=True)."""
    if isinstance(obj, np.ndarray | np.generic):
        arr = np.array(obj)
        peak = int(np.abs(arr).max()) if arr.dtype == np.int64 and arr.size else 0
        if arr.dtype == np.int64 and peak < 2**31:
            # stored in the narrowest of int16 / int32 that holds the values (integer h_s
            # weights fit int16: half the shipped size again); to_numpy reads both as int32
            arr = arr.astype(np.int16 if peak < 2**15 else np.int32)
        return torch.from_numpy(arr)
    if isinstance(obj, bytes):
        return torch.frombuffer(bytearray(obj), dtype=torch.uint8).clone()
    if isinstance(obj, dict):
        return {k: to_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_tensors(v) for v in obj]
    return obj


def read_codec_file(path: Path | None = None) -> dict:
    path = Path(path) if path is not None else default_codec_path()
    hint = "train with `polc train codec` and `polc train ship`, or set POLC_CODEC_WEIGHTS"
    return load_weights(path, "codec", missing_hint=hint)


def build_model(state: dict, device: str = "cpu") -> tuple[RDCCodec, WireModel]:
    arch = ArchitectureConfig.model_validate(state["arch"])
    model = RDCCodec(arch)
    missing, unexpected = model.load_state_dict(
        {k: v.float() for k, v in state["state_dict"].items()}, strict=False
    )
    missing = [m for m in missing if not m.startswith(("gaussian.", "entropy_"))]
    if missing or unexpected:
        raise ModelError(
            f"weights do not fit the architecture: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    wire_state = to_numpy(state["wire"])
    wire_state["fingerprint"] = bytes(wire_state["fingerprint"].astype(np.uint8).tobytes())
    return model.to(device).eval(), WireModel(wire_state)
