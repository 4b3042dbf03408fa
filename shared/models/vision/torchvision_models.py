"""Users' own torchvision models as the pixel models of compressed-domain adapters.

A model is named by a spec string ``torchvision:NAME`` (:class:`TorchvisionSpec`):

    classifiers  resnet18/34/50/101/152, resnext*, wide_resnet*  (stages layer1..layer4)
                 convnext_tiny/small/base/large                  (stages features[1..7])
    detectors    fcos_<resnet>_fpn, retinanet_<resnet>_fpn       (torchvision's
                 fcos_resnet50_fpn / retinanet_resnet50_fpn layout, any ResNet body, e.g.
                 fcos_resnet18_fpn; frozen batch norm as in torchvision's pretrained ones)

The architecture is always built with ``weights=None`` (nothing is downloaded); the weights
are the user's file, read with ``torch.load(weights_only=True)``: a plain state dict
(``torch.save(model.state_dict())``, the torch.hub format) or a dict holding it under
``state_dict`` / ``model`` with optional ``classes`` (its class names).

Stages are numbered as in the POLC paper: stage k (2 ≤ k ≤ 4) takes its input at stride
2^(k) (ResNet ``layer{k}``; ConvNeXt ``features[2k-2]`` (downsampling) + ``features[2k-1]``).
ŷ is at stride 16, so a stem feeding stage k upsamples by 16 / 2^(k) (stage 3: ×2, the
default; stage 4: ×1; stage 2: ×4).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import torch
import torchvision
from pydantic import field_validator
from torch import nn
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops import misc as misc_ops
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from polc.shared.errors import ModelError
from polc.shared.models.weights_file import load_torch_file
from polc.shared.settings import StrictModel

PREFIX = "torchvision:"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LATENT_STRIDE = 16

Family = Literal["resnet", "convnext", "fcos", "retinanet"]
_RESNET = re.compile(r"^(resnet(18|34|50|101|152)|resnext\w+|wide_resnet\w+)$")
_CONVNEXT = re.compile(r"^convnext_(tiny|small|base|large)$")
_DETECTOR = re.compile(r"^(fcos|retinanet)_(?P<body>\w+)_fpn$")


class TorchvisionSpec(StrictModel):
    """``torchvision:NAME``: which torchvision architecture, and what that makes it."""

    name: str

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        body = _DETECTOR.match(name)
        if _RESNET.match(name) or _CONVNEXT.match(name):
            return name
        if body and _RESNET.match(body.group("body")):
            return name
        raise ValueError(
            f"torchvision model {name!r} is not supported: use a ResNet / ResNeXt / "
            "ConvNeXt classifier or fcos_<resnet>_fpn / retinanet_<resnet>_fpn"
        )

    @classmethod
    def parse(cls, spec: str) -> TorchvisionSpec:
        """``torchvision:resnet50`` -> the spec (ValueError naming what is wrong)."""
        if not spec.startswith(PREFIX):
            raise ValueError(f"model {spec!r}: expected {PREFIX}NAME, e.g. {PREFIX}resnet50")
        return cls(name=spec.removeprefix(PREFIX))

    @property
    def family(self) -> Family:
        if _CONVNEXT.match(self.name):
            return "convnext"
        if _RESNET.match(self.name):
            return "resnet"
        return "fcos" if self.name.startswith("fcos_") else "retinanet"

    @property
    def task(self) -> Literal["cls", "det"]:
        return "cls" if self.family in ("resnet", "convnext") else "det"

    def build(self, num_classes: int) -> nn.Module:
        """The architecture with random weights (``weights=None``: no download)."""
        if self.task == "cls":
            return getattr(torchvision.models, self.name)(weights=None, num_classes=num_classes)
        body_name = _DETECTOR.match(self.name).group("body")  # type: ignore[union-attr]
        body = getattr(torchvision.models, body_name)(
            weights=None, norm_layer=misc_ops.FrozenBatchNorm2d
        )
        backbone = _resnet_fpn_extractor(
            body, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)
        )
        detector = FCOS if self.family == "fcos" else RetinaNet
        return detector(backbone, num_classes)


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """A user's weights file: (state dict, class names if the file has them)."""
    state = load_torch_file(Path(path))
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a state dict")
    classes = state.get("classes")
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    weights = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not weights:
        raise ModelError(f"{path}: holds no tensors")
    return weights, (list(classes) if classes is not None else None)


def classes_in(spec: TorchvisionSpec, state: dict[str, torch.Tensor]) -> int:
    """How many classes the weights predict (the rows of the classifier)."""
    keys = {
        "resnet": "fc.weight",
        "convnext": "classifier.2.weight",
        "fcos": "head.classification_head.cls_logits.weight",
        "retinanet": "head.classification_head.cls_logits.weight",
    }
    weight = state.get(keys[spec.family])
    if weight is None:
        raise ModelError(f"the weights have no {keys[spec.family]}: not a {spec.name} state dict")
    anchors = 9 if spec.family == "retinanet" else 1  # torchvision's 3 scales × 3 ratios
    return int(weight.shape[0]) // anchors


def load_torchvision_model(spec: TorchvisionSpec, weights: Path) -> tuple[nn.Module, list[str]]:
    """The user's model (eval mode) and its class names (``class_<i>`` when the file has
    none)."""
    state, classes = read_state_dict(weights)
    num_classes = classes_in(spec, state)
    model = spec.build(num_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{weights}: not {spec.name} weights ({str(exc)[:300]})") from None
    names = classes or [f"class_{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise ModelError(f"{weights}: {len(names)} class names for {num_classes} outputs")
    return model.eval(), names


class StageLayout:
    """Where stage k of a family's body lives, its input width, and the parts a stem feeding
    stage ``feed`` replaces (all relative to the torchvision model)."""

    def __init__(self, family: Family, feed: int):
        if feed not in (2, 3, 4):
            raise ValueError(f"feed_stage must be 2, 3 or 4, not {feed}")
        if family in ("fcos", "retinanet") and feed == 4:
            raise ValueError("a detector's stem feeds stage 2 or 3 (its FPN needs stride 8)")
        self.family, self.feed = family, feed
        self.body = "backbone.body." if family in ("fcos", "retinanet") else ""

    @property
    def scale(self) -> int:
        """The stem's upsampling: ŷ's stride over the fed stage's input stride."""
        return LATENT_STRIDE // 2**self.feed

    def stage(self, k: int) -> tuple[str, ...]:
        if self.family == "convnext":
            return (f"features.{2 * k - 2}", f"features.{2 * k - 1}")
        return (f"{self.body}layer{k}",)

    def replaced(self) -> tuple[str, ...]:
        """The modules the stem stands in for (set to Identity in the adapter)."""
        if self.family == "convnext":
            return tuple(f"features.{i}" for i in range(2 * self.feed - 2))
        stem = tuple(f"{self.body}{n}" for n in ("conv1", "bn1", "relu", "maxpool"))
        return stem + tuple(f"{self.body}layer{k}" for k in range(1, self.feed))

    def in_channels(self, model: nn.Module) -> int:
        first = model.get_submodule(self.stage(self.feed)[0])
        # ConvNeXt: (LayerNorm2d, Conv2d(C, 2C, 2, stride 2)); ResNet: block 0's conv1
        conv = first.get_submodule("1" if self.family == "convnext" else "0.conv1")
        assert isinstance(conv, nn.Conv2d)
        return conv.in_channels

    def pixel_stages(self, model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of stages feed-1 .. 4 of the full pixel model on an image batch in
        [0, 1] (ImageNet normalisation): the stem's target, then the stages after it."""
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        h = (x - mean) / std
        if self.family == "convnext":
            stem: tuple[str, ...] = ()
            stages = [self.stage(k) for k in range(1, 5)]
        else:
            stem = tuple(f"{self.body}{n}" for n in ("conv1", "bn1", "relu", "maxpool"))
            stages = [(f"{self.body}layer{k}",) for k in range(1, 5)]
        for path in stem:
            h = model.get_submodule(path)(h)
        outs = []
        for paths in stages:
            for path in paths:
                h = model.get_submodule(path)(h)
            outs.append(h)
        return outs[self.feed - 2 :]


def trim(model: nn.Module, layout: StageLayout) -> nn.Module:
    """``model`` without the modules the stem stands in for (each set to Identity)."""
    for path in layout.replaced():
        parent, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, name, nn.Identity())
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class PixelStages(nn.Module):
    """The user's whole torchvision model on images in [0, 1], as the distillation teacher
    of an adapter feeding stage ``feed``: :meth:`features` = [stem target, stage outputs]."""

    def __init__(self, spec: TorchvisionSpec, model: nn.Module, feed: int = 3):
        super().__init__()
        self.spec, self.model, self.layout = spec, model, StageLayout(spec.family, feed)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.layout.pixel_stages(self.model, x)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[C3, C4, C5] of a detector's body."""
        return self.features(x)[-3:]
