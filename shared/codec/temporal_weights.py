"""The temporal weights file (kind ``temporal``) -> the P-frame wire model, and its export.

File format (``polc.shared.models.weights_file``, kind ``temporal``, ``polc-temporal-2``):
    {"format": "polc-temporal-2", "arch": {"M", "hidden"[, "skip_hidden"]},
     "state_dict": {fp16 h_t}[, "skip_state_dict": {fp16 h_k}],
     "wire": {"fingerprint", "integer_ht", "z_indexes"[, "integer_hk", "skip_fingerprint"]},
     "codec_fingerprint": the codec it was trained for, "meta": {...}}

h_k (the skip-mode context model) is optional; ``polc-temporal-1`` files (no h_k, otherwise
the same) are still read, and skip-mode P-frames are then coded with h_t as before. Two
identities: ``fingerprint`` covers h_t, the ẑ indexes and the codec (what frames coded with
h_t name: the same as the ``polc-temporal-1`` file with that h_t, so its P-frames still
decode after h_k is added); ``skip_fingerprint`` covers those and h_k (what skip-mode frames
coded with h_k name).

The integer layers are derived from the fp16-rounded weights (what ships), and the file
names the codec it belongs to: loading it next to another codec is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from polc.shared.codec.integer_hyper import FixedPointLayer
from polc.shared.codec.integer_temporal import export_context_layers
from polc.shared.codec.temporal_wire import TemporalWireModel
from polc.shared.codec.weights import to_numpy, to_tensors
from polc.shared.codec.wire import WireModel, fingerprint_of
from polc.shared.models.codec.temporal import TemporalContext
from polc.shared.models.codec.temporal_skip import SkipContext
from polc.shared.models.weights_file import default_temporal_path, load_weights, tagged


def _to_fp16(model: nn.Module) -> dict[str, torch.Tensor]:
    """Round ``model`` to fp16 in place (what ships); returns the fp16 state dict."""
    half = {k: v.detach().half() for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in half.items()})
    return half


def _layer_arrays(prefix: str, layers: list[FixedPointLayer]) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.{i}.{k}": np.asarray(v)
        for i, layer in enumerate(layers)
        for k, v in layer.items()
    }


def export_temporal(
    model: TemporalContext,
    z_indexes: np.ndarray,
    codec_fingerprint: bytes,
    meta: dict,
    skip_model: SkipContext | None = None,
) -> dict:
    """Round h_t (and h_k when given) to fp16 (what ships), derive the integer layers from
    those numbers."""
    half = _to_fp16(model)
    z_indexes = np.asarray(z_indexes, np.int64)
    layers = export_context_layers(model)
    covered = {
        **_layer_arrays("ht", layers),
        "z_indexes": z_indexes,
        "codec": np.frombuffer(codec_fingerprint, np.uint8),
    }
    wire: dict = {"integer_ht": layers, "z_indexes": z_indexes}
    arch = {"M": model.M, "hidden": model.hidden}
    extra: dict = {}
    wire["fingerprint"] = fingerprint_of(covered)
    if skip_model is not None:
        extra["skip_state_dict"] = _to_fp16(skip_model)
        wire["integer_hk"] = skip_layers = export_context_layers(skip_model)
        covered |= _layer_arrays("hk", skip_layers)
        wire["skip_fingerprint"] = fingerprint_of(covered)
        arch["skip_hidden"] = skip_model.hidden
    return tagged(
        "temporal",
        {
            "arch": arch,
            "state_dict": half,
            **extra,
            "wire": to_tensors(wire),
            "codec_fingerprint": torch.frombuffer(
                bytearray(codec_fingerprint), dtype=torch.uint8
            ).clone(),
            "meta": meta,
        },
    )


def read_temporal_file(path: Path | None = None) -> dict:
    path = Path(path) if path is not None else default_temporal_path()
    hint = "train with `polc train temporal`, or set POLC_TEMPORAL_WEIGHTS"
    return load_weights(path, "temporal", missing_hint=hint)


def _bytes(t) -> bytes:
    return bytes(np.asarray(to_numpy(t)).astype(np.uint8).tobytes())


def build_temporal_wire(state: dict, wire: WireModel) -> TemporalWireModel:
    """The P-frame wire model of a temporal weights file (ModelError for another codec)."""
    wire_state = to_numpy(state["wire"])
    for key in ("fingerprint", "skip_fingerprint"):
        if key in wire_state:
            wire_state[key] = _bytes(wire_state[key])
    wire_state["codec_fingerprint"] = _bytes(state["codec_fingerprint"])
    return TemporalWireModel(wire_state, wire)


def build_temporal_context(state: dict) -> TemporalContext:
    """The float h_t of a temporal weights file (to continue training from it)."""
    model = TemporalContext(int(state["arch"]["M"]), int(state["arch"]["hidden"]))
    model.load_state_dict({k: v.float() for k, v in state["state_dict"].items()})
    return model


def build_skip_context(state: dict) -> SkipContext | None:
    """The float h_k of a temporal weights file, None when it has none."""
    if "skip_state_dict" not in state:
        return None
    model = SkipContext(int(state["arch"]["M"]), int(state["arch"]["skip_hidden"]))
    model.load_state_dict({k: v.float() for k, v in state["skip_state_dict"].items()})
    return model
