"""The rate term of the temporal entropy models (h_t, h_k): bits of ŷ symbols coded as
residuals from a predicted mean under the codec's discretised Gaussian."""

from __future__ import annotations

import torch
from compressai.entropy_models import GaussianConditional


def residual_bits(
    gaussian: GaussianConditional, mu_p: torch.Tensor, sigma_p: torch.Tensor, y_sym: torch.Tensor
) -> torch.Tensor:
    """Per-element bits of y_sym coded as y_sym − round(μ_P) under N(0, σ_P): −log2 of the
    discretised Gaussian (straight-through round, so μ_P still learns)."""
    r = y_sym - ((torch.round(mu_p) - mu_p).detach() + mu_p)
    lik = gaussian._likelihood(r, gaussian.lower_bound_scale(sigma_p))
    return -torch.log2(gaussian.likelihood_lower_bound(lik))
