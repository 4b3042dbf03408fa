"""The models `polc bench tasks` compares: an adapter file on ŷ and the pixel model it was
built on, checked against the codec whose latents the adapter reads.

An adapter file is either kind (``cloud/latent_runners.py`` loads both):

* a SmallResNet adapter (``polc train adapter``, kinds ``adapter_cls`` / ``adapter_det``):
  the pixel model is a teacher / detector file (default: the bundled one), whose stages
  and head the adapter reuses;
* a torchvision adapter (``--model torchvision:NAME``, kinds ``tv_adapter_*``): the file
  names the architecture, and the pixel model is rebuilt from that name and the user's
  weights file, the state dict given to ``polc train adapter --weights`` (required). The
  classifier sees ImageNet-normalised images; the detector runs its own forward pass at the
  frame's size (torchvision's resize to ``min_size`` is pinned to the frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from polc.cloud.latent_runners import ClassificationRunner, DetectionRunner
from polc.shared.codec.runtime import Codec
from polc.shared.errors import ModelError
from polc.shared.models.adapters.torchvision_adapters import TorchvisionAdapter
from polc.shared.models.vision.detector_file import load_detector
from polc.shared.models.vision.teacher_file import load_teacher
from polc.shared.models.vision.torchvision_models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PREFIX,
    load_torchvision_model,
)
from polc.shared.models.weights_file import (
    WEIGHTS_DIR,
    default_detector_path,
    default_teacher_path,
)

Task = Literal["cls", "det"]
BUNDLED_ADAPTERS: dict[Task, Path] = {
    "cls": WEIGHTS_DIR / "adapter_cls.pt",
    "det": WEIGHTS_DIR / "adapter_det.pt",
}


class NormalisedClassifier(nn.Module):
    """A torchvision classifier on images in [0, 1] (ImageNet normalisation first)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


class FrameSizeDetector(nn.Module):
    """A torchvision detector on a batch of images in [0, 1] at their own size: its
    transform's resize is pinned to the batch's size (scale 1); detections in image pixels."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        h, w = x.shape[-2:]
        transform = self.model.transform
        transform.min_size, transform.max_size = (min(h, w),), max(h, w)
        return self.model(list(x))


@dataclass
class TaskModels:
    adapter: nn.Module  # ŷ -> logits / detections (eval mode)
    pixel: nn.Module  # images in [0, 1] -> logits / detections (eval mode)
    classes: list[str]
    description: dict[str, str]  # what was used (the JSON's "models")


def _pixel_model_of_torchvision(
    adapter: TorchvisionAdapter, weights: Path | None, adapter_path: Path, flag: str
) -> tuple[nn.Module, int]:
    """The user's model the adapter was built on, and its number of classes."""
    name = f"{PREFIX}{adapter.spec.name}"
    if weights is None:
        raise ModelError(
            f"{adapter_path} is an adapter on {name}: pass that model's weights file (the "
            f"state dict given to polc train adapter --weights) with {flag}"
        )
    try:
        model, classes = load_torchvision_model(adapter.spec, weights)
    except ModelError as exc:  # name the file the message is about
        raise ModelError(str(exc) if str(weights) in str(exc) else f"{weights}: {exc}") from None
    wrap = NormalisedClassifier if adapter.spec.task == "cls" else FrameSizeDetector
    return wrap(model), len(classes)


def load_task_models(
    task: Task,
    adapter_path: Path | None,
    pixel_path: Path | None,
    codec: Codec,
    flag: str,
) -> TaskModels:
    """The adapter (default: the bundled one) and its pixel model; ModelError when the
    adapter was trained on another codec's latents or the two models disagree.
    ``flag``: the option naming the pixel model (for messages)."""
    adapter_path = Path(adapter_path or BUNDLED_ADAPTERS[task])
    if not adapter_path.is_file():
        raise ModelError(f"no adapter file {adapter_path}")
    runner_type = ClassificationRunner if task == "cls" else DetectionRunner
    bundled_pixel = default_teacher_path() if task == "cls" else default_detector_path()
    runner = runner_type.load(adapter_path, pixel_path or bundled_pixel)
    trained_for = runner.codec_fingerprint
    if trained_for and trained_for != codec.fingerprint:
        raise ModelError(
            f"{adapter_path} was trained on the latents of codec {trained_for[:12]}, not of "
            f"the codec evaluated ({codec.fingerprint[:12]}): pass that codec with --codec, "
            "or train an adapter for this one (polc train adapter)"
        )
    adapter = runner.model
    if isinstance(adapter, TorchvisionAdapter):
        pixel, outputs = _pixel_model_of_torchvision(adapter, pixel_path, adapter_path, flag)
        models = {"adapter_model": f"{PREFIX}{adapter.spec.name}", "pixel_model": str(pixel_path)}
    else:
        pixel_file = Path(pixel_path or bundled_pixel)
        pixel = load_teacher(pixel_file) if task == "cls" else load_detector(pixel_file)
        models = {"adapter_model": "SmallResNet", "pixel_model": str(pixel_file)}
        outputs = len(pixel.classes)
    if outputs != len(runner.classes):
        raise ModelError(
            f"{adapter_path} has {len(runner.classes)} classes, its pixel model "
            f"{models['pixel_model']} {outputs}: not the model the adapter was trained on"
        )
    return TaskModels(
        adapter.eval(),
        pixel.eval(),
        list(runner.classes),
        {"adapter": str(adapter_path), **models, "codec_fingerprint": codec.fingerprint},
    )
