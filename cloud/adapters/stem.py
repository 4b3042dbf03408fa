"""The POLC latent stem: ŷ (M channels, 1/16 resolution) -> input of a backbone stage.

    ŷ ─1×1 (M→r)─► 1×1 (r→C·s²) ─pixel-shuffle(s)─► ConvNeXt-style block ─► backbone.layer_k

With s = 4 the output sits at 1/4 resolution with the channels of ``layer1``'s output, so
it replaces a ResNet's stem and first stage. The low-rank 1×1 pair keeps the trainable
parameter count a few percent of the backbone's (POLC's point: a small adapter, not a
fine-tuned vision model).
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """Depth-wise 7×7 → LayerNorm (channels) → 1×1 expand → GELU → 1×1 project, residual."""

    def __init__(self, channels: int, expansion: int = 4):
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.GroupNorm(1, channels)
        self.pw1 = nn.Conv2d(channels, channels * expansion, 1)
        self.act = nn.GELU()
        self.pw2 = nn.Conv2d(channels * expansion, channels, 1)
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), 1e-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.pw2(self.act(self.pw1(self.norm(self.dw(x)))))


class LatentStem(nn.Module):
    def __init__(self, latent_channels: int, out_channels: int, scale: int = 4,
                 rank: int = 32):
        super().__init__()
        self.reduce = nn.Conv2d(latent_channels, rank, 1)
        self.expand = nn.Conv2d(rank, out_channels * scale * scale, 1)
        self.shuffle = nn.PixelShuffle(scale)
        self.block = ConvNeXtBlock(out_channels)

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.block(self.shuffle(self.expand(self.reduce(y_hat))))
