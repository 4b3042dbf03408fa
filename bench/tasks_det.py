"""The detection section of `polc bench tasks`: mAP versus rate on held-out traffic frames.

Same methods as classification, with the pixel detector (FCOS on the teacher's backbone) as
the pixel model and the detection adapter on ŷ as (a); metric mAP@0.5, mAP@[.5:.95] kept
too (``metric_map``). Boxes of (a) come out in padded-frame pixels and are clipped to the
original frame; the pixel methods see the original-size decoded images.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from polc.bench.metrics import bd_rate_of_curves, jpeg
from polc.cloud.latent_runners import DetectionRunner
from polc.shared.codec.runtime import Codec
from polc.shared.data import ensure_synthetic
from polc.shared.metrics.coco import coco_map
from polc.shared.models.adapters.detection import keep_visible
from polc.shared.models.vision.detector_file import load_detector
from polc.shared.models.weights_file import WEIGHTS_DIR, default_detector_path
from polc.training.detection_data import DetectionSet
from polc.training.detector import detect_all

HELD_OUT_SEED = 2
METHODS = (
    "adapter_on_latent",
    "pixel_on_x1",
    "pixel_on_beta0",
    "pixel_on_jpeg",
    "pixel_on_original",
)


def _flops(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*args)
    return int(counter.get_total_flops())


def _ms(fn, *args, repeat: int = 5) -> float:
    with torch.no_grad():
        fn(*args)
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn(*args)
    return (time.perf_counter() - t0) / repeat * 1e3


def _row(metrics: dict[str, float], bpp: float, **extra) -> dict:
    return {**extra, "bpp": float(bpp), "metric": metrics["map50"], "metric_map": metrics["map"]}


def run_detection(n: int, alphas: tuple[float, ...], qualities: tuple[int, ...]) -> dict:
    adapter_path = WEIGHTS_DIR / "adapter_det.pt"
    if not (adapter_path.is_file() and default_detector_path().is_file()):
        return {"skipped": f"no detection weights ({adapter_path}, {default_detector_path()})"}
    codec = Codec.load()
    detector = load_detector(default_detector_path())
    adapter = DetectionRunner.load(adapter_path, default_detector_path()).model
    data = DetectionSet.load(ensure_synthetic("det", n, HELD_OUT_SEED), "det held-out")
    height, width = data.images.shape[-2:]
    arrays = [im.permute(1, 2, 0).numpy() for im in data.images]

    def pixel_map(images: torch.Tensor) -> dict[str, float]:
        return coco_map(
            data.coco,
            detect_all(detector, DetectionSet(images, data.targets, data.image_ids, data.coco)),
        )

    curves: dict[str, list[dict]] = {m: [] for m in METHODS}
    for alpha in tqdm(alphas, desc="det alpha"):
        frames = [codec.decode(codec.encode(a, alpha, enhancement=True)) for a in arrays]
        base = float(np.mean([codec.bits_per_pixel(f)[0] for f in frames]))
        enh = float(np.mean([codec.bits_per_pixel(f)[1] for f in frames]))
        with torch.no_grad():
            dets = adapter(torch.cat([f.y_hat for f in frames]))
        found = {
            i: keep_visible(d, width, height) for i, d in zip(data.image_ids, dets, strict=True)
        }
        curves["adapter_on_latent"].append(_row(coco_map(data.coco, found), base, alpha=alpha))
        for beta, name, bpp in ((1.0, "pixel_on_x1", base), (0.0, "pixel_on_beta0", base + enh)):
            images = torch.stack(
                [torch.from_numpy(codec.reconstruct(f, beta)).permute(2, 0, 1) for f in frames]
            )
            curves[name].append(_row(pixel_map(images), bpp, alpha=alpha))
    for q in tqdm(qualities, desc="det jpeg"):
        dec = [jpeg(a, q) for a in arrays]
        images = torch.stack([torch.from_numpy(d[0]).permute(2, 0, 1) for d in dec])
        curves["pixel_on_jpeg"].append(
            _row(pixel_map(images), np.mean([d[1] for d in dec]), quality=q)
        )
    curves["pixel_on_original"].append(_row(pixel_map(data.images), 24.0))
    a, d = curves["adapter_on_latent"], curves["pixel_on_jpeg"]
    bd = bd_rate_of_curves(a, d)
    y = frames[0].y_hat
    x1 = torch.from_numpy(codec.reconstruct(frames[0], 1.0)).permute(2, 0, 1)[None] / 255.0

    def decode_plus_pixel(t: torch.Tensor) -> None:
        x = codec.model.g_s(t)[0][..., :height, :width].clamp(0, 1)
        detector(x)

    return {
        "images": n,
        "frame": [int(width), int(height)],
        "metric": "mAP@0.5",
        "curves": curves,
        "bd_rate_vs_jpeg": bd,
        "adapter_trainable_params": adapter.trainable_parameters(),
        "full_finetune_params": sum(p.numel() for p in adapter.parameters()),
        "flops_compressed_domain": _flops(adapter, y),
        "flops_decode_plus_pixel": _flops(decode_plus_pixel, y),
        "flops_pixel_only": _flops(detector, x1),
        "cpu_ms_compressed_domain": _ms(adapter, y),
        "cpu_ms_decode_plus_pixel": _ms(decode_plus_pixel, y),
    }
