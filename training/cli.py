"""`polc train {teacher,codec,detector,adapter,temporal,ship}`.

The handlers import the trainers (and torch) when they run, so that `polc train --help`
does not import torch (CONTRIBUTING: a command group's register() must not import torch).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from polc.shared.codec.config import load_codec_config
from polc.shared.data import CLASSES, ensure_synthetic
from polc.training.adapter_config import load_adapter_config
from polc.training.launch import main_with_nproc, set_scaling_env

Handler = Callable[[argparse.Namespace], int]


def _run_teacher(args: argparse.Namespace) -> int:
    # command handler (rule a): torch
    from polc.training.device import resolve_device
    from polc.training.teacher import train_teacher

    cfg = load_codec_config(args.config)
    train_teacher(cfg, Path(args.run_dir), resolve_device(args.device))
    return 0


def _run_codec(args: argparse.Namespace) -> int:
    # command handler (rule a): torch
    from polc.training.codec import train_codec
    from polc.training.device import resolve_device

    cfg = load_codec_config(args.config, Path(args.data) if args.data else None)
    teacher = Path(args.teacher) if args.teacher else Path(args.run_dir) / "teacher.pt"
    stages = tuple(int(s) for s in args.stages.split(","))
    train_codec(
        cfg,
        Path(args.run_dir),
        teacher,
        resolve_device(args.device),
        stages,
        Path(args.init) if args.init else None,
    )
    return 0


def _run_detector(args: argparse.Namespace) -> int:
    # command handler (rule a): torch
    from polc.shared.models.vision.teacher_file import load_teacher
    from polc.shared.models.weights_file import default_teacher_path
    from polc.training.detection_data import DetectionSet
    from polc.training.detector import EVAL_SEED, TRAIN_SEED, save_detector, train_detector
    from polc.training.device import resolve_device
    from polc.training.distributed import is_main_process

    teacher = load_teacher(Path(args.teacher) if args.teacher else default_teacher_path())
    train = DetectionSet.load(ensure_synthetic("det", args.images, TRAIN_SEED), "train")
    held_out = DetectionSet.load(ensure_synthetic("det", 24, EVAL_SEED), "held-out")
    run_dir = Path(args.run_dir)
    detector = train_detector(
        teacher,
        train,
        held_out,
        run_dir,
        steps=args.steps,
        batch_size=args.batch_size,
        device=resolve_device(args.device),
    )
    if not is_main_process():  # rank 0 writes the outputs
        return 0
    out = run_dir / "detector.pt"
    m = save_detector(detector, held_out, out)
    print(
        f"detector saved to {out} (held-out mAP@0.5 {m['map50']:.3f}, mAP@[.5:.95] {m['map']:.3f})"
    )
    return 0


def _run_det_adapter(args: argparse.Namespace, config) -> int:
    # command handler (rule a): torch
    from polc.shared.codec.runtime import Codec
    from polc.shared.models.vision.detector_file import load_detector
    from polc.shared.models.weights_file import default_detector_path
    from polc.training.adapter_det import save_det_adapter, train_det_adapter
    from polc.training.detection_data import DetectionSet
    from polc.training.detector import EVAL_SEED, TRAIN_SEED
    from polc.training.distributed import is_main_process

    codec = Codec.load(args.codec)
    detector = load_detector(Path(args.detector) if args.detector else default_detector_path())
    train = DetectionSet.load(
        ensure_synthetic("det", 3000, TRAIN_SEED), "train", limit=config.images
    )
    held_out = DetectionSet.load(ensure_synthetic("det", 24, EVAL_SEED), "held-out")
    run_dir = Path(args.run_dir)
    adapter = train_det_adapter(
        codec.model, detector, train, held_out, run_dir, codec.fingerprint, config
    )
    if not is_main_process():  # rank 0 writes the outputs
        return 0
    out = run_dir / "adapter_det.pt"
    save_det_adapter(adapter, detector.classes, codec.fingerprint, out)
    print(f"adapter saved to {out}")
    return 0


def _run_torchvision_adapter(args: argparse.Namespace, config) -> int:
    # command handler (rule a): torch
    from polc.shared.codec.runtime import Codec
    from polc.training.distributed import is_main_process
    from polc.training.torchvision_adapter import train_torchvision_adapter

    out = train_torchvision_adapter(config, Codec.load(args.codec), Path(args.run_dir))
    if is_main_process():
        print(f"adapter saved to {out}")
    return 0


def _run_adapter(args: argparse.Namespace) -> int:
    # command handler (rule a): torch
    from polc.shared.codec.runtime import Codec
    from polc.shared.models.vision.teacher_file import load_teacher
    from polc.shared.models.weights_file import default_teacher_path
    from polc.training.adapter import save_cls_adapter, train_cls_adapter
    from polc.training.distributed import is_main_process
    from polc.training.teacher import load_labelled_folder

    task = args.task
    if task is None and args.model:  # a torchvision detector says what the task is
        task = "det" if args.model.split(":")[-1].startswith(("fcos_", "retinanet_")) else "cls"
    config = load_adapter_config(
        args.config,
        task,
        {
            "steps": args.steps,
            "images": args.images,
            "eval_every": args.eval_every,
            "model": args.model,
            "weights": args.weights,
            "class_names": args.class_names,
            "feed_stage": args.feed_stage,
            "data": args.data,
            "held_out": args.held_out,
        },
    )
    if config.model is not None:
        return _run_torchvision_adapter(args, config)
    if config.task == "det":
        return _run_det_adapter(args, config)
    codec = Codec.load(args.codec)
    teacher = load_teacher(Path(args.teacher) if args.teacher else default_teacher_path())
    train_x, train_y = load_labelled_folder(
        ensure_synthetic("cls", config.images or 20000, 1), "train"
    )
    test_x, test_y = load_labelled_folder(ensure_synthetic("cls", 1000, 1001), "eval")
    run_dir = Path(args.run_dir)
    adapter = train_cls_adapter(
        codec.model, teacher, train_x, train_y, test_x, test_y, run_dir, config
    )
    if not is_main_process():  # rank 0 writes the outputs
        return 0
    out = run_dir / "adapter_cls.pt"
    save_cls_adapter(adapter, list(CLASSES), codec.fingerprint, out)
    print(f"adapter saved to {out}")
    return 0


def _run_temporal(args: argparse.Namespace) -> int:
    from polc.shared.codec.runtime import Codec
    from polc.training.temporal import train_temporal
    from polc.training.temporal_config import load_temporal_config

    cfg = load_temporal_config(args.config, {"steps": args.steps})
    out = train_temporal(
        Codec.load(args.codec), cfg, Path(args.run_dir), Path(args.out) if args.out else None
    )
    print(f"temporal weights saved to {out}")
    return 0


def _run_ship(args: argparse.Namespace) -> int:
    # command handler (rule a): torch
    from polc.shared.codec.export import ship_run

    ship_run(Path(args.run_dir), Path(args.out) if args.out else None)
    return 0


def _scaled(handler: Handler) -> Handler:
    """``handler`` run on ``--nproc`` processes (torchrun) with ``--accumulate`` / ``--no-amp``."""

    def run(args: argparse.Namespace) -> int:
        set_scaling_env(args.accumulate, not args.no_amp)
        return main_with_nproc(args.nproc, lambda: handler(args))

    return run


_NPROC_HELP = (
    "data-parallel processes on this machine (re-launches the command under torchrun; "
    "one GPU each, else gloo on the CPU); or launch with torchrun yourself"
)


def _scale_options() -> argparse.ArgumentParser:
    scale = argparse.ArgumentParser(add_help=False)
    scale.add_argument("--nproc", type=int, default=1, help=_NPROC_HELP)
    scale.add_argument("--accumulate", type=int, default=1, help="micro-batches per optimiser step")
    scale.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    return scale


_ADAPTER = "compressed-domain adapter (codec and backbone frozen)"
_TEMPORAL = "temporal (P-frame) entropy model h_t (codec frozen)"


def _on_frozen_codec(
    parser: argparse.ArgumentParser, config: str, run_dir: str = "runs/tiny"
) -> argparse.ArgumentParser:
    """The flags of a stage trained on the frozen codec: its YAML config (e.g.
    ``training/configs/<config>.yaml``), run folder and codec weights."""
    parser.add_argument(
        "--config",
        default=None,
        help=f"YAML config (training/configs/{config}.yaml); flags below override it",
    )
    parser.add_argument("--run-dir", default=run_dir)
    parser.add_argument("--codec", default=None, help="codec weights (default: bundled)")
    return parser


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="train_command", metavar="WHAT", required=True)
    scale = _scale_options()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=None, help="YAML config file or preset name (tiny, paper); default tiny"
    )
    common.add_argument("--run-dir", default="runs/tiny", help="checkpoints and outputs")
    common.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")

    t = sub.add_parser("teacher", parents=[common, scale], help="pixel-domain teacher (stage 0)")
    t.set_defaults(handler=_scaled(_run_teacher))
    c = sub.add_parser("codec", parents=[common, scale], help="codec stage I and II (resumable)")
    c.add_argument("--teacher", default=None, help="teacher weights (default RUN_DIR/teacher.pt)")
    c.add_argument("--stages", default="1,2", help="which stages to run, e.g. 1 or 1,2")
    c.add_argument(
        "--init",
        default=None,
        help="start from shipped weights (codec.pt) when RUN_DIR has no checkpoint; a codec "
        "with fewer channels gives what fits of its weights",
    )
    c.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="a folder of real images (any sizes, JPEG/PNG): random crops of them are the "
        "training data, or the data.mix.folder share of it when the config has a mix",
    )
    c.set_defaults(handler=_scaled(_run_codec))
    d = sub.add_parser(
        "detector", parents=[scale], help="pixel-domain FCOS detector on the teacher backbone"
    )
    d.add_argument("--run-dir", default="runs/det")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    d.add_argument("--teacher", default=None, help="backbone init (default: bundled teacher)")
    d.add_argument("--steps", type=int, default=2200)
    d.add_argument("--batch-size", type=int, default=16)
    d.add_argument("--images", type=int, default=3000, help="synthetic training frames")
    d.set_defaults(handler=_scaled(_run_detector))
    a = _on_frozen_codec(sub.add_parser("adapter", parents=[scale], help=_ADAPTER), "adapter-*")
    a.add_argument(
        "--task", choices=["cls", "det"], default=None, help="default: the config's task, else cls"
    )
    a.add_argument("--teacher", default=None, help="pixel backbone (default: bundled)")
    a.add_argument(
        "--steps",
        type=int,
        default=None,
        help="default: the config's, else 1500 (cls) / 3000 (det)",
    )
    a.add_argument(
        "--images",
        type=int,
        default=None,
        help="training images (default: 20000 cls crops; det: all 3000 frames of "
        "the synthetic set, g_a computed once and cached in RUN_DIR)",
    )
    a.add_argument("--eval-every", type=int, default=None, help="eval interval (default 500)")
    a.add_argument(
        "--detector", default=None, help="--task det: pixel detector (default: bundled detector.pt)"
    )
    a.add_argument(
        "--model",
        default=None,
        help="torchvision:NAME (resnet50, convnext_tiny, fcos_resnet50_fpn, ...): adapt your "
        "own torchvision model; the task follows from it",
    )
    a.add_argument("--weights", default=None, help="--model: its state dict file (yours)")
    a.add_argument(
        "--class-names",
        default=None,
        help="--model: class names, one a line (default: "
        "the weights file's 'classes', else class_0..)",
    )
    a.add_argument("--feed-stage", type=int, default=None, help="--model: stage the stem feeds (3)")
    a.add_argument(
        "--data", default=None, help="--model: training ImageFolder (cls) / COCO folder (det)"
    )
    a.add_argument("--held-out", default=None, help="--model: evaluation data, same layout")
    a.set_defaults(handler=_scaled(_run_adapter))
    tm = sub.add_parser("temporal", parents=[scale], help=_TEMPORAL)
    _on_frozen_codec(tm, "temporal-v1", "runs/temporal")
    tm.add_argument("--steps", type=int, default=None, help="default: the config's (1500)")
    tm.add_argument("--out", default=None, help="weights file (default RUN_DIR/temporal.pt)")
    tm.set_defaults(handler=_scaled(_run_temporal))
    s = sub.add_parser("ship", help="export a finished run as the bundled default weights")
    s.add_argument("--run-dir", default="runs/tiny")
    s.add_argument("--out", default=None, help="output folder (default: polc/shared/weights)")
    s.set_defaults(handler=_run_ship)
