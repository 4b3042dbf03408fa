"""The four transforms of the primary branch (CompressAI naming).

    x ─g_a─► y ─×G_y(α)─► v ─Q─► v̂ ─÷G_y─► ŷ ─g_s─► x̂₁        (f₁, f₂, f₃: g_s features)
                          │                  ▲
                          └─h_a─► z ─Q─► ẑ ─h_s─► (μ, σ) of v

h_s uses sub-pixel convolutions (conv + pixel shuffle) instead of transposed convolutions:
it has an exact integer twin (``integer_hyper.py``) that both ends of the wire run.
"""

from __future__ import annotations

import torch
from compressai.layers import GDN
from torch import nn


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(
        cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1
    )


class AnalysisTransform(nn.Module):
    """g_a: image (B,3,H,W) in [0,1] -> y (B,M,H/16,W/16)."""

    def __init__(self, N: int, M: int):
        super().__init__()
        self.net = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SynthesisTransform(nn.Module):
    """g_s: ŷ -> x̂₁, also returning the intermediate features f₁ (1/8), f₂ (1/4), f₃ (1/2)."""

    def __init__(self, N: int, M: int):
        super().__init__()
        self.up1 = nn.Sequential(deconv(M, N), GDN(N, inverse=True))
        self.up2 = nn.Sequential(deconv(N, N), GDN(N, inverse=True))
        self.up3 = nn.Sequential(deconv(N, N), GDN(N, inverse=True))
        self.up4 = deconv(N, 3)

    def forward(self, y_hat: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f1 = self.up1(y_hat)
        f2 = self.up2(f1)
        f3 = self.up3(f2)
        return self.up4(f3), [f1, f2, f3]


class HyperAnalysis(nn.Module):
    """h_a: v = y·G (B,M,h,w) -> z (B,N,h/4,w/4)."""

    def __init__(self, N: int, M: int):
        super().__init__()
        self.net = nn.Sequential(
            conv(M, N, 3, 1),
            nn.LeakyReLU(inplace=True),
            conv(N, N),
            nn.LeakyReLU(inplace=True),
            conv(N, N),
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(v)


class HyperSynthesis(nn.Module):
    """h_s: ẑ (integers) -> (μ, σ_raw) of v, each (B,M,h,w). σ = softplus-free: |σ_raw|.

    Layers: conv3x3 → pixel-shuffle×2 → ReLU → conv3x3 → pixel-shuffle×2 → ReLU → conv3x3.
    Only convolutions, ReLU and permutations: exactly reproducible in integer arithmetic.
    """

    def __init__(self, N: int, M: int):
        super().__init__()
        hidden = max(M, N)
        self.conv1 = nn.Conv2d(N, hidden * 4, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, hidden * 4, 3, padding=1)
        self.conv3 = nn.Conv2d(hidden, 2 * M, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.shuffle(self.conv1(z_hat)))
        h = torch.relu(self.shuffle(self.conv2(h)))
        means, scales = self.conv3(h).chunk(2, dim=1)
        return means, scales.abs()
