"""The temporal weights file (kind ``temporal``) -> the P-frame wire model, and its export.

File format (``polc.shared.models.weights_file``, kind ``temporal``, ``polc-temporal-1``):
    {"format": "polc-temporal-1", "arch": {"M", "hidden"}, "state_dict": {fp16 h_t},
     "wire": {"fingerprint", "integer_ht", "z_indexes"},
     "codec_fingerprint": the codec it was trained for, "meta": {...}}

The integer layers are derived from the fp16-rounded weights (what ships), and the file
names the codec it belongs to: loading it next to another codec is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from polc.shared.codec.integer_temporal import export_temporal_layers
from polc.shared.codec.temporal_wire import TemporalWireModel
from polc.shared.codec.weights import to_numpy, to_tensors
from polc.shared.codec.wire import WireModel, fingerprint_of
from polc.shared.models.codec.temporal import TemporalContext
from polc.shared.models.weights_file import default_temporal_path, load_weights, tagged


def export_temporal(
    model: TemporalContext, z_indexes: np.ndarray, codec_fingerprint: bytes, meta: dict
) -> dict:
    """Round h_t to fp16 (what ships), derive the integer layers from those numbers."""
    half = {k: v.detach().half() for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in half.items()})
    z_indexes = np.asarray(z_indexes, np.int64)
    layers = export_temporal_layers(model)
    fingerprint = fingerprint_of(
        {
            **{
                f"ht.{i}.{k}": np.asarray(v)
                for i, layer in enumerate(layers)
                for k, v in layer.items()
            },
            "z_indexes": z_indexes,
            "codec": np.frombuffer(codec_fingerprint, np.uint8),
        }
    )
    wire = {"fingerprint": fingerprint, "integer_ht": layers, "z_indexes": z_indexes}
    return tagged(
        "temporal",
        {
            "arch": {"M": model.M, "hidden": model.hidden},
            "state_dict": half,
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
    wire_state["fingerprint"] = _bytes(wire_state["fingerprint"])
    wire_state["codec_fingerprint"] = _bytes(state["codec_fingerprint"])
    return TemporalWireModel(wire_state, wire)


def build_temporal_context(state: dict) -> TemporalContext:
    """The float h_t of a temporal weights file (to continue training from it)."""
    model = TemporalContext(int(state["arch"]["M"]), int(state["arch"]["hidden"]))
    model.load_state_dict({k: v.float() for k, v in state["state_dict"].items()})
    return model
