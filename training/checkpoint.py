"""Resumable checkpoints: written atomically (temp file + rename) so a kill never corrupts
one, read back with ``weights_only=True`` (model and optimizer state dicts are tensors and
plain containers) like every weights file."""

from __future__ import annotations

from pathlib import Path

import torch

from polc.shared.errors import ConfigError
from polc.shared.models.weights_file import load_torch_file, save_torch_file


def load_if_exists(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return load_torch_file(path)


def save_training_state(
    path: Path, model: torch.nn.Module, step: int, **optimizers: torch.optim.Optimizer
) -> None:
    """Checkpoint {"model", "step", <name>: optimizer state} for :func:`restore_training_state`."""
    save_torch_file(
        {
            "model": model.state_dict(),
            "step": step,
            **{name: opt.state_dict() for name, opt in optimizers.items()},
        },
        path,
    )


def restore_training_state(
    path: Path, model: torch.nn.Module, **optimizers: torch.optim.Optimizer
) -> int:
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
        raise ConfigError(
            f"{path}: this checkpoint was written by a differently configured "
            f"model ({first_line}); resume with the configuration that wrote it "
            "or start in a new --run-dir"
        ) from None
    return int(state["step"])
