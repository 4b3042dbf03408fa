"""Data-parallel training over processes launched by ``torchrun`` (or ``polc train ... --nproc N``).

Every process runs the same trainer. :func:`join_process_group` reads the variables torchrun
sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``) and joins the group:
NCCL when the model is on CUDA, gloo on the CPU. Without them (a plain run) it is a group of
one and nothing below communicates.

How a step is split (:meth:`Ranks.shard`): a trainer draws the *global* batch of a step from a
generator every rank seeds alike, and each rank keeps its slice. A run therefore sees the same
samples whatever its world size, so a checkpoint resumes on any number of processes and one
process and two reach the same loss after the same number of samples.

Gradients are averaged with one all-reduce per optimiser step (:func:`average_gradients`),
as ``DistributedDataParallel`` does, but after the backward pass rather than through a
wrapper around ``forward``: polc's step functions call the model's parts (``adapter.stem``,
``adapter.fcos``, ...) directly, which DDP's forward hook would not see.

``--accumulate N`` and ``--no-amp`` on the command line become ``POLC_TRAIN_ACCUMULATE`` /
``POLC_TRAIN_AMP`` in the environment, which the processes torchrun starts inherit
(``training/launch.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from polc.shared.errors import ConfigError
from polc.training.launch import ACCUMULATE_ENV, AMP_ENV

BatchT = TypeVar("BatchT", torch.Tensor, list)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: writes checkpoints, curves and outputs, shows the progress bar."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, batch: BatchT, part: int = 0, parts: int = 1) -> BatchT:
        """This rank's slice of a global batch; ``part`` of ``parts`` micro-batches when
        gradients are accumulated (slice ``part · world_size + rank``)."""
        pieces = self.world_size * parts
        if pieces == 1:
            return batch
        if len(batch) % pieces:
            raise ConfigError(
                f"batch size {len(batch)} does not split into {self.world_size} process(es) "
                f"× {parts} accumulation step(s): make it a multiple of {pieces}"
            )
        size = len(batch) // pieces
        start = (part * self.world_size + self.rank) * size
        return batch[start : start + size]


def current_ranks() -> Ranks:
    """The ranks of an initialised group, else of a plain single-process run."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Ranks()


def is_main_process() -> bool:
    """True in a plain run and on rank 0 (who writes the outputs)."""
    return current_ranks().is_main


def join_process_group(device: torch.device | str) -> Ranks:
    """Join the torchrun group (once per process): NCCL on CUDA, gloo on the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return Ranks()
    if not dist.is_initialized():
        cuda = torch.device(device).type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo")
    return current_ranks()


def local_device(name: str) -> str:
    """``cuda`` under torchrun -> this process's GPU ``cuda:LOCAL_RANK``; else ``name``."""
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return name


def broadcast_state(module: torch.nn.Module, buffers_only: bool = False) -> None:
    """Rank 0's parameters (and buffers) to every rank, in place."""
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    for t in tensors:
        dist.broadcast(t.data, src=0)


def average_gradients(params: Sequence[torch.nn.Parameter], world_size: int) -> None:
    """Mean gradient over the ranks, one all-reduce per dtype and device (a parameter
    without a gradient on this rank counts as zero)."""
    groups: dict[tuple[torch.dtype, torch.device], list[torch.nn.Parameter]] = {}
    for p in params:
        if p.requires_grad:
            groups.setdefault((p.dtype, p.device), []).append(p)
    for group in groups.values():
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group]
        )
        dist.all_reduce(flat)
        flat /= world_size
        offset = 0
        for p in group:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n


def mean_over_ranks(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of a scalar over the ranks (itself in a plain run)."""
    if not ranks.distributed:
        return value.detach()
    out = value.detach().clone().float()
    dist.all_reduce(out)
    return out / ranks.world_size


def accumulation_steps() -> int:
    """Micro-batches per optimiser step (``--accumulate``; default 1)."""
    try:
        steps = int(os.environ.get(ACCUMULATE_ENV, "1"))
    except ValueError:
        raise ConfigError(f"{ACCUMULATE_ENV} must be an integer") from None
    if steps < 1:
        raise ConfigError(f"{ACCUMULATE_ENV} must be at least 1")
    return steps


def amp_allowed() -> bool:
    """False after ``--no-amp``: no mixed precision even on CUDA."""
    return os.environ.get(AMP_ENV, "1") != "0"
