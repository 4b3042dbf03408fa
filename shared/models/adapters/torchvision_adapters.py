"""Compressed-domain adapters on users' torchvision models (see
``shared/models/vision/torchvision_models.py`` for the supported models and stages).

    ŷ ─LatentStem(×16/2^k)─► stage k ─► … ─► stage 4 ─► pool ─► fc / classifier   (classifier)
    ŷ ─LatentStem(×16/2^k)─► [stage k … 4 of the FPN body] ─► FPN ─► FCOS / RetinaNet head

The stem stands in for everything before stage ``feed_stage`` (default 3: ŷ upsampled ×2 to
the input of ResNet's ``layer3`` / ConvNeXt's stage 3). The rest of the torchvision model is
held whole as ``self.model`` (its early modules replaced by Identity) and frozen, bar the
modules named in ``train_stages`` (dotted paths inside the torchvision model: ``layer4``,
``head.classification_head``, …) and with ``train_norms`` its (non-frozen) norm layers.
For a detector the stem output is also C3 when it feeds stage 3 (torchvision's FPN body
returns layer2..layer4).
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import Tensor, nn
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.retinanet import RetinaNet

from polc.shared.models.adapters.stem import (
    LatentStem,
    freeze_except,
    keep_frozen_statistics,
    norm_layer_paths,
)
from polc.shared.models.vision.detector import dense_head_forward
from polc.shared.models.vision.torchvision_models import (
    LATENT_STRIDE,
    StageLayout,
    TorchvisionSpec,
    parameter_count,
    trim,
)


class TorchvisionAdapter(nn.Module):
    """The stem and the frozen rest of a torchvision model (shared by both tasks)."""

    def __init__(
        self,
        spec: TorchvisionSpec,
        model: nn.Module,
        latent_channels: int,
        *,
        feed_stage: int = 3,
        rank: int = 32,
        latent_blocks: int = 0,
        blocks: int = 1,
        train_stages: tuple[str, ...] = (),
        train_norms: bool = False,
    ):
        """``model``: the torchvision model with its weights (copied, then trimmed)."""
        super().__init__()
        model = copy.deepcopy(model)
        self.spec, self.layout = spec, StageLayout(spec.family, feed_stage)
        self.pixel_parameters = parameter_count(model)
        self.stem = LatentStem(
            latent_channels,
            self.layout.in_channels(model),
            scale=self.layout.scale,
            rank=rank,
            latent_blocks=latent_blocks,
            blocks=blocks,
        )
        self.model = trim(model, self.layout)
        if train_norms:
            norms = norm_layer_paths(self, ("model",))
            train_stages = (*train_stages, *(n.removeprefix("model.") for n in norms))
        unfrozen = freeze_except(self, ("model",), tuple(f"model.{p}" for p in train_stages))
        self.train_stages = tuple(p.removeprefix("model.") for p in unfrozen)

    @property
    def feed_stage(self) -> int:
        return self.layout.feed

    def train(self, mode: bool = True):
        super().train(mode)
        keep_frozen_statistics(
            self, ("model",), tuple(f"model.{p}" for p in self.train_stages), mode
        )
        return self

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def parameter_share(self) -> float:
        """Trained parameters over the whole pixel model's (the POLC paper's measure)."""
        return self.trainable_parameters() / self.pixel_parameters

    def features(self, y_hat: Tensor) -> list[Tensor]:
        """[stem output, outputs of stages feed_stage .. 4]."""
        out = [self.stem(y_hat)]
        for k in range(self.layout.feed, 5):
            h = out[-1]
            for path in self.layout.stage(k):
                h = self.model.get_submodule(path)(h)
            out.append(h)
        return out


class TorchvisionLatentClassifier(TorchvisionAdapter):
    """ŷ -> logits of the user's classifier."""

    def head(self, last: Tensor) -> Tensor:
        pooled = self.model.get_submodule("avgpool")(last)
        if self.spec.family == "convnext":
            return self.model.get_submodule("classifier")(pooled)
        return self.model.get_submodule("fc")(torch.flatten(pooled, 1))

    def forward(self, y_hat: Tensor) -> Tensor:
        return self.head(self.features(y_hat)[-1])


class TorchvisionLatentDetector(TorchvisionAdapter):
    """ŷ -> the user's FCOS / RetinaNet losses (training) or detections (eval), boxes in
    padded-frame pixels (16 · latent size), as :class:`~.detection.LatentDetector`."""

    def stages(self, y_hat: Tensor) -> list[Tensor]:
        """[C3, C4, C5]: what the pixel detector's body returns on the image."""
        return self.features(y_hat)[-3:]

    def detect(
        self,
        stages: list[Tensor],
        image_size: tuple[int, int],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        m = self.model
        assert isinstance(m, FCOS | RetinaNet)
        pyramid = m.backbone.fpn(OrderedDict(zip(("0", "1", "2"), stages, strict=True)))
        return dense_head_forward(m, list(pyramid.values()), image_size, targets, self.training)

    def forward(
        self, y_hat: Tensor, targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        size = (y_hat.shape[-2] * LATENT_STRIDE, y_hat.shape[-1] * LATENT_STRIDE)
        return self.detect(self.stages(y_hat), size, targets)
