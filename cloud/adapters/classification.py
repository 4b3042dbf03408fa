"""Compressed-domain classifier: latent stem + the remaining stages of a pixel backbone.

    ŷ ─LatentStem─► (≈ layer1 output) ─► layer2 ─► layer3 ─► layer4 ─► pool ─► fc
                                   (the backbone's own stages and head, frozen by default)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from polc.cloud.adapters.stem import LatentStem
from polc.shared.vision.backbone import SmallResNet


class LatentClassifier(nn.Module):
    def __init__(self, backbone: SmallResNet, latent_channels: int, rank: int = 32,
                 train_stages: tuple[str, ...] = ()):
        super().__init__()
        backbone = copy.deepcopy(backbone)
        self.stem = LatentStem(latent_channels, backbone.widths[0], scale=4, rank=rank)
        self.layer2, self.layer3, self.layer4 = backbone.layer2, backbone.layer3, backbone.layer4
        self.avgpool, self.fc = backbone.avgpool, backbone.fc
        for name in ("layer2", "layer3", "layer4", "fc"):
            trainable = name in train_stages
            for p in getattr(self, name).parameters():
                p.requires_grad_(trainable)
        self.train_stages = train_stages

    def train(self, mode: bool = True) -> LatentClassifier:
        super().train(mode)
        for name in ("layer2", "layer3", "layer4"):  # frozen stages keep their BN statistics
            if name not in self.train_stages:
                getattr(self, name).eval()
        return self

    def features(self, y_hat: torch.Tensor) -> list[torch.Tensor]:
        f1 = self.stem(y_hat)
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [f1, f2, f3, self.layer4(f3)]

    def head(self, f4: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(f4), 1))

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(y_hat)[-1])

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
