"""The cloud's results scored against the clip's ground truth: classification (is the top
class present in the frame, are the present classes in the top 3) and detection (boxes
matched at IoU ≥ 0.5 within the same class)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polc.app.demo.frames import DemoFrame
from polc.shared.metrics.detection_matching import true_positives


@dataclass(frozen=True)
class ClassificationScore:
    frames: int  # frames with objects and a result
    top1_present: float  # fraction whose top-1 class is present in the frame
    recall_top3: float  # mean fraction of the present classes found in the top 3


def classification_score(frames: list[DemoFrame]) -> ClassificationScore | None:
    """None when no frame with objects has a result (the cloud ran no analyzer)."""
    scored = [f for f in frames if f.top and f.truth]
    if not scored:
        return None
    hit = np.mean([f.top[0][0] in f.truth for f in scored])
    # the classifier was trained on single-object crops: on a full frame its top-k
    # should name the classes present; recall of those in the top 3
    recall3 = np.mean(
        [len(set(f.truth) & {c for c, _ in f.top[:3]}) / len(f.truth) for f in scored]
    )
    return ClassificationScore(len(scored), float(hit), float(recall3))


def detection_matches(frames: list[DemoFrame], iou: float = 0.5) -> tuple[int, int, int]:
    """(true positives, detections, ground-truth objects): each detection, best score
    first, takes the unmatched ground-truth box of its class with the highest IoU ≥ iou."""
    tp = n_det = n_gt = 0
    for f in frames:
        n_gt += len(f.truth_boxes)
        n_det += len(f.boxes)
        tp += sum(true_positives(sorted(f.boxes, key=lambda d: -d[1]), f.truth_boxes, iou))
    return tp, n_det, n_gt
