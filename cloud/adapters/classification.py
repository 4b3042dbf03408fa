"""Compressed-domain classifier: latent stem + the remaining stages of a pixel backbone.

    ŷ ─LatentStem─► (≈ layer1 output) ─► layer2 ─► layer3 ─► layer4 ─► pool ─► fc
                                   (the backbone's own stages and head, frozen by default)
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from polc.cloud.adapters.stem import LatentStem, freeze_except, keep_frozen_statistics
from polc.shared.vision.backbone import SmallResNet


class LatentClassifier(nn.Module):
    def __init__(self, backbone: SmallResNet, latent_channels: int, rank: int = 32,
                 train_stages: tuple[str, ...] = (), *, latent_blocks: int = 0,
                 blocks: int = 1, train_norms: bool = False):
        super().__init__()
        backbone = copy.deepcopy(backbone)
        self.stem = LatentStem(latent_channels, backbone.widths[0], scale=4, rank=rank,
                               latent_blocks=latent_blocks, blocks=blocks)
        self.layer2, self.layer3, self.layer4 = backbone.layer2, backbone.layer3, backbone.layer4
        self.avgpool, self.fc = backbone.avgpool, backbone.fc
        self.train_stages = freeze_except(self, ("layer2", "layer3", "layer4", "fc"),
                                          train_stages, train_norms)

    def train(self, mode: bool = True) -> LatentClassifier:
        super().train(mode)
        keep_frozen_statistics(self, ("layer2", "layer3", "layer4"), self.train_stages, mode)
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
