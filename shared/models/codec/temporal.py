"""h_t: the temporal (P-frame) entropy model of ŷ, conditioned on the reference frame.

A P-frame codes the *same* symbols as a key frame (y_sym = round(v − μ_t), ẑ_t = round(z)),
so ŷ_t is unchanged; only their probabilities come from the reference's decoded symbols:

    y_ref, μ_ref, idx_ref ──┐                         (reference frame, same α)
    μ_t, idx_t = h_s(ẑ_t) ──┤
                            ▼
    features (4M): y_ref, (μ_ref − μ_t), idx_t/8, idx_ref/8
        ─conv3×3─► ReLU ─conv3×3─► ReLU ─conv3×3─► Δ, σ_P
    pred = y_ref + (μ_ref − μ_t)          (the reference's v̂ in this frame's symbol units)
    μ_P  = pred + Δ;   r = y_sym − round(μ_P) ~ N(0, σ_P)  (the codec's Gaussian tables)

    ẑ_t: r_z = ẑ_t − ẑ_ref ~ N(0, σ_c)   (one fixed scale index per channel, measured)

Only convolutions and ReLU: the integer twin (``polc.shared.codec.integer_temporal``) runs
it exactly on every backend, like the integer h_s.
"""

from __future__ import annotations

import torch
from torch import nn

IDX_SCALE = 8.0  #: scale indexes enter the network divided by this (exact at 8 fraction bits)


class ConvContext(nn.Module):
    """Three conv3×3 with ReLU between: features (B, in_channels, h, w) -> Δ, σ ≥ 0 (B, M, h,
    w each). The body of h_t and of the skip-mode h_k (``temporal_skip.py``)."""

    def __init__(self, M: int, in_channels: int, hidden: int):
        super().__init__()
        self.M, self.hidden = M, hidden
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.conv3 = nn.Conv2d(hidden, 2 * M, 3, padding=1)

    def delta_and_scale(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.conv1(features))
        h = torch.relu(self.conv2(h))
        delta, scale = self.conv3(h).chunk(2, dim=1)
        return delta, scale.abs()


class TemporalContext(ConvContext):
    """Float h_t (trained): reference + intra parameters -> (μ_P, σ_P) in symbol units."""

    def __init__(self, M: int, hidden: int = 64):
        super().__init__(M, 4 * M, hidden)

    @staticmethod
    def features(
        y_ref: torch.Tensor, mu_shift: torch.Tensor, idx_t: torch.Tensor, idx_ref: torch.Tensor
    ) -> torch.Tensor:
        """(B, 4M, h, w): y_ref and μ_ref − μ_t in symbol units, scale indexes / IDX_SCALE."""
        return torch.cat([y_ref, mu_shift, idx_t / IDX_SCALE, idx_ref / IDX_SCALE], 1)

    def forward(
        self,
        y_ref: torch.Tensor,
        mu_shift: torch.Tensor,
        idx_t: torch.Tensor,
        idx_ref: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All inputs (B, M, h, w) float. Returns μ_P (symbol units) and σ_P (≥ 0)."""
        delta, scale = self.delta_and_scale(self.features(y_ref, mu_shift, idx_t, idx_ref))
        return y_ref + mu_shift + delta, scale
