"""The one training loop of every trainer (teacher, codec stages, detector, adapters).

A trainer builds its model and optimiser and hands them to a :class:`TrainLoop`, which
resumes from the run's checkpoint at once: :attr:`TrainLoop.step` is the step it continues
at, so the trainer seeds its batch generators from it. :meth:`TrainLoop.run` then repeats,
until the configured number of steps:

    learning rate from the schedule → step function (forward pass, loss) × accumulation
    steps, each backward → (all-reduce of the gradients) → (gradient clipping) → optimiser
    step → (auxiliary loss and its optimiser) → progress bar with postfix → checkpoint every
    ``checkpoint_every`` steps and at the end (written atomically: a kill never corrupts it,
    a rerun continues at its step) → evaluation every ``eval_every`` steps and at the end,
    its line printed under the bar and its metrics added to the curves
    (``RUN_DIR/curves/``, see ``training/curves.py``).

Under torchrun (``polc train ... --nproc N``) every process runs the trainer and this loop
makes it data-parallel (see ``training/distributed.py``): the processes join the group,
start from rank 0's weights, draw the same global batch and keep their slice of it
(:meth:`TrainLoop.shard`), average their gradients before each optimiser step; only rank 0
shows progress, evaluates, writes checkpoints and curves. A checkpoint holds no world size:
any number of processes resumes it. On CUDA the step functions run under autocast (fp16)
with a gradient scaler unless the trainer or ``--no-amp`` turns it off; ``--accumulate N``
sums the gradients of N micro-batches per optimiser step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from polc.training.checkpoint import restore_training_state, save_training_state
from polc.training.curves import CurveLog
from polc.training.distributed import (
    BatchT,
    accumulation_steps,
    amp_allowed,
    average_gradients,
    broadcast_state,
    join_process_group,
    mean_over_ranks,
)
from polc.training.schedule import WarmupCosine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """What a step function returns: the loss to minimise and what the progress bar shows
    next to it (tensors are shown with three decimals, strings as they are)."""

    loss: torch.Tensor
    shown: Mapping[str, torch.Tensor | str] = field(default_factory=dict)

    def postfix(self, loss: float | None = None) -> dict[str, str]:
        """``loss``: the value to show instead of this step's (the mean over ranks)."""
        return {
            "loss": f"{self.loss.item() if loss is None else loss:.3f}",
            **{k: v if isinstance(v, str) else f"{v.item():.3f}" for k, v in self.shown.items()},
        }


@dataclass(frozen=True)
class AuxiliaryLoss:
    """A second objective with its own optimiser, minimised after each main update (the
    codec's entropy-model quantiles); checkpointed as ``aux_optimizer``."""

    optimizer: torch.optim.Optimizer
    loss: Callable[[], torch.Tensor]


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation returns: the line printed under the progress bar and the metrics
    added to the run's curves (bpp, PSNR, top-1, mAP, ...)."""

    line: str
    metrics: Mapping[str, float] = field(default_factory=dict)


#: one training step: a batch through the model at this step; None skips the batch
#: (no update, no step counted)
StepFunction = Callable[[int], StepResult | None]
#: the evaluation at a step: its line (str) or its line and metrics (Evaluation)
EvalFunction = Callable[[int], "str | Evaluation"]


class TrainLoop:
    """Schedule, update, progress bar, checkpoint and evaluation cadence of one training run
    of ``model`` with ``optimizer`` (see the module docstring)."""

    def __init__(
        self,
        desc: str,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        steps: int,
        schedule: WarmupCosine,
        checkpoint: Path,
        eval_every: int,
        checkpoint_every: int = 250,
        clip_norm: float | None = None,
        auxiliary: AuxiliaryLoss | None = None,
        postfix_every: int = 1,
        amp: bool | None = None,
    ):
        """``amp``: mixed precision; None = on when the model is on CUDA (unless
        ``--no-amp``), False for models whose losses need fp32 (the codec's likelihoods)."""
        self.desc, self.model, self.optimizer = desc, model, optimizer
        self.steps, self.schedule, self.checkpoint = steps, schedule, checkpoint
        self.eval_every, self.checkpoint_every = eval_every, checkpoint_every
        self.clip_norm, self.auxiliary, self.postfix_every = clip_norm, auxiliary, postfix_every
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        self.ranks = join_process_group(self.device)
        self.accumulate = accumulation_steps()
        cuda = self.device.type == "cuda"
        self.amp = (cuda and amp_allowed()) if amp is None else (amp and cuda)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self._micro = 0
        self.step = restore_training_state(checkpoint, model, **self._optimizers())
        if self.step:
            log.info("resuming %s from step %d", desc, self.step)
        if self.ranks.distributed:
            broadcast_state(model)
        self.curves = (
            CurveLog(checkpoint.parent / "curves", checkpoint.stem.removesuffix("_ckpt"), self.step)
            if self.ranks.is_main
            else None
        )
        self._started = time.time()

    def shard(self, batch: BatchT) -> BatchT:
        """This process's part of the step's global batch (all of it in a plain run without
        accumulation): draw the global batch from a generator seeded alike on every rank."""
        return self.ranks.shard(batch, self._micro, self.accumulate)

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        extra = {} if self.auxiliary is None else {"aux_optimizer": self.auxiliary.optimizer}
        return {"optimizer": self.optimizer, **extra}

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def elapsed(self) -> float:
        """Seconds since :meth:`run` started."""
        return time.time() - self._started

    def run(self, step_fn: StepFunction, evaluate: EvalFunction) -> None:
        """Train from :attr:`step` to ``steps`` (nothing to do when the checkpoint is
        already complete)."""
        self.model.train()
        main = self.ranks.is_main
        bar = tqdm(
            total=self.steps, initial=self.step, desc=self.desc, unit="step", disable=not main
        )
        self._started = time.time()
        while self.step < self.steps:
            lr = self.schedule.at(self.step, self.steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            result, loss = self._accumulated_gradients(step_fn)
            self._update()
            self.step += 1
            bar.update(1)
            if self.curves is not None:
                self.curves.add_train(self.step, loss, lr)
            if self.step % self.postfix_every == 0:
                bar.set_postfix(**result.postfix(loss))
            if main and self._due(self.checkpoint_every):
                save_training_state(self.checkpoint, self.model, self.step, **self._optimizers())
            if main and self._due(self.eval_every):
                self._record(evaluate(self.step))
        bar.close()
        if self.ranks.distributed:
            torch.distributed.barrier()  # rank 0's last checkpoint is written

    def _record(self, evaluation: str | Evaluation) -> None:
        if isinstance(evaluation, str):
            evaluation = Evaluation(evaluation)
        tqdm.write(evaluation.line)
        if self.curves is not None:
            self.curves.add_eval(self.step, evaluation.metrics)

    def _due(self, every: int) -> bool:
        return self.step % every == 0 or self.step == self.steps

    def _accumulated_gradients(self, step_fn: StepFunction) -> tuple[StepResult, float]:
        """Backward passes of ``accumulate`` micro-batches (skipped ones redrawn); the last
        step result and the loss averaged over micro-batches and ranks."""
        self.optimizer.zero_grad(set_to_none=True)
        losses: list[torch.Tensor] = []
        result: StepResult | None = None
        self._micro = 0
        while self._micro < self.accumulate:
            with torch.autocast(self.device.type, enabled=self.amp):
                got = step_fn(self.step)
            if got is None:
                continue
            result = got
            self.scaler.scale(result.loss / self.accumulate).backward()
            losses.append(result.loss.detach().float())
            self._micro += 1
        assert result is not None
        return result, mean_over_ranks(torch.stack(losses).mean(), self.ranks).item()

    def _update(self) -> None:
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if self.ranks.distributed:
            average_gradients(params, self.ranks.world_size)
        if self.clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.auxiliary is not None:
            aux_loss = self.auxiliary.loss()
            self.auxiliary.optimizer.zero_grad(set_to_none=True)
            aux_loss.backward()
            if self.ranks.distributed:
                aux_params = [
                    p for group in self.auxiliary.optimizer.param_groups for p in group["params"]
                ]
                average_gradients(aux_params, self.ranks.world_size)
            self.auxiliary.optimizer.step()
        if self.ranks.distributed:  # batch-norm statistics: rank 0's, as DDP keeps them
            broadcast_state(self.model, buffers_only=True)
