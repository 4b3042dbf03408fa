"""`polc bench video`: polc against x264 / x265 on fixed-camera clips at equal detection
accuracy (issue 16).

On held-out synthetic fixed-camera clips (seeds FIRST_SEED, FIRST_SEED + 1, ...; training
renders its clips from seeds ≥ 1000), every method codes the same frames and is scored by
mAP@0.5 over all clips::

    original     pixel detector on the original frames (upper bound)
    polc intra   every frame coded alone by the shipped codec at α → detection adapter on ŷ
    polc temporal  the temporal (P-frame) codec at α, GOP frames per key frame → adapter on ŷ
                 (through the hook in ``video_polc``; "not available" until it exists):
                 lossless conditional P-frames (ŷ = intra's), and one curve per skip
                 threshold τ of ``--skip-taus`` (skip-mode P-frames, lossy), each also
                 with the encoder's motion gate at every T of ``--motion-thresholds``
    polc oracle  with ``--object-oracle``: skip-mode P-frames coding exactly the positions of
                 ground-truth objects (``video_oracle``; an oracle, not an encoder)
    x264, x265   ffmpeg, -preset medium -g GOP -bf 0, yuv420p, CRF sweep → decoded RGB →
                 pixel detector

Per point: bpp (base-layer / elementary-stream bits over frames · W · H), kbit/s at the
clip's fps, mAP@0.5 (and mAP@[.5:.95], per-clip mAP@0.5), encode / decode / detect ms per
frame (wall, this machine, ``--threads`` threads for torch and the encoders), and for the
temporal codec the bpp of I and P frames. Then the BD-rate (rate at equal mAP@0.5) of each
polc curve against x264 and x265 over the overlapping mAP range — "no overlap" is said, never
extrapolated. Prints a table, writes ``--json OUT`` and a rate–mAP plot ``OUT.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from polc.bench import video_oracle
from polc.bench.arguments import (
    add_clip_options,
    add_option,
    add_output_arguments,
    output_paths,
)
from polc.bench.metrics import bd_rate
from polc.bench.video_ffmpeg import ENCODERS, code_clip, ffmpeg_version, missing_encoder
from polc.bench.video_polc import CodedLatents, code_intra, code_temporal, temporal_codec
from polc.bench.video_report import label, report, write_plot
from polc.bench.video_scoring import (
    Clip,
    DetectionScorer,
    Score,
    detection_weights_missing,
    render_clips,
)
from polc.shared.codec.runtime import Codec
from polc.shared.errors import ConfigError

FIRST_SEED = 7  #: held-out clips: seeds 7, 8, 9, ... (training uses seeds >= 1000)
TRAINING_SEEDS_FROM = 1000
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
CRFS = {"x264": (23, 28, 33, 38, 43), "x265": (25, 30, 35, 40, 45)}
SKIP_TAUS = (1.0, 1.5)
MOTION_THRESHOLDS = (4.0,)  #: the edge's default (encoder.temporal.motion_threshold)
POLC_METHODS = ("polc_intra", "polc_temporal")
ORACLE = "polc_oracle_objects"


def skip_method(tau: float, gate: float | None = None) -> str:
    """The method name of the skip-mode curve at threshold ``tau`` (with the motion gate at
    ``gate`` luma levels)."""
    return f"polc_skip_{tau:g}" + ("" if gate is None else f"_gate_{gate:g}")


def skip_modes(setup: dict) -> list[tuple[float, float | None]]:
    """(τ, motion-gate threshold or None) of every skip-mode curve."""
    gates: list[float | None] = [None, *setup["motion_thresholds"]]
    return [(tau, gate) for tau in setup["skip_taus"] for gate in gates]


def polc_methods(setup: dict) -> tuple[str, ...]:
    oracle = (ORACLE,) if setup["object_oracle"] else ()
    return POLC_METHODS + tuple(skip_method(t, g) for t, g in skip_modes(setup)) + oracle


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(t) for t in text.split(",") if t.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip())


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_arguments(
        p, "rate–mAP plot (default: the JSON's .png)", json_default="bench-video.json"
    )
    add_clip_options(
        p, 3, 100, FIRST_SEED, f"must stay below the training seeds, {TRAINING_SEEDS_FROM}"
    )
    p.add_argument("--size", default="512x288", help="frame size WxH (even; default 512x288)")
    add_option(p, "--fps", 10.0, "frame rate (default 10)")
    add_option(p, "--gop", 0, "frames per key frame for every codec (default 0 = 2 s = 2·fps)")
    p.add_argument(
        "--alphas", default=",".join(f"{a:g}" for a in ALPHAS), help="polc rate parameters α"
    )
    p.add_argument(
        "--skip-taus",
        default=",".join(f"{t:g}" for t in SKIP_TAUS),
        help="skip thresholds τ of the skip-mode temporal curves (quantiser steps; '' = none)",
    )
    p.add_argument(
        "--motion-thresholds",
        default=",".join(f"{t:g}" for t in MOTION_THRESHOLDS),
        help="motion-gate thresholds T (luma levels): every skip τ also runs with the "
        "encoder's motion gate at each T ('' = none)",
    )
    p.add_argument(
        "--object-oracle",
        action="store_true",
        help="also the object oracle: P-frames that code exactly the ground-truth objects' "
        "latent positions (what knowing where the objects are is worth; not an encoder)",
    )
    for name, crfs in CRFS.items():
        p.add_argument(f"--{name}-crf", default=",".join(map(str, crfs)), help=f"{name} CRF sweep")
    add_option(
        p, "--threads", 0, "threads of torch and of the encoders (0 = torch's current setting)"
    )


def _setup(args: argparse.Namespace) -> dict[str, Any]:
    """The run's parameters, checked (ConfigError: exit 2 with the reason)."""
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        alphas = _floats(args.alphas)
        skip_taus = _floats(args.skip_taus)
        gates = _floats(args.motion_thresholds)
        crfs = {name: _ints(getattr(args, f"{name}_crf")) for name in CRFS}
    except ValueError as exc:
        raise ConfigError(f"polc bench video: bad number in the options ({exc})") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ConfigError(f"--size {args.size}: width and height must be even and >= 16")
    if args.clips < 1 or args.frames < 2:
        raise ConfigError("--clips must be >= 1 and --frames >= 2")
    if not 0 <= args.first_seed or args.first_seed + args.clips > TRAINING_SEEDS_FROM:
        raise ConfigError(
            f"clip seeds {args.first_seed}..{args.first_seed + args.clips - 1} "
            f"must lie in [0, {TRAINING_SEEDS_FROM}) (training uses seeds >= "
            f"{TRAINING_SEEDS_FROM})"
        )
    if args.fps <= 0 or args.gop < 0:
        raise ConfigError("--fps must be > 0 and --gop >= 0")
    if not alphas or any(not 0.0 <= a <= 1.0 for a in alphas):
        raise ConfigError(f"--alphas {args.alphas}: one or more α in [0, 1]")
    if any(not t >= 0.0 for t in skip_taus):
        raise ConfigError(f"--skip-taus {args.skip_taus}: thresholds are >= 0")
    if any(not 0.0 <= t <= 255.0 for t in gates):
        raise ConfigError(f"--motion-thresholds {args.motion_thresholds}: T in [0, 255]")
    if any(not 0 <= c <= 51 for v in crfs.values() for c in v):
        raise ConfigError("CRFs lie in [0, 51]")
    return {
        "size": [width, height],
        "fps": args.fps,
        "gop": args.gop or round(2 * args.fps),
        "seeds": list(range(args.first_seed, args.first_seed + args.clips)),
        "frames_per_clip": args.frames,
        "alphas": list(alphas),
        "skip_taus": list(skip_taus),
        "motion_thresholds": list(gates),
        "object_oracle": bool(args.object_oracle),
        "crf": crfs,
        "threads": args.threads or torch.get_num_threads(),
    }


def _rates(bits: int, frames: int, setup: dict) -> dict[str, float]:
    width, height = setup["size"]
    bpp = bits / (frames * width * height)
    return {"bpp": bpp, "kbps": bpp * width * height * setup["fps"] / 1e3}


def _point(
    key: dict,
    clip_bits: list[int],
    setup: dict,
    score: Score,
    encode_s: float | None,
    decode_s: float | None,
) -> dict:
    """One point of a curve: rates (pooled and per clip), scores and ms per frame."""
    per_clip = setup["frames_per_clip"]
    frames = per_clip * len(clip_bits)
    return {
        **key,
        **_rates(sum(clip_bits), frames, setup),
        "bpp_per_clip": [_rates(b, per_clip, setup)["bpp"] for b in clip_bits],
        **score.as_dict(frames),
        "encode_ms": None if encode_s is None else 1e3 * encode_s / frames,
        "decode_ms": None if decode_s is None else 1e3 * decode_s / frames,
    }


def _polc_point(
    alpha: float, coded: list[CodedLatents], scorer: DetectionScorer, setup: dict
) -> dict:
    point = _point(
        {"alpha": alpha},
        [sum(c.bits) for c in coded],
        setup,
        scorer.latents([c.y_hats for c in coded]),
        sum(c.encode_s for c in coded),
        sum(c.decode_s for c in coded),
    )
    for kind, is_key in (("i", True), ("p", False)):
        bits = [b for c in coded for b, k in zip(c.bits, c.key_frames, strict=True) if k == is_key]
        point[f"bpp_{kind}"] = _rates(sum(bits), len(bits), setup)["bpp"] if bits else None
        point[f"frames_{kind}"] = len(bits)
    return point


def compare(a: list[dict], b: list[dict], name_a: str, name_b: str) -> dict:
    """BD-rate of A against B at equal mAP@0.5 (%; negative: A needs fewer bits), over the
    mAP@0.5 range both curves cover; ``percent`` None with a ``note`` when they do not
    overlap (no extrapolation)."""
    ma, mb = [p["map50"] for p in a], [p["map50"] for p in b]
    ranges = {
        name_a: [min(ma, default=0.0), max(ma, default=0.0)],
        name_b: [min(mb, default=0.0), max(mb, default=0.0)],
    }
    out: dict[str, Any] = {
        "percent": None,
        "overlap_map50": None,
        "map50_ranges": ranges,
        "note": "",
    }
    if len(set(ma)) < 2 or len(set(mb)) < 2:
        out["note"] = "a curve has fewer than 2 distinct mAP@0.5 points: no BD-rate"
        return out
    lo, hi = max(ranges[name_a][0], ranges[name_b][0]), min(ranges[name_a][1], ranges[name_b][1])
    if hi <= lo:
        out["note"] = (
            f"mAP@0.5 ranges do not overlap ({name_a} {ranges[name_a][0]:.3f}–"
            f"{ranges[name_a][1]:.3f}, {name_b} {ranges[name_b][0]:.3f}–"
            f"{ranges[name_b][1]:.3f}): no BD-rate, not extrapolated"
        )
        return out
    pct = bd_rate([p["bpp"] for p in a], ma, [p["bpp"] for p in b], mb)
    out["overlap_map50"] = [lo, hi]
    if np.isfinite(pct):
        out["percent"] = pct
    else:
        out["note"] = "BD-rate undefined on the overlap"
    return out


def _machine(setup: dict) -> dict:
    model = ""
    try:
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "encoder_threads": setup["threads"],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "ffmpeg": ffmpeg_version(),
    }


def run(args: argparse.Namespace) -> int:
    setup = _setup(args)
    missing = detection_weights_missing()
    if missing:
        raise ConfigError(f"polc bench video: {missing}")
    torch.set_num_threads(setup["threads"])
    out, plot = output_paths(args)
    temporal, temporal_reason = temporal_codec()
    unavailable = {name: missing_encoder(name) for name in ENCODERS}
    n_clips = len(setup["seeds"])
    steps = n_clips * (
        2
        + len(setup["alphas"])
        * (2 + len(skip_modes(setup)) + setup["object_oracle"] if temporal else 1)
        + sum(len(setup["crf"][n]) for n in ENCODERS if not unavailable[n])
    )
    bar = tqdm(total=steps, desc="bench video", unit="step")

    bar.set_postfix_str("rendering clips")
    clips = render_clips(setup["seeds"], setup["frames_per_clip"], tuple(setup["size"]))
    bar.update(n_clips)
    scorer = DetectionScorer(clips)
    codec = Codec.load()
    methods: dict[str, dict] = {}

    bar.set_postfix_str("original")
    score = scorer.pixels([c.frames for c in clips])
    methods["original"] = {
        "available": True,
        "points": [_point({}, [24 * c.frames.size // 3 for c in clips], setup, score, None, None)],
    }
    bar.update(n_clips)

    methods.update(_run_polc(codec, clips, scorer, setup, temporal, bar))
    if not temporal:
        for name in polc_methods(setup)[1:]:
            methods[name] = {"available": False, "reason": temporal_reason}
    methods.update(_run_encoders(clips, scorer, setup, unavailable, bar))
    bar.close()

    result = {
        "command_line": sys.argv,
        "arguments": {
            k: v for k, v in vars(args).items() if isinstance(v, str | int | float | bool)
        },
        "machine": _machine(setup),
        "metric": "mAP@0.5",
        "setup": setup,
        "clips": [
            {"seed": c.seed, "frames": len(c.frames), "objects": sum(len(a) for a in c.annotations)}
            for c in clips
        ],
        "codec_fingerprint": codec.fingerprint,
        "ffmpeg_settings": "-preset medium -g GOP -bf 0 -pix_fmt yuv420p (low delay), "
        "bits = elementary stream (-f h264 / -f hevc)",
        "methods": methods,
        "bd_rate": _bd_rates(methods, polc_methods(setup)),
        "plot": str(plot),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    write_plot(methods, setup, plot)
    report(result)
    print(f"wrote {out} and {plot}")
    return 0


def _run_polc(
    codec: Codec, clips: list[Clip], scorer: DetectionScorer, setup: dict, temporal, bar: tqdm
) -> dict[str, dict]:
    """polc intra (and temporal when its codec exists: lossless, each skip mode and the object
    oracle) at every α."""
    curves: dict[str, dict] = {"polc_intra": {"available": True, "points": []}}
    # (curve, hook module, the hook's mode for a clip) of every lossy temporal curve
    lossy: list[tuple[str, Any, Callable[[Clip], dict]]] = []
    if temporal:
        curves["polc_temporal"] = {"available": True, "points": []}
        for tau, gate in skip_modes(setup):
            name, mode = skip_method(tau, gate), {"skip_tau": tau, "motion_threshold": gate}
            curves[name] = {"available": True, "points": [], **mode}
            lossy.append((name, temporal, lambda _, m=mode: m))
        if setup["object_oracle"]:
            curves[ORACLE] = {"available": True, "points": []}
            lossy.append((ORACLE, video_oracle, lambda c: {"annotations": c.annotations}))
    for alpha in setup["alphas"]:
        bar.set_postfix_str(f"polc α={alpha:g}")
        intra, inter, same = [], [], True
        for clip in clips:
            intra.append(code_intra(codec, clip.frames, alpha))
            bar.update(1)
            if temporal:
                inter.append(code_temporal(temporal, codec, clip.frames, alpha, setup["gop"]))
                same &= all(
                    torch.equal(a, b)
                    for a, b in zip(intra[-1].y_hats, inter[-1].y_hats, strict=True)
                )
                bar.update(1)
        curves["polc_intra"]["points"].append(_polc_point(alpha, intra, scorer, setup))
        if temporal:
            point = _polc_point(alpha, inter, scorer, setup)
            point["y_hat_equals_intra"] = same
            curves["polc_temporal"]["points"].append(point)
        for name, module, mode in lossy:
            bar.set_postfix_str(f"polc α={alpha:g} {label(name)}")
            coded = []
            for clip in clips:
                coded.append(
                    code_temporal(module, codec, clip.frames, alpha, setup["gop"], **mode(clip))
                )
                bar.update(1)
            curves[name]["points"].append(_polc_point(alpha, coded, scorer, setup))
    return curves


def _run_encoders(
    clips: list[Clip],
    scorer: DetectionScorer,
    setup: dict,
    unavailable: dict[str, str | None],
    bar: tqdm,
) -> dict[str, dict]:
    """x264 and x265 (when this ffmpeg has them) at every CRF."""
    curves: dict[str, dict] = {}
    for name in ENCODERS:
        reason = unavailable[name]
        if reason:
            curves[name] = {"available": False, "reason": reason}
            continue
        curves[name] = {"available": True, "points": []}
        for crf in setup["crf"][name]:
            bar.set_postfix_str(f"{name} crf {crf}")
            coded = []
            for clip in clips:
                coded.append(
                    code_clip(name, clip.frames, setup["fps"], crf, setup["gop"], setup["threads"])
                )
                bar.update(1)
            curves[name]["points"].append(
                _point(
                    {"crf": crf},
                    [c.bits for c in coded],
                    setup,
                    scorer.pixels([c.decoded for c in coded]),
                    sum(c.encode_s for c in coded),
                    sum(c.decode_s for c in coded),
                )
            )
    return curves


def _bd_rates(methods: dict[str, dict], polc: tuple[str, ...]) -> dict[str, dict]:
    out = {}
    for a in polc:
        for b in ENCODERS:
            key = f"{a}_vs_{b}"
            if not (methods[a]["available"] and methods[b]["available"]):
                why = methods[a].get("reason") or methods[b].get("reason")
                out[key] = {"percent": None, "note": f"not available: {why}"}
                continue
            out[key] = compare(methods[a]["points"], methods[b]["points"], a, b)
    return out
