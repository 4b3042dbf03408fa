"""Compressed-domain classifier: latent stem + the remaining stages of a pixel backbone.

    ŷ ─LatentStem─► [layer1] ─► layer2 ─► layer3 ─► layer4 ─► pool ─► fc
                    (the backbone's own stages and head, frozen by default)

``first_stage``: the backbone stage the stem feeds (see ``detection.py``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from polc.cloud.adapters.stem import (
    LatentStem,
    backbone_stages,
    freeze_except,
    keep_frozen_statistics,
)
from polc.shared.vision.backbone import SmallResNet


class LatentClassifier(nn.Module):
    def __init__(self, backbone: SmallResNet, latent_channels: int, rank: int = 32,
                 train_stages: tuple[str, ...] = (), *, latent_blocks: int = 0,
                 blocks: int = 1, train_norms: bool = False, first_stage: str = "layer2"):
        super().__init__()
        backbone = copy.deepcopy(backbone)
        self.stem = LatentStem(latent_channels, backbone.widths[0], scale=4, rank=rank,
                               latent_blocks=latent_blocks, blocks=blocks)
        self.first_stage, self.backbone_stages = first_stage, backbone_stages(first_stage)
        self.layer1 = backbone.layer1 if first_stage == "layer1" else None
        self.layer2, self.layer3, self.layer4 = backbone.layer2, backbone.layer3, backbone.layer4
        self.avgpool, self.fc = backbone.avgpool, backbone.fc
        self.train_stages = freeze_except(self, (*self.backbone_stages, "fc"),
                                          train_stages, train_norms)

    def train(self, mode: bool = True) -> LatentClassifier:
        super().train(mode)
        keep_frozen_statistics(self, self.backbone_stages, self.train_stages, mode)
        return self

    def features(self, y_hat: torch.Tensor) -> list[torch.Tensor]:
        """[input of layer2, layer2, layer3, layer4 outputs]."""
        f1 = self.stem(y_hat)
        if self.layer1 is not None:
            f1 = self.layer1(f1)
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [f1, f2, f3, self.layer4(f3)]

    def head(self, f4: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(f4), 1))

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(y_hat)[-1])

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
