"""Data for polc: the synthetic traffic-camera world and loaders for real datasets.

The synthetic API (``synth.__all__``) is imported eagerly (numpy + PIL only); the
torch-based loaders and transforms are imported on first access so that ``polc data`` stays
light.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import synth
from .synth import *  # noqa: F403  (the synthetic world's API, synth.__all__)

_LAZY = {
    "ImageFolderDataset": "loaders",
    "CocoDetectionDataset": "loaders",
    "ImageTreeDataset": "loaders",
    "collate_detection": "loaders",
}

__all__ = [*synth.__all__, *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
