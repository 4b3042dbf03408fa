"""``polc train adapter --model torchvision:NAME --weights FILE``: a compressed-domain
adapter on the user's own torchvision classifier or detector.

The model is built without weights and loaded from the user's state dict
(``shared/models/vision/torchvision_models.py``); its classes come from the weights file, a
``class_names`` text file, or are numbered. Training is the SmallResNet adapters' (frozen
codec and model, stem trained with the task loss + distillation of the model's own stage
outputs on the original image, ``training/adapter.py`` / ``adapter_det.py``); the data are
an ImageFolder (cls; its folder names must be class names of the model, images resized and
centre-cropped to ``crop``) or a COCO folder (det: ``images/`` + ``annotations.json``, labels
``category_id − 1 + label_offset``), by default the synthetic sets. The result is a
self-describing ``tv_adapter_*`` file (``torchvision_adapter_file.py``) that
``polc cloud serve`` runs from ``analyzer.adapter_weights`` / ``detector_adapter_weights``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torchvision.transforms.functional as TF

from polc.shared.codec.runtime import Codec
from polc.shared.data import ensure_synthetic
from polc.shared.data.loaders import ImageFolderDataset
from polc.shared.errors import ConfigError, DatasetError
from polc.shared.models.adapters.torchvision_adapter_file import save_torchvision_adapter
from polc.shared.models.adapters.torchvision_adapters import (
    TorchvisionAdapter,
    TorchvisionLatentClassifier,
    TorchvisionLatentDetector,
)
from polc.shared.models.vision.torchvision_models import (
    PixelStages,
    TorchvisionSpec,
    load_torchvision_model,
)
from polc.training.adapter import train_cls_adapter
from polc.training.adapter_config import AdapterTrainConfig
from polc.training.adapter_det import train_det_adapter
from polc.training.detection_data import DetectionSet
from polc.training.detector import EVAL_SEED, TRAIN_SEED
from polc.training.distributed import is_main_process

log = logging.getLogger(__name__)


def read_class_names(path: Path) -> list[str]:
    """One class name a line (blank lines ignored)."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def labelled_images(
    root: Path, classes: list[str], side: int, limit: int | None, desc: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """An ImageFolder as (uint8 images side × side, labels = indexes into ``classes``):
    shorter side resized to ``side``, centre crop."""

    def fit(image: torch.Tensor) -> torch.Tensor:
        return TF.center_crop(TF.resize(image, side, antialias=True), [side, side])

    folder = ImageFolderDataset(root, transform=fit)
    unknown = sorted(set(folder.classes) - set(classes))
    if unknown:
        raise DatasetError(f"{root}: folders {unknown[:5]} are not classes of the model")
    n = min(len(folder), limit or len(folder))
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(0))[:n]
    images = torch.empty((n, 3, side, side), dtype=torch.uint8)
    labels = torch.empty(n, dtype=torch.long)
    for row, i in enumerate(order.tolist()):
        image, label = folder[i]
        images[row] = image.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8)
        labels[row] = classes.index(folder.classes[label])
    log.info("%s: %d images of %d classes", desc, n, len(folder.classes))
    return images, labels


def _offset_labels(data: DetectionSet, offset: int) -> DetectionSet:
    for t in data.targets:
        t["labels"] = t["labels"] + offset
    return data


def train_torchvision_adapter(cfg: AdapterTrainConfig, codec: Codec, run_dir: Path) -> Path:
    """Train (or resume) the adapter of ``cfg.model``; rank 0 writes
    ``RUN_DIR/adapter_<task>.pt`` and every rank returns that path."""
    assert cfg.model is not None and cfg.weights is not None
    try:
        spec = TorchvisionSpec.parse(cfg.model)
    except ValueError as exc:
        raise ConfigError(f"adapter config: field 'model': {exc}") from None
    if spec.task != cfg.task:
        raise ConfigError(f"model {spec.name} is a {spec.task} model, the task is {cfg.task}")
    model, classes = load_torchvision_model(spec, cfg.weights)
    if cfg.class_names is not None:
        classes = read_class_names(cfg.class_names)
    pixel = PixelStages(spec, model, cfg.feed_stage).eval()
    for p in pixel.parameters():
        p.requires_grad_(False)
    adapter_type = TorchvisionLatentClassifier if spec.task == "cls" else TorchvisionLatentDetector

    def build(pixel_model: PixelStages, latent_channels: int, **kwargs) -> TorchvisionAdapter:
        adapter = adapter_type(spec, pixel_model.model, latent_channels, **kwargs)
        log.info(
            "%s adapter: %d trainable parameters, %.2f %% of the model's %d",
            spec.name,
            adapter.trainable_parameters(),
            100 * adapter.parameter_share(),
            adapter.pixel_parameters,
        )
        return adapter

    if spec.task == "cls":
        train_root = cfg.data or ensure_synthetic("cls", cfg.images or 20000, 1)
        test_root = cfg.held_out or ensure_synthetic("cls", 1000, 1001)
        train_x, train_y = labelled_images(train_root, classes, cfg.crop, cfg.images, "train")
        test_x, test_y = labelled_images(test_root, classes, cfg.crop, None, "held-out")
        adapter = train_cls_adapter(
            codec.model, pixel, train_x, train_y, test_x, test_y, run_dir, cfg, build
        )
    else:
        train_root = cfg.data or ensure_synthetic("det", 3000, TRAIN_SEED)
        test_root = cfg.held_out or ensure_synthetic("det", 24, EVAL_SEED)
        train = DetectionSet.load(train_root, "train", limit=cfg.images)
        held_out = DetectionSet.load(test_root, "held-out")
        adapter = train_det_adapter(
            codec.model,
            pixel,
            _offset_labels(train, cfg.label_offset),
            _offset_labels(held_out, cfg.label_offset),
            run_dir,
            codec.fingerprint,
            cfg,
            build,
        )
    out = run_dir / f"adapter_{spec.task}.pt"
    if is_main_process():
        save_torchvision_adapter(out, adapter, classes, codec.fingerprint)
    return out
