"""Gain units: one trained per-channel gain vector per rate level, continuous alpha in between.

    alpha in [0, 1]  ->  position p = alpha * (L - 1),  l = floor(p),  t = p - l
    G(alpha) = G_l ** (1 - t) * G_{l+1} ** t          (log-linear interpolation, Cui et al.)

Gains are stored as logarithms so that they stay positive and interpolate linearly.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GainUnit(nn.Module):
    def __init__(self, channels: int, levels: int, init_log_gains: list[float] | None = None):
        super().__init__()
        if init_log_gains is None:
            init_log_gains = [0.0] * levels
        start = torch.tensor(init_log_gains, dtype=torch.float32)[:, None]
        self.log_gain = nn.Parameter(start.repeat(1, channels))
        self.levels = levels

    def level(self, index: torch.Tensor | int) -> torch.Tensor:
        """Gains of trained level(s): (C,) for an int, (B, C) for a tensor of indexes."""
        return torch.exp(self.log_gain[index])

    def interpolate(self, alpha: torch.Tensor | float) -> torch.Tensor:
        """Gains for continuous alpha (scalar or (B,)): returns (C,) or (B, C)."""
        a = torch.as_tensor(alpha, dtype=self.log_gain.dtype, device=self.log_gain.device)
        pos = a.clamp(0.0, 1.0) * (self.levels - 1)
        low = pos.floor().clamp(max=self.levels - 2).long()
        t = (pos - low.to(pos.dtype)).unsqueeze(-1)
        log_g = self.log_gain[low] * (1 - t) + self.log_gain[low + 1] * t
        return torch.exp(log_g)


def default_log_gains(levels: int, low: float = 0.5, high: float = 4.0) -> list[float]:
    """Initial per-level gains spaced geometrically (higher alpha = finer quantisation)."""
    return [
        math.log(low) + (math.log(high) - math.log(low)) * i / (levels - 1) for i in range(levels)
    ]


def as_map(gain: torch.Tensor) -> torch.Tensor:
    """(C,) or (B, C) gains -> broadcastable (1|B, C, 1, 1)."""
    if gain.dim() == 1:
        gain = gain.unsqueeze(0)
    return gain[:, :, None, None]
