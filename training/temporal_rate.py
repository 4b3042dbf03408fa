"""What the temporal entropy models' trainers (h_t, h_k) share: the rate term — bits of ŷ
symbols coded as residuals from a predicted mean under the codec's discretised Gaussian —
and their TrainLoop (Adam, warmup + cosine, fp32)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from compressai.entropy_models import GaussianConditional
from torch import nn

from polc.shared.models.codec.model import scale_table
from polc.training.loop import TrainLoop
from polc.training.schedule import WarmupCosine


class RateSchedule(Protocol):
    """The optimisation fields of a temporal config (h_t's top level, h_k's ``skip``)."""

    steps: int
    lr: float
    lr_final: float
    warmup: int
    eval_every: int


def codec_gaussian() -> GaussianConditional:
    """The discretised Gaussian over the codec's scale table."""
    return GaussianConditional(scale_table().tolist())


def rate_loop(name: str, model: nn.Module, settings: RateSchedule, checkpoint: Path) -> TrainLoop:
    """The TrainLoop of a rate-only model (resumes from ``checkpoint``)."""
    return TrainLoop(
        name,
        model,
        torch.optim.Adam(model.parameters(), lr=settings.lr),
        steps=settings.steps,
        schedule=WarmupCosine(settings.lr, settings.lr_final, settings.warmup),
        checkpoint=checkpoint,
        eval_every=settings.eval_every,
        checkpoint_every=settings.eval_every,
        amp=False,  # rates in bits need fp32 likelihoods
    )


def residual_bits(
    gaussian: GaussianConditional, mu_p: torch.Tensor, sigma_p: torch.Tensor, y_sym: torch.Tensor
) -> torch.Tensor:
    """Per-element bits of y_sym coded as y_sym − round(μ_P) under N(0, σ_P): −log2 of the
    discretised Gaussian (straight-through round, so μ_P still learns)."""
    r = y_sym - ((torch.round(mu_p) - mu_p).detach() + mu_p)
    lik = gaussian._likelihood(r, gaussian.lower_bound_scale(sigma_p))
    return -torch.log2(gaussian.likelihood_lower_bound(lik))
