"""The pixel detector's weights file (kind ``detector``, ``polc-detector-1``): fp16 weights
(batch-norm statistics too), the detector's sizes and its class names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.detector import PixelDetector
from polc.shared.models.weights_file import load_weights, save_weights, tagged


def detector_state(detector: PixelDetector, classes: list[str], **extra: Any) -> dict:
    """What ``detector.pt`` holds: fp16 weights (BN statistics too), config, classes."""
    state = {
        k: (v.half() if v.is_floating_point() else v) for k, v in detector.state_dict().items()
    }
    return tagged(
        "detector", {"state_dict": state, "classes": list(classes), **detector.config, **extra}
    )


def save_detector(path: Path, detector: PixelDetector, classes: list[str], **extra: Any) -> None:
    save_weights(path, "detector", detector_state(detector, classes, **extra))


def load_detector(path: Path, device: str = "cpu") -> PixelDetector:
    state = load_weights(path, "detector")
    body = SmallResNet(int(state["num_classes"]), tuple(state["widths"]))
    detector = PixelDetector(
        body, int(state["num_classes"]), int(state["channels"]), int(state["head_convs"])
    )
    detector.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    )
    detector.classes = list(state["classes"])
    return detector.to(device).eval()
