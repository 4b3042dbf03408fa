"""Detection adapter training: codec frozen, pixel detector's stages / FPN / head frozen (by
default), latent stem trained with the FCOS loss + feature distillation from the pixel
detector's backbone on the original image.

    x ─pad─► (frozen g_a, once) ─► y ─(α ~ U[0,1])─► ŷ window ─adapter─► C3, C4, C5 ─► FCOS loss
    x ─pad─► same window ─────────(frozen pixel detector)────► C3*, C4*, C5* ── Σ ‖C − C*‖² / ‖C*‖²

y = g_a(x) does not depend on α, so it is computed once per training frame (cached in the
run directory: g_a is the most expensive part of a step on a CPU) and each step draws random
16 × 16 latent windows (256 × 256 pixels) at random α. The frames are padded exactly as the
edge encoder pads them (replicate, bottom / right, to multiples of 64), so the adapter sees
the same border it will see on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from polc.shared.codec.frame_spec import PAD
from polc.shared.metrics.coco import coco_map
from polc.shared.models.adapters.adapter_file import save_adapter_file
from polc.shared.models.adapters.detection import LATENT_STRIDE, LatentDetector, keep_visible
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.vision.detector import PixelDetector
from polc.shared.models.weights_file import save_torch_file
from polc.training.adapter import AdapterT, distillation, latents_at, start_adapter_training
from polc.training.adapter_config import DEFAULTS, AdapterTrainConfig
from polc.training.checkpoint import load_if_exists
from polc.training.detection_data import DetectionSet, crop_targets
from polc.training.distributed import is_main_process
from polc.training.loop import Evaluation, StepResult

log = logging.getLogger(__name__)


def pad_frames(x: torch.Tensor, multiple: int = PAD) -> torch.Tensor:
    """Replicate-pad a float batch bottom / right to multiples of ``multiple`` (as the
    encoder's ``image_to_array`` does)."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")


@torch.no_grad()
def analyse_frames(
    model: RDCCodec, images: torch.Tensor, batch: int = 4, desc: str = "g_a over frames"
) -> torch.Tensor:
    """y = g_a(padded frame) for a uint8 frame tensor, stored as float16."""
    out = []
    for i in tqdm(range(0, len(images), batch), desc=desc, leave=False):
        out.append(model.g_a(pad_frames(images[i : i + batch].float() / 255.0)).half())
    return torch.cat(out)


def cached_latents(
    model: RDCCodec, images: torch.Tensor, path: Path, fingerprint: str
) -> torch.Tensor:
    state = load_if_exists(path)
    if state and state["fingerprint"] == fingerprint and len(state["y"]) == len(images):
        return state["y"]
    y = analyse_frames(model, images, desc="g_a over training frames (cached)")
    if is_main_process():  # one writer under torchrun
        save_torch_file({"fingerprint": fingerprint, "y": y}, path)
    return y


class LatentWindows:
    """Random latent windows with their pixel windows and boxes (padded-frame pixels)."""

    def __init__(
        self, data: DetectionSet, y: torch.Tensor, window: int, batch_size: int, seed: int
    ):
        self.data, self.y, self.window, self.batch_size = data, y, window, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, torch.Tensor]]]:
        n, _, hl, wl = self.y.shape
        k, s, b = self.window, LATENT_STRIDE, self.batch_size
        idx = torch.randint(0, n, (b,), generator=self.gen).tolist()
        ys = torch.randint(0, hl - k + 1, (b,), generator=self.gen).tolist()
        xs = torch.randint(0, wl - k + 1, (b,), generator=self.gen).tolist()
        frames = pad_frames(self.data.images[idx].float() / 255.0)
        lat, pix, targets = [], [], []
        for row, (i, y0, x0) in enumerate(zip(idx, ys, xs, strict=True)):
            lat.append(self.y[i, :, y0 : y0 + k, x0 : x0 + k])
            pix.append(frames[row, :, y0 * s : (y0 + k) * s, x0 * s : (x0 + k) * s])
            targets.append(
                crop_targets(self.data.targets[i], x0 * s, y0 * s, k * s, k * s, flip=False)
            )
        return torch.stack(lat).float(), torch.stack(pix), targets


@torch.no_grad()
def evaluate_det_adapter(
    adapter: LatentDetector,
    model: RDCCodec,
    y: torch.Tensor,
    data: DetectionSet,
    alpha: float,
    batch: int = 8,
) -> dict[str, float]:
    """mAP of the adapter on full frames at one α, boxes clipped to the original size."""
    was_training = adapter.training
    adapter.eval()
    height, width = data.images.shape[-2:]
    dets = {}
    for i in range(0, len(y), batch):
        y_hat = latents_at(
            model, y[i : i + batch].float(), torch.full((len(y[i : i + batch]),), alpha)
        )
        for image_id, det in zip(data.image_ids[i : i + batch], adapter(y_hat), strict=True):
            dets[image_id] = keep_visible(det, width, height)
    adapter.train(was_training)
    return coco_map(data.coco, dets)


def train_det_adapter(
    codec_model: RDCCodec,
    detector: PixelDetector,
    train: DetectionSet,
    held_out: DetectionSet,
    run_dir: Path,
    fingerprint: str,
    config: AdapterTrainConfig | None = None,
    adapter_type: Callable[..., AdapterT] = LatentDetector,
) -> AdapterT:
    """``adapter_type(detector, latent_channels, **cfg.adapter_kwargs())``: the adapter
    (default :class:`LatentDetector`; a torchvision one through
    ``training/torchvision_adapter.py``)."""
    cfg = config or AdapterTrainConfig(**DEFAULTS["det"])
    adapter, loop = start_adapter_training(adapter_type, detector, codec_model, cfg, run_dir)
    y_train = cached_latents(codec_model, train.images, run_dir / "latents_det.pt", fingerprint)
    y_test = analyse_frames(codec_model, held_out.images, desc="g_a over held-out frames")
    windows = LatentWindows(train, y_train, cfg.window, cfg.batch_size, cfg.seed * 7919 + loop.step)

    def step(_: int) -> StepResult:
        y, x, targets = (loop.shard(part) for part in windows.next())
        alpha = loop.shard(torch.rand(cfg.batch_size, generator=windows.gen))
        y_hat = latents_at(codec_model, y, alpha)
        with torch.no_grad():
            target_feats = detector.stages(x)
        feats = adapter.stages(y_hat)
        losses = adapter.detect(feats, tuple(x.shape[-2:]), targets)
        task = sum(losses.values())
        distill = distillation(feats, target_feats)
        return StepResult(task + cfg.w_distill * distill, {"fcos": task, "distill": distill})

    def held_out_map(at: int) -> Evaluation:
        maps = {
            a: evaluate_det_adapter(adapter, codec_model, y_test, held_out, a) for a in (0.0, 1.0)
        }
        return Evaluation(
            f"det adapter step {at}: held-out mAP@0.5 alpha=0 "
            f"{maps[0.0]['map50']:.3f} alpha=1 {maps[1.0]['map50']:.3f} "
            f"({loop.elapsed():.0f} s)",
            {"map50_alpha0": maps[0.0]["map50"], "map50_alpha1": maps[1.0]["map50"]},
        )

    loop.run(step, held_out_map)
    log.info("detection adapter trained in %.0f s", loop.elapsed())
    return adapter.eval()


def save_det_adapter(
    adapter: LatentDetector, classes: list[str], fingerprint: str, path: Path
) -> None:
    """The stem and any unfrozen modules; the rest is the shipped pixel detector's."""
    save_adapter_file(path, LatentDetector.WEIGHTS_KIND, adapter, classes, fingerprint)
