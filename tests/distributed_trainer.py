"""A tiny trainer on :class:`~polc.training.loop.TrainLoop` for the multi-process tests, run
as a script (plain: one process; under ``torch.distributed.run``: one per rank)::

    python tests/distributed_trainer.py RUN_DIR STEPS [STOP]

(``STOP``: every rank exits at that step, after its checkpoint: an interrupted run.)

A small conv net (group norm: no batch statistics) learns 4 classes of random 8 × 8 images.
Each step draws its global batch from a generator seeded by the step (alike on every rank and
after a resume) and keeps this rank's slice (``loop.shard``). Every rank saves its final
weights to ``RUN_DIR/rank<R>.pt``; the loss curve is rank 0's ``RUN_DIR/curves/tiny_train.csv``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from polc.training.loop import Evaluation, StepResult, TrainLoop
from polc.training.schedule import WarmupCosine

GLOBAL_BATCH = 8


def main(run_dir: Path, steps: int, stop: int | None = None) -> None:
    torch.manual_seed(0)
    data = torch.randn(64, 3, 8, 8)
    labels = torch.randint(0, 4, (64,))
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.GroupNorm(2, 8),
        nn.GELU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    loop = TrainLoop(
        "tiny",
        model,
        opt,
        steps=steps,
        schedule=WarmupCosine(3e-2, 3e-3, 2),
        checkpoint=run_dir / "tiny_ckpt.pt",
        eval_every=4,
        checkpoint_every=2,
    )

    def step(at: int) -> StepResult:
        if at == stop:
            sys.exit(0)
        gen = torch.Generator().manual_seed(1000 + at)
        idx = loop.shard(torch.randint(0, len(data), (GLOBAL_BATCH,), generator=gen))
        return StepResult(F.cross_entropy(model(data[idx]), labels[idx]))

    @torch.no_grad()
    def evaluate(at: int) -> Evaluation:
        acc = (model(data).argmax(1) == labels).float().mean().item()
        return Evaluation(f"tiny step {at}: accuracy {acc:.3f}", {"accuracy": acc})

    loop.run(step, evaluate)
    torch.save(model.state_dict(), run_dir / f"rank{loop.ranks.rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
