"""`polc demo --codec-only` (and the fallback without the edge / cloud packages): the codec
path alone — encode, decode as the cloud would, reconstruct at each β — with rate, PSNR and
timing per frame."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from polc.app.demo import BETAS
from polc.shared.codec.runtime import Codec
from polc.shared.data import render_video_frames
from polc.shared.metrics.image import psnr


def run_codec_only(args: argparse.Namespace) -> int:
    """The codec path alone: encode, decode as the cloud would, reconstruct at β."""
    codec = Codec.load(args.weights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"polc demo: codec {codec.fingerprint[:12]}, {args.frames} synthetic frames "
        f"{args.width}x{args.height}"
    )
    totals: dict[str, list[float]] = {
        "bpp_base": [],
        "bpp_enh": [],
        "psnr1": [],
        "psnr0": [],
        "enc": [],
        "dec": [],
    }
    frames = render_video_frames(args.frames, args.seed, (args.width, args.height))
    for i, (image, objects) in enumerate(frames):
        t0 = time.perf_counter()
        data = codec.encode(image, args.alpha, enhancement=True)
        t1 = time.perf_counter()
        frame = codec.decode(data)
        x1 = codec.reconstruct(frame, 1.0)
        t2 = time.perf_counter()
        x0 = codec.reconstruct(frame, 0.0)
        base, enh = codec.bits_per_pixel(frame)
        p1, p0 = psnr(image, x1), psnr(image, x0)
        for k, v in zip(totals, (base, enh, p1, p0, t1 - t0, t2 - t1), strict=True):
            totals[k].append(v)
        print(
            f"frame {i:3d}  objects {len(objects):2d}  alpha {args.alpha:.2f}  "
            f"base {base:.3f} bpp + enh {enh:.3f} bpp  PSNR beta=1 {p1:5.2f} dB  "
            f"beta=0 {p0:5.2f} dB"
        )
        if i == 0:
            Image.fromarray(image).save(out / "original.png")
            for beta in BETAS:
                Image.fromarray(codec.reconstruct(frame, beta)).save(out / f"beta{beta}.png")
    m = {k: float(np.mean(v)) for k, v in totals.items()}
    print(
        f"summary: {args.frames} frames, mean base {m['bpp_base']:.3f} bpp, enhancement "
        f"{m['bpp_enh']:.3f} bpp, PSNR beta=1 {m['psnr1']:.2f} dB, beta=0 {m['psnr0']:.2f} dB"
        f", encode {1e3 * m['enc']:.1f} ms, decode {1e3 * m['dec']:.1f} ms per frame"
    )
    print(f"reconstructions at beta = 0, 0.5, 1: {out}/beta*.png")
    return 0
