"""Compressed-domain classifier: latent stem + the remaining stages of a pixel backbone.

    ŷ ─LatentStem─► [layer1] ─► layer2 ─► layer3 ─► layer4 ─► pool ─► fc
                    (the backbone's own stages and head, frozen by default)

``first_stage``: the backbone stage the stem feeds (see ``detection.py``).
"""

from __future__ import annotations

import torch

from polc.shared.models.adapters.stem import StemFedBackbone
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.teacher_file import load_teacher
from polc.shared.models.weights_file import WeightsKind


class LatentClassifier(StemFedBackbone):
    """ŷ -> logits of the teacher's classes (``LatentClassifier(teacher, latent_channels,
    rank, train_stages, ...)``, see :class:`StemFedBackbone`)."""

    HEADS = ("fc",)
    #: its adapter file's kind, and the reader of the teacher file it adapts
    WEIGHTS_KIND: WeightsKind = "adapter_cls"
    read_pixel_model = staticmethod(load_teacher)

    def _reuse_head(self, backbone: SmallResNet) -> None:
        self.avgpool, self.fc = backbone.avgpool, backbone.fc

    def head(self, f4: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(f4), 1))

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(y_hat)[-1])
