"""Pixel-domain detector: torchvision FCOS on SmallResNet stages + a torchvision FPN.

    x ─stem─► layer1 ─► layer2 (C3, ÷8) ─► layer3 (C4, ÷16) ─► layer4 (C5, ÷32)
                            └──────────────┬──────────────┘
                         FeaturePyramidNetwork ─► P3, P4, P5 ─► FCOSHead ─► boxes

Why FCOS (torchvision ``FCOSHead`` + its loss and post-processing):

* anchor-free: one point per feature-map location and no anchor boxes to tune, so there is
  nothing to re-tune when the input is a latent rather than an image;
* few hyper-parameters (centre-sampling radius, score / NMS thresholds), focal loss for the
  class imbalance, GIoU for the boxes: it trains from scratch in minutes on a CPU;
* good on small objects: the stride-8 level P3 takes every object smaller than 64 px
  (most of the 6–150 px objects of the synthetic traffic scenes), so P6/P7 are dropped;
* single stage: the stem is the only part a compressed-domain adapter replaces; stages,
  FPN and head are reused as they are (a two-stage detector would also need the RPN and
  RoI heads carried over).

The image is used at its own size: torchvision's ``GeneralizedRCNNTransform`` (resize to
``min_size`` and ImageNet normalisation) is bypassed, SmallResNet's stem normalises, and
anchor points come from the input size only, through a zero-copy placeholder
:class:`~torchvision.models.detection.image_list.ImageList` (see :func:`dense_head_forward`).
Labels are 0-based indices into the class list (COCO category id − 1 for the synthetic set).
"""

from __future__ import annotations

import copy
from collections import OrderedDict

from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOS, FCOSHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops import FeaturePyramidNetwork

from polc.shared.models.vision.backbone import SmallResNet

LEVEL_STRIDES = (8, 16, 32)  # P3, P4, P5


def placeholder_images(batch: int, size: tuple[int, int], like: Tensor) -> ImageList:
    """An ImageList of ``batch`` images of ``size`` backed by one scalar (expand: no copy).

    torchvision's AnchorGenerator reads only the tensor's shape, dtype and device.
    """
    tensors = like.new_zeros(()).expand(batch, 3, *size)
    return ImageList(tensors, [tuple(size)] * batch)


def dense_head_forward(
    model: FCOS | RetinaNet,
    features: list[Tensor],
    image_size: tuple[int, int],
    targets: list[dict[str, Tensor]] | None,
    training: bool,
) -> dict[str, Tensor] | list[dict[str, Tensor]]:
    """torchvision FCOS / RetinaNet from the pyramid ``features`` on: head, anchors of
    ``image_size`` images, then the losses (``training``, with ``targets``) or per-image
    detections (xyxy in input pixels)."""
    head_outputs = model.head(features)
    images = placeholder_images(features[0].shape[0], image_size, features[0])
    anchors = model.anchor_generator(images, features)
    per_level = [f.shape[-2] * f.shape[-1] for f in features]
    per_anchor = head_outputs["cls_logits"].shape[1] // sum(per_level)
    per_level = [n * per_anchor for n in per_level]
    if training:
        if targets is None:
            raise ValueError("targets are required in training mode")
        if isinstance(model, FCOS):
            return model.compute_loss(targets, head_outputs, anchors, per_level)
        return model.compute_loss(targets, head_outputs, anchors)
    split = {k: list(v.split(per_level, dim=1)) for k, v in head_outputs.items()}
    split_anchors = [list(a.split(per_level)) for a in anchors]
    return model.postprocess_detections(split, split_anchors, images.image_sizes)


class StageFCOS(FCOS):
    """torchvision FCOS whose input is the backbone's stage outputs [C3, C4, C5].

    ``self.backbone`` is the FPN; ``forward(stages, image_size, targets)`` returns the FCOS
    losses in training mode and per-image detections (xyxy in input pixels) in eval mode.
    """

    def __init__(
        self,
        in_channels: list[int],
        num_classes: int,
        channels: int = 64,
        head_convs: int = 2,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.6,
        detections_per_img: int = 100,
    ):
        fpn = FeaturePyramidNetwork(list(in_channels), channels)
        fpn.out_channels = channels
        anchors = AnchorGenerator(
            tuple((s,) for s in LEVEL_STRIDES), ((1.0,),) * len(LEVEL_STRIDES)
        )
        head = FCOSHead(channels, 1, num_classes, num_convs=head_convs)
        super().__init__(
            fpn,
            num_classes,
            anchor_generator=anchors,
            head=head,
            score_thresh=score_thresh,
            nms_thresh=nms_thresh,
            detections_per_img=detections_per_img,
        )
        self.transform = None  # images never pass through GeneralizedRCNNTransform
        self.num_classes = num_classes

    def pyramid(self, stages: list[Tensor]) -> list[Tensor]:
        """[C3, C4, C5] -> [P3, P4, P5]."""
        return list(
            self.backbone(OrderedDict(zip(("p3", "p4", "p5"), stages, strict=True))).values()
        )

    def forward(
        self,
        stages: list[Tensor],
        image_size: tuple[int, int],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        return dense_head_forward(self, self.pyramid(stages), image_size, targets, self.training)


class PixelDetector(nn.Module):
    """FCOS on a :class:`SmallResNet` (images in [0, 1], any size multiple of 32)."""

    def __init__(
        self, backbone: SmallResNet, num_classes: int, channels: int = 64, head_convs: int = 2
    ):
        super().__init__()
        self.body = backbone
        self.body.fc = nn.Identity()  # type: ignore[assignment]  # no classifier head here
        self.fcos = StageFCOS(list(backbone.widths[1:]), num_classes, channels, head_convs)
        self.config = {
            "widths": list(backbone.widths),
            "num_classes": num_classes,
            "channels": channels,
            "head_convs": head_convs,
        }
        self.classes: list[str] = []  # class names, set when loaded from a detector file

    @classmethod
    def from_teacher(cls, teacher: SmallResNet, num_classes: int, **kwargs) -> PixelDetector:
        """Backbone initialised from the pixel classifier (the shipped teacher)."""
        return cls(copy.deepcopy(teacher), num_classes, **kwargs)

    def stages(self, images: Tensor) -> list[Tensor]:
        """[C3, C4, C5] = outputs of layer2..layer4 (the distillation targets)."""
        return self.body.features(images)[1:]

    def forward(
        self, images: Tensor, targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        return self.fcos(self.stages(images), tuple(images.shape[-2:]), targets)
