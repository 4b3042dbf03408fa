"""What both demo modes set up the same way: the analyzer the cloud runs (adapters on the
latent when bundled, else the pixel teacher, else none) and the cloud's and edge's
configurations on loopback ports and temporary directories, the edge's encoder backend."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polc.cloud.config import CloudConfig
from polc.cloud.config import load_config as load_cloud_config
from polc.edge.backends import EncoderBackend, build_encoder
from polc.edge.config import EdgeConfig, EncoderSettings
from polc.shared.codec.runtime import Codec
from polc.shared.models.weights_file import WEIGHTS_DIR, default_teacher_path


@dataclass(frozen=True)
class AnalyzerChoice:
    kind: str  # adapter | pixel-teacher | none
    teacher: Path
    has_teacher: bool

    @property
    def text(self) -> str:
        return {
            "adapter": "POLC adapters on the latent (classes + boxes, no pixel decoding)",
            "pixel-teacher": "pixel teacher on x̂₁",
            "none": "off (no teacher weights)",
        }[self.kind]


def choose_analyzer(args: argparse.Namespace) -> AnalyzerChoice:
    """The product's path: POLC adapters straight on ŷ (no pixel decoding) when their
    weights are bundled, else the pixel teacher on the decoded x̂₁."""
    teacher = Path(args.teacher) if args.teacher else default_teacher_path()
    has_teacher = Path(teacher).is_file()
    adapters = has_teacher and (WEIGHTS_DIR / "adapter_cls.pt").is_file() and not args.teacher
    kind = "adapter" if adapters else "pixel-teacher" if has_teacher else "none"
    return AnalyzerChoice(kind, teacher, has_teacher)


def cloud_config(
    args: argparse.Namespace, tmp: Path, analyzer: AnalyzerChoice, **overrides: Any
) -> CloudConfig:
    return load_cloud_config(
        None,
        {
            "listen": "127.0.0.1:0",
            "metrics_listen": "127.0.0.1:0",
            "store.path": str(tmp / "cloud-store"),
            "store.synchronous": "normal",
            "codec.weights": args.weights,
            "analyzer.kind": analyzer.kind,
            "analyzer.teacher_weights": str(analyzer.teacher) if analyzer.has_teacher else None,
            "batching.max_queue_delay_ms": 2.0,
            "connection.shutdown_grace_seconds": 2.0,
            **overrides,
        },
    )


def edge_config(args: argparse.Namespace, tmp: Path, **overrides: Any) -> EdgeConfig:
    """The demo camera on the synthetic clip (``overrides``: top-level sections merged)."""
    rate = (
        {"mode": "target", "target_kbps": args.target_kbps}
        if args.target_kbps
        else {"mode": "fixed", "alpha": args.alpha}
    )
    values: dict[str, Any] = {
        "camera_id": "demo-cam",
        "edge_id": "demo-edge",
        "metrics_listen": "127.0.0.1:0",
        "source": {
            "kind": "synthetic",
            "width": args.width,
            "height": args.height,
            "frames": args.frames,
            "fps": args.fps,
            "seed": args.seed,
        },
        "encoder": {
            "backend": args.backend,
            "weights": args.weights,
            "cache_dir": str(tmp / "onnx"),
        },
        "rate": rate,
        "enhancement": {"mode": "on-demand"},
        "spool": {"path": str(tmp / "edge-spool")},
        "uplink": {"server": "127.0.0.1:1", "backoff_initial_seconds": 0.2},
        "exit_when_drained": False,
    }
    for section, extra in overrides.items():
        values[section] = {**values.get(section, {}), **extra}
    return EdgeConfig.model_validate(values)


def encoder_backend(args: argparse.Namespace, codec: Codec, tmp: Path) -> EncoderBackend:
    """The edge's encoder: the demo's torch codec itself, or its ONNX export."""
    if args.backend == "torch":
        return EncoderBackend(codec, codec.encoder, "torch:cpu")
    return build_encoder(
        EncoderSettings(backend="onnx", weights=args.weights, cache_dir=tmp / "onnx"), codec
    )
