"""Compressed-domain classifier: latent stem + the remaining stages of a pixel backbone.

    ŷ ─LatentStem─► [layer1] ─► layer2 ─► layer3 ─► layer4 ─► pool ─► fc
                    (the backbone's own stages and head, frozen by default)

``first_stage``: the backbone stage the stem feeds (see ``detection.py``).
"""

from __future__ import annotations

import copy

import torch

from polc.shared.models.adapters.stem import LatentStem, StemFedBackbone, freeze_except
from polc.shared.models.vision.backbone import SmallResNet


class LatentClassifier(StemFedBackbone):
    def __init__(
        self,
        backbone: SmallResNet,
        latent_channels: int,
        rank: int = 32,
        train_stages: tuple[str, ...] = (),
        *,
        latent_blocks: int = 0,
        blocks: int = 1,
        train_norms: bool = False,
        first_stage: str = "layer2",
    ):
        super().__init__()
        backbone = copy.deepcopy(backbone)
        self._reuse_backbone(
            LatentStem(
                latent_channels,
                backbone.widths[0],
                scale=4,
                rank=rank,
                latent_blocks=latent_blocks,
                blocks=blocks,
            ),
            backbone,
            first_stage,
        )
        self.avgpool, self.fc = backbone.avgpool, backbone.fc
        self.train_stages = freeze_except(
            self, (*self.backbone_stages, "fc"), train_stages, train_norms
        )

    def head(self, f4: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(f4), 1))

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(y_hat)[-1])
