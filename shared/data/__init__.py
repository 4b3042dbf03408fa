"""Data for polc: the synthetic traffic-camera world and loaders for real datasets.

The synthetic API is imported eagerly (numpy + PIL only); the torch-based loaders and
transforms are imported on first access so that ``polc data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from .synth import (
    CLASSES,
    GENERATOR_VERSION,
    cache_root,
    ensure_synthetic,
    render_cls_crop,
    render_scene,
    render_video_frames,
    write_dataset,
)

_LAZY = {
    "ImageFolderDataset": "loaders",
    "CocoDetectionDataset": "loaders",
    "ImageTreeDataset": "loaders",
    "collate_detection": "loaders",
}

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "cache_root",
    "ensure_synthetic",
    "render_cls_crop",
    "render_scene",
    "render_video_frames",
    "write_dataset",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
