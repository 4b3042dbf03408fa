"""The torch device of a training command's ``--device`` flag."""

from __future__ import annotations

import torch

from polc.shared.errors import ConfigError
from polc.training.distributed import local_device


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is available, else ``cpu``; an explicit
    ``cuda...`` without a CUDA device is a :class:`ConfigError`; under torchrun ``cuda`` is
    this process's GPU (``cuda:LOCAL_RANK``)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA device is available")
    return local_device(name)
