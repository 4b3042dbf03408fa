"""The pixel-domain detector (FCOS on the teacher's backbone) trained on synthetic scenes.

    frame crops (256×256, flips) ─► SmallResNet (init: shipped cls teacher) ─► FPN ─► FCOS
    loss = focal (classes) + GIoU (boxes) + BCE (centre-ness), torchvision's FCOS loss

It is the pixel model (b)–(e) of ``polc bench tasks`` for detection and the distillation
teacher of the detection adapter. Saves ``RUN_DIR/detector.pt`` (fp16 weights).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from polc.shared.data import CLASSES
from polc.shared.metrics.coco import coco_map
from polc.shared.models.vision import detector_file
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.detector import PixelDetector
from polc.training.detection_data import CropBatches, DetectionSet
from polc.training.loop import Evaluation, StepResult, TrainLoop
from polc.training.schedule import WarmupCosine

log = logging.getLogger(__name__)

TRAIN_SEED, EVAL_SEED = 11, 12  # synthetic det sets: 3000 training frames, 24 held out


@torch.no_grad()
def detect_all(
    predict: Callable[[torch.Tensor], list[dict[str, torch.Tensor]]],
    data: DetectionSet,
    batch: int = 8,
) -> dict[int, dict[str, torch.Tensor]]:
    """Detections of ``predict`` (uint8-free float batch in [0, 1] -> dets) per image id."""
    out: dict[int, dict[str, torch.Tensor]] = {}
    for i in range(0, len(data), batch):
        dets = predict(data.images[i : i + batch].float() / 255.0)
        out.update(zip(data.image_ids[i : i + batch], dets, strict=True))
    return out


def evaluate_detector(detector: PixelDetector, data: DetectionSet) -> dict[str, float]:
    was_training = detector.training
    detector.eval()
    result = coco_map(data.coco, detect_all(detector, data))
    detector.train(was_training)
    return result


def train_detector(
    teacher: SmallResNet,
    train: DetectionSet,
    held_out: DetectionSet,
    run_dir: Path,
    steps: int = 2200,
    batch_size: int = 16,
    crop: int = 256,
    lr: float = 2e-3,
    seed: int = 0,
    device: str = "cpu",
) -> PixelDetector:
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    detector = PixelDetector.from_teacher(teacher, len(CLASSES)).to(device)
    opt = torch.optim.AdamW(detector.parameters(), lr=lr, weight_decay=1e-4)
    loop = TrainLoop(
        "detector",
        detector,
        opt,
        steps=steps,
        schedule=WarmupCosine(lr, lr * 0.02, 200),
        checkpoint=run_dir / "detector_ckpt.pt",
        eval_every=1000,
        clip_norm=10.0,
    )
    batches = CropBatches(train, (crop, crop), batch_size, seed * 7919 + loop.step)

    def step(_: int) -> StepResult:
        x, targets = (loop.shard(part) for part in batches.next())
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        losses = detector(x.to(device), targets)
        return StepResult(
            sum(losses.values()),
            {"cls": losses["classification"], "box": losses["bbox_regression"]},
        )

    def held_out_map(at: int) -> Evaluation:
        m = evaluate_detector(detector.cpu(), held_out)
        detector.to(device)
        return Evaluation(
            f"detector step {at}: held-out mAP@0.5 {m['map50']:.3f} "
            f"mAP@[.5:.95] {m['map']:.3f} ({loop.elapsed():.0f} s)",
            {"map50": m["map50"], "map": m["map"]},
        )

    loop.run(step, held_out_map)
    return detector.cpu().eval()


def save_detector(detector: PixelDetector, held_out: DetectionSet, path: Path) -> dict:
    metrics = evaluate_detector(detector, held_out)
    detector_file.save_detector(
        path, detector, list(CLASSES), held_out_map50=metrics["map50"], held_out_map=metrics["map"]
    )
    log.info("detector saved to %s (held-out mAP@0.5 %.3f)", path, metrics["map50"])
    return metrics
