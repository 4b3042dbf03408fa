"""Auxiliary (distortion-oriented) branch of RDC: the scalable enhancement layer.

    y − ŷ ─T_enc─► s ─×G_s(α)─► Q ─÷G_s─► ŝ ─T_dec─► Δŷ ;   ŷ₂ = ŷ + Δŷ
    R(ŷ₂, f₁, f₂, f₃) = r          (transposed convs up to full size, f_i injected by 1×1 convs)
    x̂₂ = x̂₁ + r ;   x̄(β) = x̂₁ + (1 − β)·r

ŝ is coded with a factorized EntropyBottleneck: its tables are fixed after training, so the
enhancement bitstream has no encoder/decoder parameter-synchronisation hazard at all.
"""

from __future__ import annotations

import torch
from torch import nn

from polc.shared.models.codec.transforms import deconv


class ScalableTransform(nn.Module):
    """T_enc or T_dec: three 3×3 convolutions at latent resolution."""

    def __init__(self, cin: int, cout: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, cout, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResidualSynthesis(nn.Module):
    """R: (ŷ₂, [f₁, f₂, f₃]) -> residual image r at full resolution."""

    def __init__(self, M: int, N: int, width: int):
        super().__init__()
        self.up = nn.ModuleList([deconv(M, width), deconv(width, width), deconv(width, width)])
        self.inject = nn.ModuleList([nn.Conv2d(N, width, 1) for _ in range(3)])
        self.act = nn.LeakyReLU(inplace=True)
        self.out = deconv(width, 3)

    def forward(self, y2: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        h = y2
        for up, inject, f in zip(self.up, self.inject, feats, strict=True):
            h = self.act(up(h) + inject(f))
        return self.out(h)
