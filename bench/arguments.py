"""Command-line options the benchmarks declare alike.

``add_option`` declares a typed option in one call (the type is the default's),
``add_output_arguments`` the ``--json`` / ``--plot`` pair of a benchmark's results (and
``output_paths`` / ``write_results`` where they go) and ``add_clip_options`` which held-out
synthetic clips a benchmark renders.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def add_option(p: argparse.ArgumentParser, flag: str, default: int | float, help: str) -> None:
    """``flag`` with ``default``; a value on the command line is parsed as the default's type."""
    p.add_argument(flag, type=type(default), default=default, help=help)


def add_output_arguments(
    p: argparse.ArgumentParser, plot_help: str, json_default: str | None = None
) -> None:
    """``--json`` (where the results go) and ``--plot`` (the figure)."""
    json_help = "output JSON path" if json_default else "write the results here"
    p.add_argument("--json", default=json_default, help=json_help)
    p.add_argument("--plot", default=None, help=plot_help)


def output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """(JSON path, plot path): ``--plot`` or the JSON's name with ``.png``."""
    out = Path(args.json)
    return out, Path(args.plot) if args.plot else out.with_suffix(".png")


def write_results(
    args: argparse.Namespace, result: dict, draw: Callable[[Path], None]
) -> tuple[Path, Path]:
    """Write ``result`` as JSON (creating its folder) and ``draw`` the plot; both paths."""
    out, plot = output_paths(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    draw(plot)
    return out, plot


def add_clip_options(
    p: argparse.ArgumentParser, clips: int, frames: int, first_seed: int, seeds_note: str
) -> None:
    """``--clips`` / ``--frames`` / ``--first-seed``: the held-out clips of seeds
    first_seed, first_seed + 1, ... (``seeds_note``: which seeds they must avoid)."""
    add_option(p, "--clips", clips, f"held-out clips (default {clips})")
    add_option(p, "--frames", frames, f"frames per clip (default {frames})")
    add_option(
        p,
        "--first-seed",
        first_seed,
        f"seed of the first clip, the others follow (default {first_seed}; {seeds_note})",
    )
