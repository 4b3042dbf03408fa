"""`polc demo`: the main job on the bundled default model, no arguments, no network.

Today it runs the codec path end to end on a synthetic traffic clip: encode every frame at a
rate α (base + enhancement layer), decode it as the cloud would, and reconstruct at
β = 1 / 0.5 / 0. The edge → gRPC → cloud streaming parts join this command as they land.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from polc.shared.codec.runtime import Codec
    from polc.shared.data import render_video_frames

    codec = Codec.load(args.weights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"polc demo: codec {codec.fingerprint[:12]}, {args.frames} synthetic frames "
          f"{args.width}x{args.height}")
    alphas = (0.2, 0.5, 0.8)
    totals = {"bpp_base": [], "bpp_enh": [], "psnr1": [], "psnr0": [], "enc": [], "dec": []}
    frames = render_video_frames(args.frames, args.seed, (args.width, args.height))
    for i, (image, objects) in enumerate(frames):
        alpha = alphas[i % len(alphas)]
        t0 = time.perf_counter()
        data = codec.encode(image, alpha, enhancement=True)
        t1 = time.perf_counter()
        frame = codec.decode(data)
        x1 = codec.reconstruct(frame, 1.0)
        t2 = time.perf_counter()
        x0 = codec.reconstruct(frame, 0.0)
        base, enh = codec.bits_per_pixel(frame)
        p1, p0 = _psnr(image, x1), _psnr(image, x0)
        for k, v in zip(totals, (base, enh, p1, p0, t1 - t0, t2 - t1), strict=True):
            totals[k].append(v)
        print(f"frame {i:3d}  objects {len(objects):2d}  alpha {alpha:.1f}  "
              f"base {base:.3f} bpp + enh {enh:.3f} bpp  PSNR beta=1 {p1:5.2f} dB  "
              f"beta=0 {p0:5.2f} dB  encode {1e3 * (t1 - t0):5.1f} ms  "
              f"decode {1e3 * (t2 - t1):5.1f} ms")
        if i == 0:
            Image.fromarray(image).save(out / "original.png")
            for beta in (0.0, 0.5, 1.0):
                Image.fromarray(codec.reconstruct(frame, beta)).save(out / f"beta{beta}.png")
    m = {k: float(np.mean(v)) for k, v in totals.items()}
    print(f"summary: {args.frames} frames, mean base {m['bpp_base']:.3f} bpp, enhancement "
          f"{m['bpp_enh']:.3f} bpp, PSNR beta=1 {m['psnr1']:.2f} dB, beta=0 {m['psnr0']:.2f} dB"
          f", encode {1e3 * m['enc']:.1f} ms, decode {1e3 * m['dec']:.1f} ms per frame")
    print(f"reconstructions at beta = 0, 0.5, 1: {out}/beta*.png")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default="polc-demo-output")
    parser.add_argument("--weights", default=None, help="codec weights (default: bundled)")
    parser.set_defaults(handler=run)
