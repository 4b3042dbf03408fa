"""A torchvision adapter's weights file (kinds ``tv_adapter_cls`` / ``tv_adapter_det``,
written by ``polc train adapter --model torchvision:NAME``): self-describing, so the cloud
needs nothing else to run it.

    model             the torchvision architecture (``resnet50``, ``fcos_resnet50_fpn``, …)
    num_classes, classes   its outputs and their names
    feed_stage        the stage the stem feeds; stem sizes (latent_channels, rank, blocks, …)
    stem, weights     fp16 state dicts of the stem and of the torchvision model from the fed
                      stage on (its earlier modules are not used)
    train_stages      what was unfrozen (information)
    codec_fingerprint the codec whose ŷ it was trained on
    operating_point   detection, optional: the score thresholds and NMS chosen for it
                      (``operating_point.py``)

:func:`read_torchvision_adapter` builds the architecture with ``weights=None`` and loads the
file (``torch.load(weights_only=True)``, like every polc weights file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from polc.shared.models.adapters.operating_point import OperatingPoint, stored_operating_point
from polc.shared.models.adapters.torchvision_adapters import (
    TorchvisionAdapter,
    TorchvisionLatentClassifier,
    TorchvisionLatentDetector,
)
from polc.shared.models.vision.torchvision_models import TorchvisionSpec
from polc.shared.models.weights_file import (
    FORMATS,
    WeightsKind,
    load_torch_file,
    load_weights,
    save_weights,
)

TORCHVISION_KINDS: dict[str, WeightsKind] = {"cls": "tv_adapter_cls", "det": "tv_adapter_det"}


def _half(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in module.state_dict().items()}


def _float(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}


def save_torchvision_adapter(
    path: Path, adapter: TorchvisionAdapter, classes: list[str], fingerprint: str
) -> None:
    save_weights(
        path,
        TORCHVISION_KINDS[adapter.spec.task],
        {
            "model": adapter.spec.name,
            "num_classes": len(classes),
            "classes": list(classes),
            "feed_stage": adapter.feed_stage,
            **adapter.stem.architecture,
            "stem": _half(adapter.stem),
            "weights": _half(adapter.model),
            "train_stages": list(adapter.train_stages),
            "codec_fingerprint": fingerprint,
        },
    )


@dataclass
class TorchvisionAdapterFile:
    adapter: TorchvisionAdapter
    classes: list[str]
    codec_fingerprint: str | None
    operating_point: OperatingPoint | None = None  # detection: chosen on held-out frames


def is_torchvision_adapter(path: Path) -> bool:
    """Whether ``path`` is a torchvision adapter file (else, e.g., a SmallResNet adapter)."""
    state = load_torch_file(Path(path))
    return isinstance(state, dict) and state.get("format") in {
        FORMATS[k] for k in TORCHVISION_KINDS.values()
    }


def read_torchvision_adapter(path: Path, task: str | None = None) -> TorchvisionAdapterFile:
    """The adapter of a file (eval mode, CPU); ``task`` ``cls`` / ``det`` restricts the kind."""
    kinds = tuple(TORCHVISION_KINDS.values()) if task is None else TORCHVISION_KINDS[task]
    state = load_weights(path, kinds)
    spec = TorchvisionSpec(name=state["model"])
    build = TorchvisionLatentClassifier if spec.task == "cls" else TorchvisionLatentDetector
    adapter = build(
        spec,
        spec.build(int(state["num_classes"])),
        int(state["latent_channels"]),
        feed_stage=int(state["feed_stage"]),
        rank=int(state["rank"]),
        latent_blocks=int(state["latent_blocks"]),
        blocks=int(state["blocks"]),
    )
    adapter.stem.load_state_dict(_float(state["stem"]))
    adapter.model.load_state_dict(_float(state["weights"]))
    return TorchvisionAdapterFile(
        adapter.eval(),
        list(state["classes"]),
        state.get("codec_fingerprint"),
        stored_operating_point(state, path),
    )
