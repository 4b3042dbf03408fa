"""Resumable checkpoints: written atomically (temp file + rename) so a kill never corrupts one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from polc.shared.durable import atomic_write
from polc.shared.errors import ConfigError


def save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def load_if_exists(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def save_training_state(path: Path, model: torch.nn.Module, step: int,
                        **optimizers: torch.optim.Optimizer) -> None:
    """Checkpoint {"model", "step", <name>: optimizer state} for :func:`restore_training_state`."""
    save_atomic({"model": model.state_dict(), "step": step,
                 **{name: opt.state_dict() for name, opt in optimizers.items()}}, path)


def restore_training_state(path: Path, model: torch.nn.Module,
                           **optimizers: torch.optim.Optimizer) -> int:
    """Load a checkpoint written by :func:`save_training_state`; the step to resume from
    (0 without a checkpoint)."""
    state = load_if_exists(path)
    if state is None:
        return 0
    try:
        model.load_state_dict(state["model"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state[name])
    except (RuntimeError, ValueError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[-1].strip()[:200]
        raise ConfigError(f"{path}: this checkpoint was written by a differently configured "
                          f"model ({first_line}); resume with the configuration that wrote it "
                          "or start in a new --run-dir") from None
    return int(state["step"])
