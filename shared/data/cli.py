"""``polc data`` commands: generate synthetic traffic-camera datasets, or a few procedural
training images (dead leaves, 1/f noise) for inspection."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from PIL import Image

from polc.shared.errors import ConfigError

from .procedural import KINDS, render_procedural
from .synth.writer import DEFAULT_SIZES, TASKS, default_workers, write_dataset

#: size of written procedural images (what codec training crops from)
PROCEDURAL_SIZE = (256, 256)


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (e.g. ``512x288``) into (width, height); ValueError if malformed."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"malformed --size {text!r}: expected WxH, e.g. 512x288")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise ValueError(f"--size {text!r} out of range: both sides must be in 16..8192")
    return w, h


def cmd_synth(args: argparse.Namespace) -> int:
    """Handler of ``polc data synth``."""
    try:
        default = PROCEDURAL_SIZE if args.task in KINDS else DEFAULT_SIZES[args.task]
        size = parse_size(args.size) if args.size is not None else default
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.task in KINDS:
        return _write_procedural(args, size)
    t0 = time.time()
    out = write_dataset(
        args.task,
        args.n,
        args.seed,
        args.out,
        size=size,
        workers=args.workers,
        progress=not args.no_progress,
    )
    what = {"cls": "crops", "det": "scenes", "video": "frames"}[args.task]
    print(
        f"wrote {args.n} {args.task} {what} ({size[0]}x{size[1]}, seed {args.seed}) "
        f"to {out} in {time.time() - t0:.1f} s"
    )
    return 0


def _write_procedural(args: argparse.Namespace, size: tuple[int, int]) -> int:
    """PNG images ``<kind>_<seed>.png`` of seeds ``--seed`` … ``--seed + n − 1``."""
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seed, args.seed + args.n):
        img = render_procedural(args.task, seed, size)
        Image.fromarray(img).save(out / f"{args.task}_{seed:06d}.png")
    print(
        f"wrote {args.n} {args.task} images ({size[0]}x{size[1]}, seeds {args.seed}.."
        f"{args.seed + args.n - 1}) to {out} in {time.time() - t0:.1f} s"
    )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``polc data`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p = sub.add_parser(
        "synth",
        help="render a synthetic dataset (deterministic per seed)",
        description="Render a procedural traffic-camera dataset: 'cls' = object-centred "
        "crops in ImageFolder layout, 'det' = scenes + COCO boxes, 'video' = a "
        "fixed-camera sequence + COCO boxes with track ids; or codec training images "
        "with natural-image statistics: 'dead_leaves', 'spectral' (PNGs, for inspection).",
    )
    p.add_argument("--task", choices=(*TASKS, *KINDS), required=True, help="what to render")
    p.add_argument("--n", type=int, required=True, help="number of crops / scenes / frames")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="image size (default 128x128 for cls, 256x256 for dead_leaves and spectral, "
        "512x288 otherwise)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help=f"worker processes (default {default_workers()})"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_synth)
