"""The detection section of `polc bench tasks`: mAP versus rate on COCO-style frames.

Same methods as classification, with the pixel detector (the bundled FCOS on the teacher's
backbone, or the user's torchvision detector) as the pixel model and the detection adapter
on ŷ as (a); metric mAP@0.5, mAP@[.5:.95] kept too (``metric_map``). Boxes of (a) come out
in padded-frame pixels and are clipped to the frame; the pixel methods see the frame-size
decoded images. Frames resized by ``--size`` have their boxes scaled back to the
annotations' pixels. Label ``i`` of the models is COCO category ``i + 1 − label_offset``
(the adapter training's ``label_offset``: 0 for the synthetic set, 1 for torchvision's
COCO heads, which index by category id).
"""

from __future__ import annotations

import torch

from polc.bench.metrics import bd_rate_of_curves
from polc.bench.tasks_costs import flops, frame_costs
from polc.bench.tasks_data import CocoFrames
from polc.bench.tasks_models import TaskModels
from polc.bench.tasks_sweep import Batch, sweep
from polc.shared.codec.runtime import Codec
from polc.shared.errors import DatasetError
from polc.shared.metrics.coco import coco_map
from polc.shared.models.adapters.detection import keep_visible

Detections = dict[int, dict[str, torch.Tensor]]


def label_to_category(
    data: CocoFrames, num_classes: int, label_offset: int, what: str
) -> list[int] | None:
    """The COCO category of each model label (None: ``i + 1``); DatasetError when the data
    have categories the models cannot predict."""
    beyond = sorted(c for c in data.categories if not 0 <= c - 1 + label_offset < num_classes)
    if beyond:
        raise DatasetError(
            f"{data.root}: categories {beyond[:5]} have no output among the {num_classes} "
            f"classes of {what} (label = category id - 1 + --label-offset {label_offset})"
        )
    if label_offset == 0:
        return None
    return [i + 1 - label_offset for i in range(num_classes)]


class MeanAP:
    """Scores by COCO mAP: a batch's detections per image id (``batch.info``: image ids and
    scale factors back to the annotations' pixels)."""

    def __init__(self, models: TaskModels, data: CocoFrames, categories: list[int] | None):
        self.models, self.data, self.categories = models, data, categories

    def _per_image(self, dets: list[dict[str, torch.Tensor]], batch: Batch) -> Detections:
        out: Detections = {}
        for det, (image_id, (sx, sy)) in zip(dets, batch.info, strict=True):
            if (sx, sy) != (1.0, 1.0):
                det = {**det, "boxes": det["boxes"] * det["boxes"].new_tensor([sx, sy, sx, sy])}
            out[image_id] = det
        return out

    def latent(self, y_hat: torch.Tensor, batch: Batch) -> Detections:
        height, width = batch.images.shape[-2:]
        dets = [keep_visible(d, width, height) for d in self.models.adapter(y_hat)]
        return self._per_image(dets, batch)

    def pixel(self, images: torch.Tensor, batch: Batch) -> Detections:
        return self._per_image(self.models.pixel(images), batch)

    def score(self, outputs: list[Detections]) -> dict[str, float]:
        found: Detections = {}
        for part in outputs:
            found.update(part)
        metrics = coco_map(self.data.coco, found, self.categories)
        return {"metric": metrics["map50"], "metric_map": metrics["map"]}


def run_detection(
    models: TaskModels,
    data: CocoFrames,
    codec: Codec,
    alphas: tuple[float, ...],
    qualities: tuple[int, ...],
    label_offset: int = 0,
    batch_size: int = 8,
) -> dict:
    """The detection results (curves, BD-rate, parameters and cost)."""
    categories = label_to_category(
        data, len(models.classes), label_offset, models.description["adapter"]
    )
    scorer = MeanAP(models, data, categories)
    swept = sweep(codec, data.batches(batch_size), len(data), alphas, qualities, scorer, "det")
    curves = swept.curves
    height, width = swept.sample_size
    y = swept.sample_latent
    with torch.no_grad():
        x1 = codec.model.g_s(y)[0][..., :height, :width].clamp(0, 1)

    def decode_plus_pixel(t: torch.Tensor) -> None:
        models.pixel(codec.model.g_s(t)[0][..., :height, :width].clamp(0, 1))

    costs = frame_costs(models.adapter, decode_plus_pixel, y, repeat=5)
    return {
        "images": swept.images,
        "frame": [int(width), int(height)],
        "metric": "mAP@0.5",
        "curves": curves,
        "bd_rate_vs_jpeg": bd_rate_of_curves(curves["adapter_on_latent"], curves["pixel_on_jpeg"]),
        **costs,
        "flops_pixel_only": flops(models.pixel, x1),
    }
