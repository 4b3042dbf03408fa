"""`polc bench tasks`: machine-task accuracy versus rate, side by side (classification
top-1 in ``tasks_cls.py``, detection mAP in ``tasks_det.py``), on the synthetic held-out
sets with the bundled models, or on your data with your adapters and pixel models.

Methods:
  (a) adapter on ŷ (compressed domain)      (b) pixel model on x̂₁ (β = 1)
  (c) pixel model on x̄(β = 0), enhancement bits counted
  (d) pixel model on JPEG (quality sweep)  (e) pixel model on the original (upper bound)
plus the BD-rate of (a) against (d) at equal accuracy, trainable parameters (adapter vs
fine-tuning the whole backbone on ŷ) and cloud cost per frame (FLOPs, CPU latency) of (a)
versus decode + pixel model (b). Writes JSON (keys ``cls`` and ``det``, each with ``data``
and ``models``: what was evaluated) and one rate–accuracy PNG per task (``OUT.png``,
``OUT-det.png``).

Data and models are checked before anything is coded: a missing or empty folder, a COCO
folder without ``annotations.json``, an adapter trained on another codec's latents or
class folders that are not the adapter's classes stop the run with one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from polc.bench.arguments import add_output_arguments, output_paths
from polc.bench.tasks_cls import run_classification
from polc.bench.tasks_data import CocoFrames, LabelledImages, parse_size
from polc.bench.tasks_det import run_detection
from polc.bench.tasks_models import BUNDLED_ADAPTERS, TaskModels, load_task_models
from polc.bench.tasks_report import gap_to_pixel, report_cls, report_det
from polc.shared.codec.runtime import Codec
from polc.shared.data import ensure_synthetic
from polc.shared.models.weights_file import default_codec_path, default_detector_path

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
JPEG_QUALITIES = (3, 5, 8, 12, 20, 35, 60, 90)
# full traffic frames compress better than 128-px crops: JPEG needs q < 3 to reach the
# codec's lowest rates (~0.2 bpp)
DET_JPEG_QUALITIES = (1, 2, 3, 5, 8, 12, 20, 35, 60)
QUICK_DET = ((0.0, 0.5, 1.0), (1, 3, 8, 20))  # --quick: α and JPEG qualities of detection
QUICK_IMAGES, QUICK_FRAMES = 300, 8  # --quick: at most this many crops / detection frames
HELD_OUT_SEED = 2  # the synthetic held-out sets
TORCHVISION_WEIGHTS = (
    "for a torchvision adapter (polc train adapter --model torchvision:NAME): required, the "
    "weights file given to --weights when it was trained (your state dict; the architecture "
    "is the adapter file's model name)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_arguments(
        p, "plot path (default: the JSON's with .png; detection: NAME-det.png)", "bench-tasks.json"
    )
    p.add_argument("--images", type=int, default=1000, help="held-out synthetic crops")
    p.add_argument("--det-images", type=int, default=48, help="held-out synthetic detection frames")
    p.add_argument("--quick", action="store_true", help="reduced run (< 5 min on 2 cores)")
    p.add_argument(
        "--tasks",
        default=None,
        help="cls and/or det (default: the tasks whose data or models are given, else both)",
    )
    own = p.add_argument_group("your data and models (default: synthetic data, bundled models)")
    own.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="classification ImageFolder: DIR/<class>/<image>.jpg|png",
    )
    own.add_argument(
        "--det-data",
        type=Path,
        metavar="DIR",
        help="detection COCO folder: DIR/annotations.json + DIR/images/",
    )
    own.add_argument(
        "--adapter",
        type=Path,
        metavar="FILE",
        help="classification adapter file (bundled or torchvision kind)",
    )
    own.add_argument(
        "--det-adapter", type=Path, metavar="FILE", help="detection adapter file (either kind)"
    )
    own.add_argument(
        "--pixel-model",
        type=Path,
        metavar="FILE",
        help="the classifier of the pixel baselines: for a SmallResNet adapter its teacher "
        f"file (default: the bundled one); {TORCHVISION_WEIGHTS}",
    )
    own.add_argument(
        "--det-pixel-model",
        type=Path,
        metavar="FILE",
        help="the detector of the pixel baselines: for a SmallResNet adapter its detector "
        f"file (default: the bundled one); {TORCHVISION_WEIGHTS}",
    )
    own.add_argument(
        "--codec", type=Path, metavar="FILE", help="codec weights (default: the bundled codec)"
    )
    own.add_argument("--max-images", type=int, metavar="N", help="evaluate at most N images")
    own.add_argument(
        "--size",
        type=parse_size,
        metavar="WxH",
        help="classification: resize to cover W×H and centre-crop; detection: resize frames "
        "to W×H (boxes scaled back). Default: as stored. The codec pads to multiples of 64",
    )
    own.add_argument(
        "--label-offset",
        type=int,
        metavar="N",
        default=0,
        help="detection: model label = COCO category id - 1 + N (as the adapter's training "
        "config; 1 for torchvision's COCO detectors)",
    )
    own.add_argument(
        "--batch-size", type=int, default=16, metavar="N", help="images per model call"
    )


def chosen_tasks(args: argparse.Namespace) -> set[str]:
    """``--tasks``, else the tasks whose data or models are given, else both."""
    if args.tasks is not None:
        tasks = {t.strip() for t in args.tasks.split(",") if t.strip()}
        if tasks - {"cls", "det"} or not tasks:
            raise SystemExit(f"polc bench tasks: --tasks takes cls and/or det, got {args.tasks!r}")
        return tasks
    given = {
        "cls": (args.data, args.adapter, args.pixel_model),
        "det": (args.det_data, args.det_adapter, args.det_pixel_model),
    }
    return {task for task, options in given.items() if any(options)} or {"cls", "det"}


def _source(root: Path | None, task: str, n: int) -> tuple[Path, str]:
    """The data folder and how the results name it (the synthetic set when none is given)."""
    if root is not None:
        return root, str(root)
    return ensure_synthetic(task, n, HELD_OUT_SEED), f"synthetic {task} held-out (seed 2)"


@dataclass
class Job:
    """One task to evaluate: its models and data, and how the results name the data."""

    task: str
    models: TaskModels
    data: LabelledImages | CocoFrames
    source: str


def _described(section: dict, job: Job, codec: str, size: tuple[int, int] | None) -> dict:
    """``section`` labelled with the data and the models it was measured on."""
    data = {"source": job.source, "size": "x".join(map(str, size)) if size else "as stored"}
    return {**section, "data": data, "models": {**job.models.description, "codec": codec}}


def _cap(args: argparse.Namespace, quick_cap: int) -> int | None:
    """``--max-images``, at most ``quick_cap`` with ``--quick``."""
    if args.quick:
        return min(args.max_images or quick_cap, quick_cap)
    return args.max_images


def _classification_job(args: argparse.Namespace, codec: Codec) -> Job:
    models = load_task_models("cls", args.adapter, args.pixel_model, codec, "--pixel-model")
    cap = _cap(args, QUICK_IMAGES)
    root, source = _source(args.data, "cls", min(args.images, cap or args.images))
    return Job("cls", models, LabelledImages(root, models.classes, cap, args.size), source)


def _detection_job(args: argparse.Namespace, codec: Codec) -> Job | str:
    """The detection job, or why it is skipped (no bundled detection weights)."""
    bundled = args.det_adapter is None and args.det_pixel_model is None
    files = (BUNDLED_ADAPTERS["det"], default_detector_path())
    if bundled and not all(f.is_file() for f in files):
        return f"no detection weights ({files[0]}, {files[1]})"
    models = load_task_models(
        "det", args.det_adapter, args.det_pixel_model, codec, "--det-pixel-model"
    )
    cap = _cap(args, QUICK_FRAMES)
    root, source = _source(args.det_data, "det", min(args.det_images, cap or args.det_images))
    return Job("det", models, CocoFrames(root, cap, args.size), source)


def run(args: argparse.Namespace) -> int:
    tasks = chosen_tasks(args)
    out, plot = output_paths(args)
    codec_path = Path(args.codec or default_codec_path())
    codec = Codec.load(codec_path)
    # every model and data folder is opened (and checked) before the long work starts
    jobs = [_classification_job(args, codec)] if "cls" in tasks else []
    det = _detection_job(args, codec) if "det" in tasks else None
    if isinstance(det, Job):
        jobs.append(det)
    result: dict = {}
    for job in jobs:
        if job.task == "cls":
            section = run_classification(
                job.models, job.data, codec, ALPHAS, JPEG_QUALITIES, args.batch_size
            )
        else:
            alphas, qualities = QUICK_DET if args.quick else (ALPHAS, DET_JPEG_QUALITIES)
            section = run_detection(
                job.models, job.data, codec, alphas, qualities, args.label_offset, args.batch_size
            )
            section["gap_to_pixel_on_x1"] = gap_to_pixel(section["curves"])
        result[job.task] = _described(section, job, str(codec_path), args.size)
    if isinstance(det, str):
        result["det"] = {"skipped": det}
    out.write_text(json.dumps(result, indent=2))
    if "cls" in result:
        report_cls(result["cls"], plot)
    if "det" in result:
        report_det(result["det"], plot.with_name(f"{plot.stem}-det{plot.suffix}"))
    return 0
