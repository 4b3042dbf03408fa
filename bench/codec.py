"""`polc bench codec`: rate–distortion of the codec against JPEG, speed, entropy coder rate.

For α in {0, .25, .5, .75, 1}: base and enhancement bpp, PSNR / MS-SSIM of x̄ at
β ∈ {0, .5, 1}; JPEG (Pillow) at the same total bpp; BD-rate (β = 0, both layers) against
JPEG's full quality sweep; encode/decode ms at 512×288 and 1280×720; Msymbols/s of the
entropy coder. Writes JSON and a rate–distortion PNG. ``--photos``: photographs against
JPEG, WebP and AVIF instead (:mod:`polc.bench.codec_photos`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import pyplot as plt
from PIL import Image
from tqdm import tqdm

from polc.bench.arguments import write_results
from polc.bench.codec_model import load_codec
from polc.bench.codec_photos import PHOTOS, run_photos
from polc.bench.metrics import bd_rate, jpeg, jpeg_at_bpp, ms_ssim
from polc.shared.codec import entropy_coder
from polc.shared.data import ensure_synthetic, render_scene
from polc.shared.metrics.image import psnr
from polc.training.datasets import list_images

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
BETAS = (0.0, 0.5, 1.0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default="bench-codec.json", help="output JSON path")
    p.add_argument("--plot", default=None, help="RD plot PNG (default: next to the JSON)")
    p.add_argument("--data", default=None, help="folder of eval images (default: synthetic)")
    p.add_argument("--images", type=int, default=16, help="number of eval images")
    p.add_argument(
        "--model",
        "--weights",
        dest="weights",
        default=None,
        metavar="FILE",
        help="codec to evaluate: a shipped codec.pt or a training checkpoint of `polc train "
        "codec` (codec_float.pt, stage1_ckpt.pt, ...; default: bundled)",
    )
    p.add_argument("--quick", action="store_true", help="fewer images and timing repeats")
    p.add_argument(
        "--photos",
        action="store_true",
        help="scikit-image's colour photographs (evaluation only) against JPEG, WebP and AVIF",
    )
    p.add_argument(
        "--photo",
        action="append",
        choices=PHOTOS,
        default=None,
        help="with --photos: only this photo (repeatable; default: all six)",
    )


def _eval_images(args: argparse.Namespace) -> list[np.ndarray]:
    if args.data:
        paths = list_images(Path(args.data))[: args.images]
    else:
        paths = list_images(ensure_synthetic("det", args.images, 9001) / "images")
    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


def _timing(codec, sizes: list[tuple[int, int]], repeats: int) -> dict:
    result = {}
    for w, h in sizes:
        img, _ = render_scene(77, 0, (w, h))
        codec.encode(img, 0.5, True)  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            data = codec.encode(img, 0.5, True)
        enc = (time.perf_counter() - t0) / repeats
        t0 = time.perf_counter()
        for _ in range(repeats):
            frame = codec.decode(data)
            codec.reconstruct(frame, 1.0)
        dec = (time.perf_counter() - t0) / repeats
        t0 = time.perf_counter()
        for _ in range(repeats):
            codec.reconstruct(codec.decode(data), 0.0)
        dec0 = (time.perf_counter() - t0) / repeats
        result[f"{w}x{h}"] = {
            "encode_ms": enc * 1e3,
            "decode_beta1_ms": dec * 1e3,
            "decode_beta0_ms": dec0 * 1e3,
        }
    return result


def _entropy_speed(codec, image: np.ndarray) -> float:
    c = codec.encoder.encode(image, 1.0)
    lat = codec.wire.decode_symbols(c)
    n = lat.y_symbols.size
    t0 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        pay, esc = entropy_coder.encode(lat.y_symbols, lat.params.indexes, codec.wire.tables_y)
        entropy_coder.decode(pay, esc, lat.params.indexes, codec.wire.tables_y)
    return 2 * n * reps / (time.perf_counter() - t0) / 1e6


def run(args: argparse.Namespace) -> int:
    if args.photos:
        return run_photos(args)
    if args.quick:
        args.images = min(args.images, 4)
    codec = load_codec(args.weights)
    images = _eval_images(args)
    rows = []
    for alpha in tqdm(ALPHAS, desc="alpha", unit="α"):
        acc = {
            "base": [],
            "enh": [],
            **{f"psnr_b{b}": [] for b in BETAS},
            **{f"msssim_b{b}": [] for b in BETAS},
            "jpeg_psnr": [],
            "jpeg_bpp": [],
        }
        for img in images:
            frame = codec.decode(codec.encode(img, alpha, enhancement=True))
            base, enh = codec.bits_per_pixel(frame)
            acc["base"].append(base)
            acc["enh"].append(enh)
            for b in BETAS:
                rec = codec.reconstruct(frame, b)
                acc[f"psnr_b{b}"].append(psnr(img, rec))
                acc[f"msssim_b{b}"].append(ms_ssim(img, rec))
            jdec, jbpp, _ = jpeg_at_bpp(img, base + enh)
            acc["jpeg_psnr"].append(psnr(img, jdec))
            acc["jpeg_bpp"].append(jbpp)
        rows.append(
            {
                "alpha": alpha,
                "bpp_base": float(np.mean(acc["base"])),
                "bpp_enhancement": float(np.mean(acc["enh"])),
                **{f"psnr_beta{b}": float(np.mean(acc[f"psnr_b{b}"])) for b in BETAS},
                **{f"msssim_beta{b}": float(np.mean(acc[f"msssim_b{b}"])) for b in BETAS},
                "jpeg_bpp": float(np.mean(acc["jpeg_bpp"])),
                "jpeg_psnr": float(np.mean(acc["jpeg_psnr"])),
            }
        )
    qualities = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90)
    jpeg_curve = []
    for q in qualities:
        res = [jpeg(img, q) for img in images]
        jpeg_curve.append(
            {
                "quality": q,
                "bpp": float(np.mean([r[1] for r in res])),
                "psnr": float(np.mean([psnr(i, r[0]) for i, r in zip(images, res, strict=True)])),
            }
        )
    ours_rate = [r["bpp_base"] + r["bpp_enhancement"] for r in rows]
    bd = bd_rate(
        ours_rate,
        [r["psnr_beta0.0"] for r in rows],
        [j["bpp"] for j in jpeg_curve],
        [j["psnr"] for j in jpeg_curve],
    )
    timing = _timing(codec, [(512, 288), (1280, 720)], 2 if args.quick else 5)
    msyms = _entropy_speed(codec, images[0])
    result = {
        "images": len(images),
        "image_size": list(images[0].shape[1::-1]),
        "model_fingerprint": codec.fingerprint,
        "rows": rows,
        "jpeg_curve": jpeg_curve,
        "bd_rate_beta0_vs_jpeg_percent": bd,
        "timing": timing,
        "entropy_coding_msymbols_per_s": msyms,
    }
    out, plot = write_results(args, result, lambda path: _plot(rows, jpeg_curve, path))
    _print(result)
    print(f"wrote {out} and {plot}")
    return 0


def _print(r: dict) -> None:
    print(
        f"{'alpha':>5} {'bpp base':>9} {'bpp enh':>8} {'PSNR b=1':>9} {'b=.5':>7} "
        f"{'b=0':>7} {'MS-SSIM b=0':>11} {'JPEG bpp':>9} {'JPEG PSNR':>9}"
    )
    for row in r["rows"]:
        print(
            f"{row['alpha']:5.2f} {row['bpp_base']:9.4f} {row['bpp_enhancement']:8.4f} "
            f"{row['psnr_beta1.0']:9.2f} {row['psnr_beta0.5']:7.2f} {row['psnr_beta0.0']:7.2f}"
            f" {row['msssim_beta0.0']:11.4f} {row['jpeg_bpp']:9.4f} {row['jpeg_psnr']:9.2f}"
        )
    print(f"BD-rate (beta=0, both layers) vs JPEG: {r['bd_rate_beta0_vs_jpeg_percent']:+.1f}%")
    for size, t in r["timing"].items():
        print(
            f"{size}: encode {t['encode_ms']:.1f} ms, decode beta=1 {t['decode_beta1_ms']:.1f}"
            f" ms, beta=0 {t['decode_beta0_ms']:.1f} ms"
        )
    print(f"entropy coding: {r['entropy_coding_msymbols_per_s']:.2f} Msymbols/s")


def _plot(rows: list[dict], jpeg_curve: list[dict], path: Path) -> None:
    matplotlib.use("Agg")  # files only, no display
    fig, ax = plt.subplots(figsize=(6, 4.2))
    base = [r["bpp_base"] for r in rows]
    both = [r["bpp_base"] + r["bpp_enhancement"] for r in rows]
    ax.plot(base, [r["psnr_beta1.0"] for r in rows], "o-", label="polc β=1 (base layer)")
    ax.plot(both, [r["psnr_beta0.5"] for r in rows], "s--", label="polc β=0.5 (both layers)")
    ax.plot(both, [r["psnr_beta0.0"] for r in rows], "^-", label="polc β=0 (both layers)")
    ax.plot(
        [j["bpp"] for j in jpeg_curve],
        [j["psnr"] for j in jpeg_curve],
        "k.:",
        label="JPEG (Pillow)",
    )
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Rate–distortion on synthetic traffic scenes")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
