"""Adapter training configuration (pydantic): ``polc train adapter --config FILE``.

A YAML file overrides the task's defaults field by field; errors name the field::

    task: cls            # or det
    steps: 4000
    stem: {rank: 32, latent_blocks: 1, blocks: 1}
    train_stages: []     # e.g. [layer4] to unfreeze the backbone's last stage

On a user's torchvision model (``shared/models/vision/torchvision_models.py``)::

    model: torchvision:resnet50     # or convnext_tiny, fcos_resnet50_fpn, retinanet_…
    weights: /models/resnet50.pth   # the user's state dict (nothing is downloaded)
    feed_stage: 3                   # the stage the stem feeds (ŷ ×2 -> stage 3's input)
    data: /data/imagenet/train      # cls: ImageFolder; det: COCO folder (images/ + json)
    held_out: /data/imagenet/val
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from polc.shared.errors import ConfigError
from polc.shared.settings import StrictModel, format_validation_error, read_yaml_mapping

Task = Literal["cls", "det"]
#: the pixel model's parts each task reuses: ``train_stages`` unfreezes modules inside them
#: by dotted path (a whole stage, or e.g. ``fcos.head.regression_head.bbox_reg``)
TRAINABLE_STAGES: dict[str, tuple[str, ...]] = {
    "cls": ("layer1", "layer2", "layer3", "layer4", "fc"),
    "det": ("layer1", "layer2", "layer3", "layer4", "fcos"),
}


class StemConfig(StrictModel):
    """The latent stem (``shared/models/adapters/stem.py``)."""

    rank: int = Field(32, ge=1, le=1024, description="width of the low-rank 1×1 pair")
    latent_blocks: int = Field(0, ge=0, le=8, description="ConvNeXt blocks at 1/16 resolution")
    blocks: int = Field(1, ge=0, le=8, description="ConvNeXt blocks after the pixel shuffle")
    first_stage: Literal["layer1", "layer2"] = Field(
        "layer2",
        description="the pixel backbone's stage the stem feeds (layer1: the stem "
        "replaces only the pixel stem and the frozen layer1 runs on its output)",
    )


class AdapterTrainConfig(StrictModel):
    task: Task = "cls"
    steps: int = Field(1500, ge=1)
    batch_size: int = Field(64, ge=1, description="crops (cls) or latent windows (det)")
    lr: float = Field(2e-3, gt=0, description="peak AdamW learning rate (cosine to 2 %)")
    w_distill: float = Field(1.0, ge=0, description="weight of the feature distillation")
    stem: StemConfig = StemConfig()
    train_stages: tuple[str, ...] = Field((), description="backbone modules to unfreeze")
    train_norms: bool = Field(
        False,
        description="also unfreeze every norm layer of the "
        "reused pixel model (affine parameters + running statistics)",
    )
    images: int | None = Field(None, ge=1, description="training images (default: all)")
    window: int = Field(16, ge=4, le=64, description="det: latent window side (×16 px)")
    eval_every: int = Field(500, ge=1)
    seed: int = 0
    init: Path | None = Field(
        None,
        description="start from this adapter file's weights "
        "(same stem sizes) when the run has no checkpoint yet",
    )

    model: str | None = Field(
        None, description="torchvision:NAME: adapt the user's torchvision model (with weights)"
    )
    weights: Path | None = Field(None, description="model: the user's state dict file")
    class_names: Path | None = Field(
        None, description="model: text file, one class name a line (else from weights)"
    )
    feed_stage: int = Field(3, ge=2, le=4, description="model: the stage the stem feeds")
    data: Path | None = Field(
        None, description="model: training data (cls: ImageFolder; det: COCO folder)"
    )
    held_out: Path | None = Field(None, description="model: evaluation data (same layout)")
    label_offset: int = Field(
        0,
        ge=0,
        le=1,
        description="model, det: added to category_id − 1 (1 for torchvision's COCO "
        "weights, which index their outputs by category id)",
    )
    crop: int = Field(
        64, ge=64, le=1024, multiple_of=64, description="model, cls: image side (pixels)"
    )

    @model_validator(mode="after")
    def _stages_exist(self) -> AdapterTrainConfig:
        if self.model is not None:  # checked against the model itself when it is built
            if self.weights is None:
                raise ValueError("model: needs weights (the model's state dict file)")
            return self
        allowed = TRAINABLE_STAGES[self.task]
        for name in self.train_stages:
            if name.split(".")[0] not in allowed:
                raise ValueError(
                    f"train_stages: {name!r} is not inside {list(allowed)} for task {self.task}"
                )
        return self

    def adapter_kwargs(self) -> dict:
        """LatentClassifier / LatentDetector (torchvision: the ``feed_stage``) arguments
        after (pixel model, latent channels)."""
        feed = {"feed_stage": self.feed_stage} if self.model else {}
        return {
            "rank": self.stem.rank,
            "train_stages": self.train_stages,
            "latent_blocks": self.stem.latent_blocks,
            "blocks": self.stem.blocks,
            "train_norms": self.train_norms,
            **(feed or {"first_stage": self.stem.first_stage}),
        }


#: each task's defaults (what the shipped adapters were trained with, bar ``steps``)
DEFAULTS: dict[str, dict] = {
    "cls": {"task": "cls", "steps": 1500, "batch_size": 64},
    "det": {"task": "det", "steps": 3000, "batch_size": 8},
}


def load_adapter_config(
    path: str | Path | None, task: Task | None = None, overrides: dict | None = None
) -> AdapterTrainConfig:
    """The task's defaults, then the YAML file, then ``overrides`` (command-line flags).

    ``task`` (from the command line) must agree with the file's ``task`` when both are set.
    """
    raw: dict = {}
    origin = "adapter config"
    if path is not None:
        origin = str(path)
        raw = read_yaml_mapping(path)
    if task is not None and raw.get("task", task) != task:
        raise ConfigError(
            f"{origin}: field 'task': the file says {raw['task']!r}, the command line says {task!r}"
        )
    chosen = raw.get("task", task or "cls")
    merged = {
        **DEFAULTS.get(chosen, {}),
        **raw,
        **{k: v for k, v in (overrides or {}).items() if v is not None},
    }
    try:
        return AdapterTrainConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from exc
