"""`polc bench operating-point`: choose the cloud's detection operating point (per-class
score thresholds and NMS) on held-out frames and store it in the detection adapter file.

Held-out frames: synthetic fixed-camera clips of seeds FIRST_SEED.. (40-49 by default) —
neither ``polc demo``'s clip (seed 2026, kept for evaluation) nor ``polc bench video``'s
(7-9) nor training's (≥ 1000) — coded by the shipped codec at each α of ``--alphas`` (intra:
the ŷ the cloud decodes from lossless P-frames is the same). The detection adapter runs once
per frame; its boxes (the model's own score floor 0.05 and NMS 0.6) are cached, then for each
NMS setting of :data:`NMS_SETTINGS` (IoU, per class or across classes)

    candidates ─NMS─► matched to the ground truth (IoU ≥ 0.5, same class, best first)
               ─► one precision-recall table per class ─► thresholds maximising F1

(``operating_point_choice``: exact over a 0.01 grid; classes with fewer than
``--min-class-boxes`` ground-truth boxes share one threshold). The NMS setting whose F1 is
highest wins (ties: the earlier, simpler one). The objective is F1 over every frame at every
α pooled (``--beta``: F_β instead, weighing recall β times as much; ``--min-recall R``: the most
precise point whose pooled recall is at least R, exact over the grid). The point is written
into ``--adapter`` (``operating_point`` entry, with the command that chose it;
``--no-write``: report only), where the cloud's DetectionRunner reads it. Prints a table,
writes ``--json`` and a precision-recall plot per class.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from polc.bench.arguments import (
    add_clip_options,
    add_option,
    add_output_arguments,
    write_results,
)
from polc.bench.operating_point_choice import (
    GRID,
    SHARED,
    Choice,
    ClassTable,
    choose_for_recall,
    choose_thresholds,
    evaluate,
    groups,
)
from polc.bench.operating_point_plot import write_plot
from polc.bench.video_polc import code_intra
from polc.bench.video_scoring import render_clips
from polc.cloud.latent_runners import DetectionRunner
from polc.shared.codec.runtime import Codec
from polc.shared.errors import ConfigError
from polc.shared.metrics.detection_matching import Box, true_positives, truth_boxes
from polc.shared.models.adapters.operating_point import (
    LEGACY_MIN_SCORE,
    OperatingPoint,
    store_operating_point,
)
from polc.shared.models.weights_file import WEIGHTS_DIR, default_detector_path

FIRST_SEED = 40
#: clips this command must not choose on: polc demo's (evaluation), polc bench video's
RESERVED_SEEDS = {
    2026: "polc demo's clip",
    **dict.fromkeys((7, 8, 9), "polc bench video's clips"),
}
TRAINING_SEEDS_FROM = 1000
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: (extra NMS IoU or None = the model's own per-class NMS at 0.6, across classes)
NMS_SETTINGS: tuple[tuple[float | None, bool], ...] = (
    (None, False),
    (0.5, False),
    (0.4, False),
    (0.3, False),
    (0.7, True),
    (0.5, True),
    (0.3, True),
)


@dataclass
class HeldOutFrame:
    alpha: float
    truth: list[tuple[str, Box]]
    candidates: dict[str, torch.Tensor]  #: the adapter's boxes before the operating point


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_arguments(
        p,
        "precision-recall plot per class (default: the JSON's .png)",
        json_default="bench-operating-point.json",
    )
    add_clip_options(
        p, 10, 24, FIRST_SEED, "never the demo's 2026, the video bench's 7-9 or training's >= 1000"
    )
    p.add_argument("--size", default="512x288", help="frame size WxH (default 512x288)")
    p.add_argument("--alphas", default=",".join(f"{a:g}" for a in ALPHAS), help="rate parameters α")
    add_option(
        p, "--min-class-boxes", 30, "classes with fewer ground-truth boxes share one threshold"
    )
    p.add_argument(
        "--adapter",
        default=str(WEIGHTS_DIR / "adapter_det.pt"),
        help="detection adapter file to choose for and write into (default: the shipped one)",
    )
    p.add_argument("--detector", default=None, help="its pixel detector (default: the shipped one)")
    p.add_argument(
        "--no-write", action="store_true", help="report only, leave the adapter file as it is"
    )
    add_option(p, "--beta", 1.0, "maximise F_beta (default 1: F1; > 1 weighs recall more)")
    p.add_argument(
        "--min-recall",
        type=float,
        default=None,
        help="instead of F_beta: the most precise point whose held-out recall is at least this",
    )


def _setup(args: argparse.Namespace) -> dict:
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        alphas = [float(a) for a in args.alphas.split(",") if a.strip()]
    except ValueError as exc:
        raise ConfigError(
            f"polc bench operating-point: bad number in the options ({exc})"
        ) from None
    seeds = list(range(args.first_seed, args.first_seed + args.clips))
    if args.clips < 1 or args.frames < 1:
        raise ConfigError("--clips and --frames must be >= 1")
    for seed in seeds:
        if seed in RESERVED_SEEDS or not 0 <= seed < TRAINING_SEEDS_FROM:
            why = RESERVED_SEEDS.get(seed, f"outside [0, {TRAINING_SEEDS_FROM})")
            raise ConfigError(f"--first-seed/--clips: seed {seed} is held back ({why})")
    if width < 16 or height < 16:
        raise ConfigError(f"--size {args.size}: width and height must be >= 16")
    if not alphas or any(not 0.0 <= a <= 1.0 for a in alphas):
        raise ConfigError(f"--alphas {args.alphas}: one or more α in [0, 1]")
    if not Path(args.adapter).is_file():
        raise ConfigError(f"--adapter: no file {args.adapter}")
    if args.min_recall is not None and not 0.0 < args.min_recall <= 1.0:
        raise ConfigError(f"--min-recall {args.min_recall}: a recall in (0, 1]")
    return {
        "size": [width, height],
        "seeds": seeds,
        "frames_per_clip": args.frames,
        "alphas": alphas,
        "min_class_boxes": args.min_class_boxes,
    }


def command_line(args: argparse.Namespace, setup: dict) -> str:
    """What the stored point says chose it (enough to re-run the command)."""
    width, height = setup["size"]
    parts = [
        "polc bench operating-point",
        f"--first-seed {args.first_seed} --clips {args.clips} --frames {args.frames}",
        f"--size {width}x{height} --alphas {','.join(f'{a:g}' for a in setup['alphas'])}",
        f"--min-class-boxes {args.min_class_boxes}",
    ]
    if args.adapter != str(WEIGHTS_DIR / "adapter_det.pt"):
        parts.append(f"--adapter {shlex.quote(args.adapter)}")
    if args.min_recall is not None:
        parts.append(f"--min-recall {args.min_recall:g}")
    elif args.beta != 1.0:
        parts.append(f"--beta {args.beta:g}")
    return " ".join(parts) + f" ({objective(args)} on the held-out frames)"


def objective(args: argparse.Namespace) -> str:
    if args.min_recall is not None:
        return f"max precision at recall >= {args.min_recall:g}"
    return "max F1" if args.beta == 1.0 else f"max F_beta, beta {args.beta:g}"


def choose(args: argparse.Namespace, tables: dict[str, ClassTable]) -> Choice | None:
    """The thresholds the objective picks (None: the recall floor is out of reach)."""
    if args.min_recall is not None:
        return choose_for_recall(tables, args.min_recall)
    return choose_thresholds(tables, beta=args.beta)


def merit(args: argparse.Namespace, choice: Choice | None) -> float:
    """What the objective ranks NMS settings by."""
    if choice is None:
        return -1.0
    return choice.precision if args.min_recall is not None else choice.f_beta(args.beta)


def held_out_frames(codec: Codec, runner: DetectionRunner, setup: dict) -> list[HeldOutFrame]:
    """Every held-out frame at every α with the adapter's candidate boxes."""
    width, height = setup["size"]
    clips = render_clips(setup["seeds"], setup["frames_per_clip"], (width, height))
    out: list[HeldOutFrame] = []
    with tqdm(total=len(clips) * len(setup["alphas"]), desc="code + detect", unit="clip") as bar:
        for clip in clips:
            truths = [truth_boxes(a) for a in clip.annotations]
            for alpha in setup["alphas"]:
                coded = code_intra(codec, clip.frames, alpha)
                found = runner.candidates(coded.y_hats, [(width, height)] * len(coded.y_hats))
                out += [HeldOutFrame(alpha, t, c) for t, c in zip(truths, found, strict=True)]
                bar.update()
    return out


def class_tables(
    frames: list[HeldOutFrame], classes: list[str], nms_iou: float | None, agnostic: bool
) -> dict[str, ClassTable]:
    """Per class: the scores and true-positive flags of the boxes left by the NMS setting."""
    nms = OperatingPoint(0.0, {}, nms_iou, agnostic)
    scores: dict[str, list[float]] = {c: [] for c in classes}
    hits: dict[str, list[bool]] = {c: [] for c in classes}
    truth = dict.fromkeys(classes, 0)
    for frame in frames:
        kept = nms.apply(frame.candidates, classes)
        dets = [
            (classes[c], s, tuple(b))
            for b, s, c in zip(
                kept["boxes"].tolist(),
                kept["scores"].tolist(),
                kept["labels"].tolist(),
                strict=True,
            )
        ]
        for (label, score, _), hit in zip(dets, true_positives(dets, frame.truth), strict=True):
            scores[label].append(score)
            hits[label].append(hit)
        for label, _ in frame.truth:
            truth[label] = truth.get(label, 0) + 1
    return {
        c: ClassTable(np.array(scores.get(c, []), float), np.array(hits.get(c, []), bool), n)
        for c, n in truth.items()
    }


def max_recall(tables: dict[str, ClassTable]) -> float:
    """Recall with every candidate kept (the lowest threshold of the grid)."""
    return evaluate(tables, {}, float(GRID[0])).recall


def _summary(choice: Choice) -> dict:
    return {
        "precision": choice.precision,
        "recall": choice.recall,
        "f1": choice.f1,
        "tp": choice.tp,
        "detections": choice.detections,
        "truth": choice.truth,
    }


def _operating_point(
    choice: Choice, uniform: Choice, classes: list[str], nms: tuple, chosen_by: str
) -> OperatingPoint:
    """Thresholds per class; the shared one for the others (when no class was rare enough
    to share it, the best single threshold: what a class unseen on the held-out frames gets)."""
    shared = choice.thresholds[SHARED] if SHARED in choice.used else uniform.thresholds[SHARED]
    per_class = {c: t for c, t in choice.thresholds.items() if c != SHARED and c in classes}
    return OperatingPoint(shared, per_class, nms[0], nms[1], chosen_by)


def run(args: argparse.Namespace) -> int:
    setup = _setup(args)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    codec = Codec.load()
    detector = Path(args.detector) if args.detector else default_detector_path()
    runner = DetectionRunner.load(Path(args.adapter), detector)
    classes = runner.classes
    frames = held_out_frames(codec, runner, setup)
    sweep = []
    for nms in tqdm(NMS_SETTINGS, desc="NMS settings", unit="setting"):
        tables = class_tables(frames, classes, *nms)
        sweep.append((nms, tables, choose(args, groups(tables, setup["min_class_boxes"]))))
    best = max(range(len(sweep)), key=lambda i: (merit(args, sweep[i][2]), -i))
    nms, tables, choice = sweep[best]
    if choice is None:
        raise ConfigError(
            f"--min-recall {args.min_recall:g}: no thresholds reach it on the held-out frames "
            f"(at most {max_recall(tables):.3f})"
        )
    uniform = choose(args, {SHARED: ClassTable.pooled(list(tables.values()))}) or choice
    point = _operating_point(choice, uniform, classes, nms, command_line(args, setup))
    legacy = evaluate(sweep[0][1], {}, LEGACY_MIN_SCORE)
    per_alpha = {
        f"{a:g}": _summary(
            evaluate(
                class_tables([f for f in frames if f.alpha == a], classes, *nms),
                dict(point.per_class),
                point.min_score,
            )
        )
        for a in setup["alphas"]
    }
    per_class = {
        c: {
            "threshold": point.threshold(c),
            **_summary(evaluate({c: t}, {c: point.threshold(c)}, point.min_score)),
        }
        for c, t in tables.items()
    }
    results = {
        "setup": {**setup, "frames": len(frames), "adapter": args.adapter, "grid": GRID.tolist()},
        "objective": f"{objective(args)} (pooled over every held-out frame at every alpha)",
        "operating_point": point.as_dict(),
        "chosen": _summary(choice),
        "legacy_0.3": _summary(legacy),
        "uniform_threshold": {"threshold": uniform.thresholds[SHARED], **_summary(uniform)},
        "nms_sweep": [
            {"nms_iou": n[0], "class_agnostic_nms": n[1], **_summary(c), "thresholds": c.thresholds}
            for n, _, c in sweep
            if c is not None
        ],
        "per_alpha": per_alpha,
        "per_class": per_class,
        "written": not args.no_write,
    }
    _print(results)
    out, plot = write_results(args, results, lambda path: write_plot(tables, point, path))
    if not args.no_write:
        store_operating_point(Path(args.adapter), point)
    where = "not written (--no-write)" if args.no_write else f"written into {args.adapter}"
    print(f"operating point {where}; results: {out}, plot: {plot}")
    return 0


def _print(results: dict) -> None:
    def line(name: str, s: dict) -> str:
        return (
            f"  {name:<34} precision {100 * s['precision']:5.1f}%  recall "
            f"{100 * s['recall']:5.1f}%  F1 {s['f1']:.3f}  ({s['tp']}/{s['detections']} "
            f"of {s['truth']})"
        )

    print(f"held-out frames: {results['setup']['frames']} (seeds {results['setup']['seeds']})")
    print(line("legacy: every class at 0.3", results["legacy_0.3"]))
    u = results["uniform_threshold"]
    print(line(f"one threshold {u['threshold']:.2f}, chosen NMS", u))
    for s in results["nms_sweep"]:
        nms = "model's NMS" if s["nms_iou"] is None else f"NMS {s['nms_iou']:g}"
        nms += " across classes" if s["class_agnostic_nms"] else ""
        print(line(f"per-class thresholds, {nms}", s))
    op = results["operating_point"]
    print(
        f"chosen: NMS {op['nms_iou']} (across classes: {op['class_agnostic_nms']}), default "
        f"threshold {op['min_score']:.2f}, per class "
        + ", ".join(f"{c} {t:.2f}" for c, t in op["per_class"].items())
    )
    for alpha, s in results["per_alpha"].items():
        print(line(f"at alpha {alpha}", s))
