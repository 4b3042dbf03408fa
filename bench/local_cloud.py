"""The in-process cloud the ingest benchmarks measure: its configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polc.cloud.config import CloudConfig, load_config


def bench_cloud_config(weights: Path, store: Path, window: int, **overrides: Any) -> CloudConfig:
    """A cloud on a free loopback port without ``/metrics``: the codec ``weights``, the store
    in ``store``, ``window`` frames in flight per stream; dotted ``overrides`` on top."""
    values = {
        "listen": "127.0.0.1:0",
        "metrics_listen": "",
        "codec.weights": str(weights),
        "store.path": str(store),
        "ingest.window": window,
    }
    return load_config(None, {**values, **overrides})
