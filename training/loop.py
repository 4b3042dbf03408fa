"""The one training loop of every trainer (teacher, codec stages, detector, adapters).

A trainer builds its model and optimiser and hands them to a :class:`TrainLoop`, which
resumes from the run's checkpoint at once: :attr:`TrainLoop.step` is the step it continues
at, so the trainer seeds its batch generators from it. :meth:`TrainLoop.run` then repeats,
until the configured number of steps:

    learning rate from the schedule → step function (forward pass, loss) → zero_grad →
    backward → (gradient clipping) → optimiser step → (auxiliary loss and its optimiser) →
    progress bar with postfix → checkpoint every ``checkpoint_every`` steps and at the end
    (written atomically: a kill never corrupts it, a rerun continues at its step) →
    evaluation every ``eval_every`` steps and at the end, its line printed under the bar.
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
from polc.training.schedule import WarmupCosine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """What a step function returns: the loss to minimise and what the progress bar shows
    next to it (tensors are shown with three decimals, strings as they are)."""

    loss: torch.Tensor
    shown: Mapping[str, torch.Tensor | str] = field(default_factory=dict)

    def postfix(self) -> dict[str, str]:
        return {
            "loss": f"{self.loss.item():.3f}",
            **{k: v if isinstance(v, str) else f"{v.item():.3f}" for k, v in self.shown.items()},
        }


@dataclass(frozen=True)
class AuxiliaryLoss:
    """A second objective with its own optimiser, minimised after each main update (the
    codec's entropy-model quantiles); checkpointed as ``aux_optimizer``."""

    optimizer: torch.optim.Optimizer
    loss: Callable[[], torch.Tensor]


#: one training step: a batch through the model at this step; None skips the batch
#: (no update, no step counted)
StepFunction = Callable[[int], StepResult | None]
#: the evaluation at a step: the line printed under the progress bar
EvalFunction = Callable[[int], str]


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
    ):
        self.desc, self.model, self.optimizer = desc, model, optimizer
        self.steps, self.schedule, self.checkpoint = steps, schedule, checkpoint
        self.eval_every, self.checkpoint_every = eval_every, checkpoint_every
        self.clip_norm, self.auxiliary, self.postfix_every = clip_norm, auxiliary, postfix_every
        self.step = restore_training_state(checkpoint, model, **self._optimizers())
        if self.step:
            log.info("resuming %s from step %d", desc, self.step)
        self._started = time.time()

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
        bar = tqdm(total=self.steps, initial=self.step, desc=self.desc, unit="step")
        self._started = time.time()
        while self.step < self.steps:
            lr = self.schedule.at(self.step, self.steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            result = step_fn(self.step)
            if result is None:
                continue
            self._update(result.loss)
            self.step += 1
            bar.update(1)
            if self.step % self.postfix_every == 0:
                bar.set_postfix(**result.postfix())
            if self._due(self.checkpoint_every):
                save_training_state(self.checkpoint, self.model, self.step, **self._optimizers())
            if self._due(self.eval_every):
                tqdm.write(evaluate(self.step))
        bar.close()

    def _due(self, every: int) -> bool:
        return self.step % every == 0 or self.step == self.steps

    def _update(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_norm is not None:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        self.optimizer.step()
        if self.auxiliary is not None:
            aux_loss = self.auxiliary.loss()
            self.auxiliary.optimizer.zero_grad(set_to_none=True)
            aux_loss.backward()
            self.auxiliary.optimizer.step()
