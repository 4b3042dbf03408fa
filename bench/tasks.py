"""`polc bench tasks`: machine-task accuracy versus rate, side by side (classification
top-1 here, detection mAP in ``tasks_det.py``).

Methods, on a held-out synthetic seed:
  (a) adapter on ŷ (compressed domain)      (b) pixel model on x̂₁ (β = 1)
  (c) pixel model on x̄(β = 0), enhancement bits counted
  (d) pixel model on JPEG (quality sweep)  (e) pixel model on the original (upper bound)
plus the BD-rate of (a) against (d) at equal accuracy, trainable parameters (adapter vs
fine-tuning the whole backbone on ŷ) and cloud cost per frame (FLOPs, CPU latency) of (a)
versus decode + pixel model (b). Writes JSON (keys ``cls`` and ``det``) and one
rate–accuracy PNG per task (``OUT.png``, ``OUT-det.png``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib import pyplot as plt
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from polc.bench.metrics import bd_rate_of_curves, jpeg
from polc.bench.tasks_det import run_detection
from polc.cloud.latent_runners import ClassificationRunner
from polc.shared.codec.runtime import Codec
from polc.shared.data import ensure_synthetic
from polc.shared.models.vision.teacher_file import load_teacher
from polc.shared.models.weights_file import WEIGHTS_DIR, default_teacher_path
from polc.training.teacher import load_labelled_folder

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
JPEG_QUALITIES = (3, 5, 8, 12, 20, 35, 60, 90)
# full traffic frames compress better than 128-px crops: JPEG needs q < 3 to reach the
# codec's lowest rates (~0.2 bpp)
DET_JPEG_QUALITIES = (1, 2, 3, 5, 8, 12, 20, 35, 60)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default="bench-tasks.json")
    p.add_argument("--plot", default=None)
    p.add_argument("--images", type=int, default=1000, help="held-out crops")
    p.add_argument("--det-images", type=int, default=48, help="held-out detection frames")
    p.add_argument("--quick", action="store_true", help="reduced run (< 5 min on 2 cores)")
    p.add_argument("--tasks", default="cls,det", help="which tasks to run (default both)")


def _flops(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*args)
    return int(counter.get_total_flops())


def _top1(model, batch: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(batch).argmax(1) == labels).float().mean())


def gap_to_pixel(curves: dict) -> list[dict]:
    """(b) − (a) per α: how far the adapter on ŷ is from the pixel model on x̂₁ at the same
    bits (positive = the adapter is behind)."""
    return [
        {"alpha": a["alpha"], "bpp": a["bpp"], "gap": b["metric"] - a["metric"]}
        for a, b in zip(curves["adapter_on_latent"], curves["pixel_on_x1"], strict=True)
    ]


def run(args: argparse.Namespace) -> int:
    tasks = {t.strip() for t in args.tasks.split(",") if t.strip()}
    unknown = tasks - {"cls", "det"}
    if unknown or not tasks:
        raise SystemExit(f"polc bench tasks: --tasks takes cls and/or det, got {args.tasks!r}")
    out = Path(args.json)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    result: dict = {}
    if "cls" in tasks:
        result["cls"] = run_classification(args, plot)
    if "det" in tasks:
        if args.quick:
            result["det"] = run_detection(min(args.det_images, 8), (0.0, 0.5, 1.0), (1, 3, 8, 20))
        else:
            result["det"] = run_detection(args.det_images, ALPHAS, DET_JPEG_QUALITIES)
        result["det"]["gap_to_pixel_on_x1"] = gap_to_pixel(result["det"]["curves"])
    out.write_text(json.dumps(result, indent=2))
    if "cls" in result:
        _report_cls(result["cls"])
    if "det" in result:
        _report_det(result["det"], plot.with_name(f"{plot.stem}-det{plot.suffix}"))
    return 0


def run_classification(args: argparse.Namespace, plot: Path) -> dict:
    n = min(args.images, 300) if args.quick else args.images
    codec = Codec.load()
    teacher = load_teacher(default_teacher_path())
    runner = ClassificationRunner.load(WEIGHTS_DIR / "adapter_cls.pt", default_teacher_path())
    images, labels = load_labelled_folder(ensure_synthetic("cls", n, 2), "held-out")
    arrays = [im.permute(1, 2, 0).numpy() for im in images]
    curves: dict[str, list[dict]] = {
        "adapter_on_latent": [],
        "pixel_on_x1": [],
        "pixel_on_beta0": [],
        "pixel_on_jpeg": [],
        "pixel_on_original": [],
    }
    orig = _top1(teacher, images.float() / 255, labels)
    for alpha in tqdm(ALPHAS, desc="alpha"):
        frames = [codec.decode(codec.encode(a, alpha, enhancement=True)) for a in arrays]
        base = np.mean([codec.bits_per_pixel(f)[0] for f in frames])
        enh = np.mean([codec.bits_per_pixel(f)[1] for f in frames])
        latents = torch.cat([f.y_hat for f in frames])
        with torch.no_grad():
            acc_a = float((runner.model(latents).argmax(1) == labels).float().mean())
        x1 = (
            torch.stack(
                [torch.from_numpy(codec.reconstruct(f, 1.0)).permute(2, 0, 1) for f in frames]
            ).float()
            / 255
        )
        x0 = (
            torch.stack(
                [torch.from_numpy(codec.reconstruct(f, 0.0)).permute(2, 0, 1) for f in frames]
            ).float()
            / 255
        )
        curves["adapter_on_latent"].append({"alpha": alpha, "bpp": base, "metric": acc_a})
        curves["pixel_on_x1"].append(
            {"alpha": alpha, "bpp": base, "metric": _top1(teacher, x1, labels)}
        )
        curves["pixel_on_beta0"].append(
            {"alpha": alpha, "bpp": base + enh, "metric": _top1(teacher, x0, labels)}
        )
    for q in tqdm(JPEG_QUALITIES, desc="jpeg"):
        dec = [jpeg(a, q) for a in arrays]
        batch = torch.stack([torch.from_numpy(d[0]).permute(2, 0, 1) for d in dec]).float()
        curves["pixel_on_jpeg"].append(
            {
                "quality": q,
                "bpp": float(np.mean([d[1] for d in dec])),
                "metric": _top1(teacher, batch / 255, labels),
            }
        )
    curves["pixel_on_original"].append({"bpp": 24.0, "metric": orig})
    a, d = curves["adapter_on_latent"], curves["pixel_on_jpeg"]
    bd = bd_rate_of_curves(a, d)
    adapter = runner.model
    full = sum(p.numel() for p in adapter.parameters())
    y = frames[0].y_hat
    flops_a = _flops(adapter, y)
    flops_b = _flops(lambda t: teacher(codec.model.g_s(t)[0]), y)
    t0 = time.perf_counter()
    for _ in range(20):
        with torch.no_grad():
            adapter(y)
    lat_a = (time.perf_counter() - t0) / 20
    t0 = time.perf_counter()
    for _ in range(20):
        with torch.no_grad():
            teacher(codec.model.g_s(y)[0])
    lat_b = (time.perf_counter() - t0) / 20
    result = {
        "images": n,
        "crop": list(images.shape[-2:]),
        "curves": curves,
        "bd_rate_vs_jpeg": bd,
        "adapter_trainable_params": adapter.trainable_parameters(),
        "adapter_stem_params": sum(p.numel() for p in adapter.stem.parameters()),
        "full_finetune_params": full,
        "gap_to_pixel_on_x1": gap_to_pixel(curves),
        "flops_compressed_domain": flops_a,
        "flops_decode_plus_pixel": flops_b,
        "cpu_ms_compressed_domain": lat_a * 1e3,
        "cpu_ms_decode_plus_pixel": lat_b * 1e3,
    }
    _plot(curves, plot, "top-1 accuracy", "Classification: accuracy vs rate")
    return result


def _report_cls(c: dict) -> None:
    print(f"{'method':<22} {'bpp':>6} {'top1':>6}")
    for name, rows in c["curves"].items():
        for r in rows:
            print(f"{name:<22} {r['bpp']:6.3f} {r['metric']:6.3f}")
    _report_costs(c, "top-1", "points")


def _report_det(det: dict, plot: Path) -> None:
    if "skipped" in det:
        print(f"detection skipped: {det['skipped']}")
        return
    _plot(det["curves"], plot, "mAP@0.5", "Detection: mAP@0.5 vs rate")
    print(f"{'detection':<22} {'bpp':>6} {'mAP50':>6} {'mAP':>6}")
    for name, rows in det["curves"].items():
        for r in rows:
            print(f"{name:<22} {r['bpp']:6.3f} {r['metric']:6.3f} {r['metric_map']:6.3f}")
    _report_costs(det, "mAP@0.5", "mAP@0.5 points")


def _report_costs(c: dict, metric: str, points: str) -> None:
    """The lines both tasks print under their curves: BD-rate, gap to (b), parameters, cost."""
    print(f"BD-rate adapter vs JPEG (equal {metric}): {c['bd_rate_vs_jpeg']:+.1f}%")
    print(
        f"gap to the pixel model on x̂₁ ({points}): "
        + ", ".join(f"α={g['alpha']:g} {100 * g['gap']:+.1f}" for g in c["gap_to_pixel_on_x1"])
    )
    full = c["full_finetune_params"]
    print(
        f"trainable params: adapter {c['adapter_trainable_params']:,} vs full fine-tune "
        f"{full:,} ({100 * c['adapter_trainable_params'] / full:.1f}%)"
    )
    print(
        f"FLOPs per frame: compressed domain {c['flops_compressed_domain'] / 1e6:.1f} M vs "
        f"decode + pixel {c['flops_decode_plus_pixel'] / 1e6:.1f} M; CPU "
        f"{c['cpu_ms_compressed_domain']:.1f} ms vs {c['cpu_ms_decode_plus_pixel']:.1f} ms"
    )


def _plot(curves: dict, path: Path, ylabel: str, title: str) -> None:
    matplotlib.use("Agg")  # files only, no display
    fig, ax = plt.subplots(figsize=(6, 4.2))
    styles = {
        "adapter_on_latent": "o-",
        "pixel_on_x1": "s--",
        "pixel_on_beta0": "^--",
        "pixel_on_jpeg": "k.:",
    }
    for name, style in styles.items():
        rows = curves[name]
        ax.plot([r["bpp"] for r in rows], [r["metric"] for r in rows], style, label=name)
    ax.axhline(
        curves["pixel_on_original"][0]["metric"], color="gray", lw=0.8, label="pixel_on_original"
    )
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
