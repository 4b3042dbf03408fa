"""COCO box mAP with pycocotools: detections (0-based labels) against a COCO index."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.cocoeval import COCOeval
from torch import Tensor


def coco_map(
    coco_gt, detections: dict[int, dict[str, Tensor]], label_to_category: list[int] | None = None
) -> dict[str, float]:
    """{"map50": AP@0.5, "map": AP@[.5:.95]} over the images in ``detections``.

    ``detections`` maps a COCO image id to ``{"boxes" (xyxy pixels), "scores", "labels"}``;
    label ``i`` is category ``label_to_category[i]`` (default ``i + 1``).
    """
    rows = []
    for image_id, det in detections.items():
        boxes = det["boxes"].detach().float().cpu().numpy().reshape(-1, 4)
        scores = det["scores"].detach().float().cpu().numpy()
        labels = det["labels"].detach().cpu().numpy()
        for (x0, y0, x1, y1), s, lab in zip(boxes, scores, labels, strict=True):
            cat = label_to_category[int(lab)] if label_to_category else int(lab) + 1
            rows.append([image_id, x0, y0, x1 - x0, y1 - y0, s, cat])
    if not rows:
        return {"map50": 0.0, "map": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(np.asarray(rows, dtype=np.float64))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.imgIds = sorted(detections)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map50": max(0.0, float(ev.stats[1])), "map": max(0.0, float(ev.stats[0]))}
