"""Turn a finished training run into shipped weights (fp16 state + integer wire tables)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from polc.shared.codec.config import CodecConfig
from polc.shared.codec.integer_hyper import export_layers, scale_thresholds
from polc.shared.codec.tables import bottleneck_tables, gaussian_tables
from polc.shared.codec.weights import to_tensors
from polc.shared.codec.wire import fingerprint_of
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import (
    WEIGHTS_DIR,
    load_torch_file,
    load_weights,
    save_weights,
    tagged,
)

log = logging.getLogger(__name__)


def export_codec(model: RDCCodec, meta: dict) -> dict:
    """Round weights to fp16 (what ships), then derive every wire table from *those*."""
    # Learned weights ship as fp16; constant buffers (likelihood / scale lower bounds,
    # GDN pedestals) stay fp32: a 1e-9 likelihood bound rounds to 0 in fp16, and training
    # that continues from shipped weights then takes log2(0).
    learned = {name for name, _ in model.named_parameters()}
    half = {
        k: (v.half() if v.is_floating_point() and k in learned else v)
        for k, v in model.state_dict().items()
    }
    # the shipped model is the fp16-rounded one: tables must come from the same numbers
    model.load_state_dict({k: v.float() for k, v in half.items()})
    model.eval()
    wire = {
        "fingerprint": fingerprint_of(half),
        "log_gain_y": model.gain_y.log_gain.detach().double().numpy(),
        "log_gain_s": model.gain_s.log_gain.detach().double().numpy(),
        "integer_hs": export_layers(model.h_s),
        "thresholds": scale_thresholds(model.gaussian.scale_table),
        "tables_y": gaussian_tables(model.gaussian).to_state(),
        "tables_z": bottleneck_tables(model.entropy_z).to_state(),
        "tables_s": bottleneck_tables(model.entropy_s).to_state(),
        "channels": [model.arch.M, model.arch.N, model.arch.aux_channels],
    }
    return tagged(
        "codec",
        {
            "arch": model.arch.model_dump(),
            "state_dict": half,
            "wire": to_tensors(wire),
            "meta": meta,
        },
    )


def ship_run(run_dir: Path, out_dir: Path | None = None) -> Path:
    out_dir = out_dir or WEIGHTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = load_torch_file(run_dir / "codec_float.pt")
    cfg = CodecConfig.model_validate(raw["config"])
    model = RDCCodec(cfg.arch)
    model.load_state_dict(raw["model"])
    meta = {
        "config_name": cfg.name,
        "train_seconds": float(raw.get("train_seconds", 0)),
        "stage1_steps": cfg.stage1.steps,
        "stage2_steps": cfg.stage2.steps,
    }
    shipped = export_codec(model, meta)
    save_weights(out_dir / "codec.pt", "codec", shipped)
    (out_dir / "codec.json").write_text(
        json.dumps(
            {
                "fingerprint": shipped["wire"]["fingerprint"].numpy().tobytes().hex(),
                "config": raw["config"],
                "meta": meta,
            },
            indent=2,
        )
    )
    teacher = run_dir / "teacher.pt"
    if teacher.is_file():
        t = load_weights(teacher, "teacher")
        t["state_dict"] = {
            k: (v.half() if v.is_floating_point() else v) for k, v in t["state_dict"].items()
        }
        save_weights(out_dir / "teacher.pt", "teacher", t)
    for name in ("adapter_cls.pt", "detector.pt", "adapter_det.pt"):  # already fp16
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, out_dir / name)
    log.info("shipped weights to %s", out_dir)
    return out_dir / "codec.pt"
