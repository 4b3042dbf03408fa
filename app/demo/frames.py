"""What the demo records about each frame of the clip: the capture, its ground truth, the
edge's encoding figures and what came back from the cloud (ack latency, classes, boxes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polc.shared.data import CLASSES
from polc.shared.metrics.detection_matching import Box


@dataclass
class DemoFrame:
    image: np.ndarray
    truth: list[str]
    alpha: float
    base_bpp: float
    encode_s: float
    base_bytes: int = 0
    key_frame: bool = True  # intra; False: a P-frame
    ack_s: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    boxes: list[tuple[str, float, Box]] = field(
        default_factory=list
    )  # detections from the cloud: label, score, x0 y0 x1 y1
    truth_boxes: list[tuple[str, Box]] = field(default_factory=list)
    printed: bool = False


def truth_classes(annotations: list[dict] | None) -> list[str]:
    """The classes present in a frame (its annotations' categories)."""
    return sorted({CLASSES[a["category_id"] - 1] for a in annotations or []})
