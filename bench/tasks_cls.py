"""The classification section of `polc bench tasks`: top-1 accuracy versus rate.

(a) the classification adapter on ŷ, (b)–(e) its pixel model (the teacher, or the user's
torchvision classifier) on x̂₁, x̄(β = 0), JPEG and the original images; plus the BD-rate
of (a) against (d) and the cost per frame.
"""

from __future__ import annotations

import torch

from polc.bench.metrics import bd_rate_of_curves
from polc.bench.tasks_costs import frame_costs
from polc.bench.tasks_data import LabelledImages
from polc.bench.tasks_models import TaskModels
from polc.bench.tasks_report import gap_to_pixel
from polc.bench.tasks_sweep import Batch, sweep
from polc.shared.codec.runtime import Codec


class Top1:
    """Scores a batch by top-1 hits against its labels (``batch.info``)."""

    def __init__(self, models: TaskModels):
        self.models = models

    def latent(self, y_hat: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.models.adapter(y_hat).argmax(1) == batch.info

    def pixel(self, images: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.models.pixel(images).argmax(1) == batch.info

    def score(self, outputs: list[torch.Tensor]) -> dict[str, float]:
        return {"metric": float(torch.cat(outputs).float().mean())}


def run_classification(
    models: TaskModels,
    data: LabelledImages,
    codec: Codec,
    alphas: tuple[float, ...],
    qualities: tuple[int, ...],
    batch_size: int = 16,
) -> dict:
    """The classification results (curves, BD-rate, gap to (b), parameters and cost)."""
    swept = sweep(
        codec, data.batches(batch_size), len(data), alphas, qualities, Top1(models), "cls"
    )
    curves = swept.curves

    def decode_plus_pixel(y: torch.Tensor) -> torch.Tensor:
        return models.pixel(codec.model.g_s(y)[0])

    return {
        "images": swept.images,
        "crop": list(swept.sample_size) if len(swept.sizes) == 1 else None,
        "curves": curves,
        "bd_rate_vs_jpeg": bd_rate_of_curves(curves["adapter_on_latent"], curves["pixel_on_jpeg"]),
        **frame_costs(models.adapter, decode_plus_pixel, swept.sample_latent, repeat=20),
        "gap_to_pixel_on_x1": gap_to_pixel(curves),
    }
