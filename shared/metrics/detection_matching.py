"""Detections matched to a frame's ground-truth boxes (IoU ≥ 0.5 within the same class):
which detections are true positives. One rule for ``polc demo``'s detection score and for the
operating point ``polc bench operating-point`` chooses.

Detections are matched best score first, each to the unmatched ground-truth box of its class
with the highest IoU: a detection's match never depends on lower-scoring ones, so dropping
every detection of a class below a threshold leaves the others' matches as they were.
"""

from __future__ import annotations

import torch
from torchvision.ops import box_iou

from polc.shared.data.synth.classes import CLASSES

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels


def truth_boxes(annotations: list[dict] | None) -> list[tuple[str, Box]]:
    """A synthetic frame's ground-truth boxes (COCO ``x, y, w, h`` -> ``x0, y0, x1, y1``)."""
    return [
        (
            CLASSES[a["category_id"] - 1],
            (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]),
        )
        for a in annotations or []
    ]


def true_positives(
    detections: list[tuple[str, float, Box]], truth: list[tuple[str, Box]], iou: float = 0.5
) -> list[bool]:
    """Per detection (label, score, box), in the order given (best score first), whether it
    takes a ground-truth box (label, box) of its class at IoU ≥ ``iou``."""
    hits = [False] * len(detections)
    if not detections or not truth:
        return hits
    ious = box_iou(
        torch.tensor([d[2] for d in detections], dtype=torch.float32).reshape(-1, 4),
        torch.tensor([g for _, g in truth], dtype=torch.float32).reshape(-1, 4),
    )
    same = torch.tensor([[d[0] == label for label, _ in truth] for d in detections])
    ious = torch.where(same, ious, torch.zeros(()))
    for k, row in enumerate(ious):
        best = int(row.argmax())
        if row[best] >= iou:
            hits[k] = True
            ious[:, best] = 0  # this ground-truth box is taken
    return hits
