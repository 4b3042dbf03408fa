"""The codec a benchmark evaluates: a shipped weights file (``polc train ship``) or a
training file of ``polc train codec`` (``codec_float.pt``, ``stage1_ckpt.pt``,
``stage2_ckpt.pt``), exported on the fly exactly as ``polc train ship`` would."""

from __future__ import annotations

from pathlib import Path

import yaml

from polc.shared.codec.config import CodecConfig
from polc.shared.codec.export import export_codec
from polc.shared.codec.runtime import Codec
from polc.shared.codec.weights import build_model
from polc.shared.errors import ModelError
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import load_torch_file

#: the name a benchmark's model option takes for the bundled codec
BUNDLED = "bundled"


def load_codec(path: str | Path | None) -> Codec:
    """The bundled codec (None or :data:`BUNDLED`), a shipped codec file, or a training
    checkpoint; a checkpoint's configuration comes from the file or the ``config.yaml`` next
    to it."""
    if path is None or path == BUNDLED:
        return Codec.load()
    path = Path(path)
    raw = load_torch_file(path)
    if not isinstance(raw, dict) or "model" not in raw:
        return Codec.load(path)  # a shipped file (or ModelError naming what it is not)
    config = raw.get("config")
    if config is None:
        config_file = path.parent / "config.yaml"
        if not config_file.is_file():
            raise ModelError(f"{path}: a training checkpoint without {config_file}")
        config = yaml.safe_load(config_file.read_text())
    cfg = CodecConfig.model_validate(config)
    model = RDCCodec(cfg.arch)
    model.load_state_dict(raw["model"])
    meta = {"config_name": cfg.name, "checkpoint": str(path), "step": raw.get("step")}
    model, wire = build_model(export_codec(model, meta))
    return Codec(model, wire, meta=meta)
