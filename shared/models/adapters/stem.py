"""The POLC latent stem: ŷ (M channels, 1/16 resolution) -> input of a backbone stage.

    ŷ ─1×1 (M→r)─► [ConvNeXt block × a, at 1/16] ─1×1 (r→C·s²)─pixel-shuffle(s)─►
      [ConvNeXt block × b, at 1/(16/s)] ─► backbone.layer_k

With s = 4 the output sits at 1/4 resolution with the channels of ``layer1``'s output, so
it replaces a ResNet's stem and first stage. The low-rank 1×1 pair keeps the trainable
parameter count a few percent of the backbone's (POLC's point: a small adapter, not a
fine-tuned vision model). Blocks at the latent resolution are cheap (16× fewer positions)
and see a wide context (a 7×7 window there spans 112 pixels); ``a = 0, b = 1`` is the
original single-block stem that older adapter files hold.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.weights_file import WeightsKind


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
    def __init__(
        self,
        latent_channels: int,
        out_channels: int,
        scale: int = 4,
        rank: int = 32,
        latent_blocks: int = 0,
        blocks: int = 1,
    ):
        super().__init__()
        self.reduce = nn.Conv2d(latent_channels, rank, 1)
        self.latent_blocks = nn.Sequential(*(ConvNeXtBlock(rank) for _ in range(latent_blocks)))
        self.expand = nn.Conv2d(rank, out_channels * scale * scale, 1)
        self.shuffle = nn.PixelShuffle(scale)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(out_channels) for _ in range(blocks)))

    @property
    def architecture(self) -> dict[str, int]:
        """What an adapter file records to rebuild this stem."""
        return {
            "latent_channels": self.reduce.in_channels,
            "rank": self.reduce.out_channels,
            "latent_blocks": len(self.latent_blocks),
            "blocks": len(self.blocks),
        }

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        x = self.latent_blocks(self.reduce(y_hat))
        return self.blocks(self.shuffle(self.expand(x)))


#: the backbone stage a stem may feed: ``layer2`` (the stem stands in for the pixel stem and
#: layer1) or ``layer1`` (for the pixel stem only; the frozen residual stage layer1 then adds
#: depth at 1/4 resolution for no trainable parameters)
FIRST_STAGES = ("layer1", "layer2")


def backbone_stages(first_stage: str) -> tuple[str, ...]:
    """The ResNet stages an adapter runs after its stem, ``first_stage`` first."""
    if first_stage not in FIRST_STAGES:
        raise ValueError(f"first_stage must be one of {FIRST_STAGES}, not {first_stage!r}")
    return ("layer1", "layer2", "layer3", "layer4")[FIRST_STAGES.index(first_stage) :]


class StemFedBackbone(nn.Module):
    """What the classification and detection adapters share: the latent stem, then the
    reused pixel backbone's stages from ``first_stage`` on and the pixel model's head
    (frozen unless unfrozen by :func:`freeze_except`; frozen batch-norm statistics stay
    the pixel model's).

    ``pixel_model`` is copied; a subclass names the backbone inside it
    (:meth:`_backbone`), takes over its head (:meth:`_reuse_head`), lists the head's
    modules with parameters in ``HEADS`` and names its adapter file's kind and the reader
    of the pixel model file it adapts."""

    HEADS: tuple[str, ...]
    WEIGHTS_KIND: WeightsKind
    read_pixel_model: Callable[[Path], nn.Module]
    stem: LatentStem
    layer1: nn.Module | None
    layer2: nn.Module
    layer3: nn.Module
    layer4: nn.Module
    first_stage: str
    backbone_stages: tuple[str, ...]
    train_stages: tuple[str, ...]

    def __init__(
        self,
        pixel_model: nn.Module,
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
        pixel_model = copy.deepcopy(pixel_model)
        backbone = self._backbone(pixel_model)
        self.stem = LatentStem(
            latent_channels,
            backbone.widths[0],
            scale=4,
            rank=rank,
            latent_blocks=latent_blocks,
            blocks=blocks,
        )
        self.first_stage, self.backbone_stages = first_stage, backbone_stages(first_stage)
        self.layer1 = backbone.layer1 if first_stage == "layer1" else None
        self.layer2, self.layer3, self.layer4 = backbone.layer2, backbone.layer3, backbone.layer4
        self._reuse_head(pixel_model)
        self.train_stages = freeze_except(
            self, (*self.backbone_stages, *self.HEADS), train_stages, train_norms
        )

    @staticmethod
    def _backbone(pixel_model: Any) -> SmallResNet:
        """The ResNet whose stages the adapter reuses (the pixel model itself by default)."""
        return pixel_model

    def _reuse_head(self, pixel_model: Any) -> None:
        """Take over the pixel model's modules after the backbone (the ``HEADS``)."""
        raise NotImplementedError

    def train(self, mode: bool = True):
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

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def freeze_except(
    model: nn.Module,
    frozen_roots: tuple[str, ...],
    train_stages: tuple[str, ...],
    train_norms: bool = False,
) -> tuple[str, ...]:
    """Freeze the modules ``frozen_roots`` (the pixel model's parts the adapter reuses),
    then unfreeze ``train_stages``: dotted module paths inside them (``layer4``,
    ``fcos.head.classification_head.cls_logits``, ...), and with ``train_norms`` every
    norm layer inside them too. Returns the unfrozen paths; raises ValueError on a path
    that names no module under those roots."""
    if train_norms:
        norms = norm_layer_paths(model, frozen_roots)
        train_stages = (*train_stages, *(n for n in norms if n not in train_stages))
    for name in frozen_roots:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(False)
    for path in train_stages:
        if path.split(".")[0] not in frozen_roots:
            raise ValueError(f"train_stages: {path!r} is not inside {list(frozen_roots)}")
        try:
            module = model.get_submodule(path)
        except AttributeError:
            raise ValueError(f"train_stages: the model has no module {path!r}") from None
        for p in module.parameters():
            p.requires_grad_(True)
    return tuple(train_stages)


def keep_frozen_statistics(
    model: nn.Module, stages: tuple[str, ...], train_stages: tuple[str, ...], mode: bool
) -> None:
    """After ``model.train(mode)``: frozen backbone stages stay in eval mode (their batch
    norm statistics are the pixel model's); unfrozen ones follow ``mode``."""
    for name in stages:
        model.get_submodule(name).eval()
    for path in train_stages:
        model.get_submodule(path).train(mode)


def norm_layer_paths(model: nn.Module, roots: tuple[str, ...]) -> tuple[str, ...]:
    """Dotted paths of the normalisation layers (batch / group / layer norm) inside
    ``roots``: unfreezing only these (a few hundred parameters per stage, plus their running
    statistics) lets the reused pixel stages re-centre on the stem's features."""
    norms = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
    return tuple(
        f"{root}.{name}"
        for root in roots
        for name, m in model.get_submodule(root).named_modules()
        if name and isinstance(m, norms)
    )
