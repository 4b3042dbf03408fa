"""`polc bench events`: the cloud's events against the ground truth of held-out clips (issue 18).

Held-out synthetic fixed-camera clips (seeds ``--seeds``, default 20, 21, 22; all below the
training seeds, 1000; the video bench uses 7–9 and the event settings were chosen on 30–34)
go through the product's path (``events_clips``): the edge codec at the edge's default α
(key frame every ``--gop`` frames and P-frames, or ``--intra``), decoding, the cloud's
analyzer at its default operating point (detection adapter on ŷ), and the cloud's tracker
with its default ``EventSettings``. Against each clip's ground-truth ``track_id``s
(``event_metrics``, definitions there):

    MOT      MOTA, IDF1, ID switches, precision / recall of the per-frame tracked boxes
             (motmetrics; same class and IoU ≥ 0.5 to match), per clip and pooled
    coverage the fraction of ground-truth tracks visible ≥ 1 s (≥ fps frames) that an event
             of their class overlaps (IoU ≥ 0.5 on most overlapping frames), per class and
             overall

Prints a table, writes ``--json OUT`` and a timeline plot ``OUT.png`` (ground-truth tracks
and the events covering them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tqdm import tqdm

from polc.bench.arguments import add_option, add_output_arguments, output_paths
from polc.bench.event_metrics import coverage, mot_metrics
from polc.bench.events_clips import (
    TrackedClip,
    cloud_analyzer,
    code_clip,
    detect_clip,
    track_clip,
)
from polc.bench.events_report import report, write_plot
from polc.cloud.config import EventSettings
from polc.edge.config import RateSettings
from polc.shared.codec.runtime import Codec
from polc.shared.data.synth.video import FPS, render_video_frames
from polc.shared.errors import ConfigError

SEEDS = (20, 21, 22)  #: the reporting clips (settings are never tuned on them)
TRAINING_SEEDS_FROM = 1000
GOP = 20  #: the temporal codec's default


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_arguments(
        p, "timeline plot (default: the JSON's .png)", json_default="bench-events.json"
    )
    p.add_argument(
        "--seeds",
        default=",".join(map(str, SEEDS)),
        help=f"held-out clip seeds (default {','.join(map(str, SEEDS))}; below "
        f"{TRAINING_SEEDS_FROM})",
    )
    add_option(p, "--frames", 100, "frames per clip (default 100)")
    p.add_argument("--size", default="512x288", help="frame size WxH (even; default 512x288)")
    add_option(p, "--gop", GOP, f"frames per key frame (default {GOP})")
    p.add_argument("--intra", action="store_true", help="code every frame alone (no P-frames)")
    add_option(p, "--alpha", RateSettings().alpha, "α of every frame (default: the edge's)")


def setup_from(args: argparse.Namespace) -> dict[str, Any]:
    """The run's parameters, checked (ConfigError: exit 2 with the reason)."""
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise ConfigError(f"polc bench events: bad number in the options ({exc})") from None
    if not seeds or any(not 0 <= s < TRAINING_SEEDS_FROM for s in seeds):
        raise ConfigError(f"--seeds {args.seeds}: one or more in [0, {TRAINING_SEEDS_FROM})")
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ConfigError(f"--size {args.size}: width and height must be even and >= 16")
    if args.frames < 2 or args.gop < 1 or not 0 <= args.alpha <= 1:
        raise ConfigError("--frames >= 2, --gop >= 1 and --alpha in [0, 1]")
    return {
        "seeds": seeds,
        "frames": args.frames,
        "size": [width, height],
        "fps": FPS,  # the synthetic world's frame rate (capture time = frame / fps)
        "gop": None if args.intra else args.gop,
        "alpha": args.alpha,
    }


def evaluate(
    clips: Sequence[tuple[str, list[list[dict]], TrackedClip]], fps: float
) -> dict[str, Any]:
    """MOT metrics, coverage (overall and per clip) and the events of tracked clips
    (name, ground truth per frame, what the tracker gave)."""
    min_frames = max(1, round(fps))
    per_clip = {
        name: coverage([(name, anns, clip.events)], min_frames)["overall"]
        for name, anns, clip in clips
    }
    cov = coverage([(name, anns, clip.events) for name, anns, clip in clips], min_frames)
    per_clip["OVERALL"] = cov["overall"]
    return {
        "mot": mot_metrics([(name, anns, clip.tracked) for name, anns, clip in clips]),
        "coverage": cov,
        "coverage_per_clip": per_clip,
        "events": {
            **{name: len(clip.events) for name, _, clip in clips},
            "OVERALL": sum(len(clip.events) for _, _, clip in clips),
        },
        "event_list": [{"clip": name, **_event(e)} for name, _, clip in clips for e in clip.events],
    }


def _event(event) -> dict:
    row = asdict(event)
    row.pop("path")
    return row


def run_events(setup: dict[str, Any], settings: EventSettings | None = None) -> dict[str, Any]:
    """Render, code, detect and track every clip of ``setup`` and score the events."""
    settings = settings or EventSettings()
    codec = Codec.load()
    analyzer = cloud_analyzer(codec)
    detector = getattr(analyzer, "detector", None)
    if detector is None:
        raise ConfigError("polc bench events: the cloud's analyzer has no detection adapter")
    size = (setup["size"][0], setup["size"][1])
    tracked: list[tuple[str, list[list[dict]], TrackedClip]] = []
    bar = tqdm(total=len(setup["seeds"]) * 3, desc="bench events", unit="step")
    for seed in setup["seeds"]:
        bar.set_postfix_str(f"seed {seed}: render")
        rendered = list(render_video_frames(setup["frames"], seed, size))
        bar.update(1)
        bar.set_postfix_str(f"seed {seed}: code")
        decoded = code_clip(codec, [im for im, _ in rendered], setup["alpha"], setup["gop"])
        bar.update(1)
        bar.set_postfix_str(f"seed {seed}: detect + track")
        clip = track_clip(detect_clip(analyzer, decoded), setup["fps"], settings)
        tracked.append((f"seed{seed}", [anns for _, anns in rendered], clip))
        bar.update(1)
    bar.close()
    return {
        "command_line": sys.argv,
        "setup": {**setup, "operating_point": detector.operating_point.as_dict()},
        "event_settings": settings.model_dump(),
        "codec_fingerprint": codec.fingerprint,
        **evaluate(tracked, setup["fps"]),
    }


def run(args: argparse.Namespace) -> int:
    setup = setup_from(args)
    out, plot = output_paths(args)
    result = run_events(setup)
    result["plot"] = str(plot)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, allow_nan=True))
    write_plot(result, plot)
    report(result)
    print(f"wrote {out} and {plot}")
    return 0
