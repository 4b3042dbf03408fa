"""`polc bench codec`: rate–distortion of the codec against JPEG, speed, entropy coder rate.

For α in {0, .25, .5, .75, 1}: base and enhancement bpp, PSNR / MS-SSIM of x̄ at
β ∈ {0, .5, 1}; JPEG (Pillow) at the same total bpp; BD-rate (β = 0, both layers) against
JPEG's full quality sweep; encode/decode ms at 512×288 and 1280×720; Msymbols/s of the
entropy coder. Writes JSON and a rate–distortion PNG. ``--baseline FILE``: a second codec on
the same images in the same run (its curves, the BD-rates against it at β = 0 and β = 1, the
encode-time ratio): how a new codec is held to the one it replaces. ``--photos``:
photographs against JPEG, WebP and AVIF instead (:mod:`polc.bench.codec_photos`).
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
        "--baseline",
        default=None,
        metavar="FILE",
        help="a second codec ('bundled' for the default) measured on the same images in the "
        "same run: its curves, the BD-rates against it and the encode-time ratio",
    )
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


def rd_rows(codec, images: list[np.ndarray], desc: str, with_jpeg: bool = True) -> list[dict]:
    """Per α: mean base / enhancement bpp and PSNR / MS-SSIM of x̄ at every β (and JPEG at
    the same total bpp when ``with_jpeg``)."""
    rows = []
    for alpha in tqdm(ALPHAS, desc=desc, unit="α"):
        acc: dict[str, list[float]] = {}
        for img in images:
            frame = codec.decode(codec.encode(img, alpha, enhancement=True))
            base, enh = codec.bits_per_pixel(frame)
            acc.setdefault("bpp_base", []).append(base)
            acc.setdefault("bpp_enhancement", []).append(enh)
            for b in BETAS:
                rec = codec.reconstruct(frame, b)
                acc.setdefault(f"psnr_beta{b}", []).append(psnr(img, rec))
                acc.setdefault(f"msssim_beta{b}", []).append(ms_ssim(img, rec))
            if with_jpeg:
                jdec, jbpp, _ = jpeg_at_bpp(img, base + enh)
                acc.setdefault("jpeg_psnr", []).append(psnr(img, jdec))
                acc.setdefault("jpeg_bpp", []).append(jbpp)
        rows.append({"alpha": alpha, **{k: float(np.mean(v)) for k, v in acc.items()}})
    return rows


def bd_rates_against(rows: list[dict], baseline: list[dict]) -> dict:
    """BD-rate (%) of ``rows`` against ``baseline`` (both from :func:`rd_rows`): β = 1 on the
    base layer's rate, β = 0 on both layers', each by PSNR and MS-SSIM."""

    def rate(r: dict, beta: float) -> float:
        return r["bpp_base"] + (r["bpp_enhancement"] if beta == 0.0 else 0.0)

    return {
        f"beta{beta:g}": {
            metric: bd_rate(
                [rate(r, beta) for r in rows],
                [r[f"{metric}_beta{beta}"] for r in rows],
                [rate(r, beta) for r in baseline],
                [r[f"{metric}_beta{beta}"] for r in baseline],
            )
            for metric in ("psnr", "msssim")
        }
        for beta in (0.0, 1.0)
    }


def run(args: argparse.Namespace) -> int:
    if args.photos:
        return run_photos(args)
    if args.quick:
        args.images = min(args.images, 4)
    codec = load_codec(args.weights)
    base_codec = None
    if args.baseline:  # opened before the long work starts
        base_codec = load_codec(args.baseline)
    images = _eval_images(args)
    rows = rd_rows(codec, images, "alpha")
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
    timing_sizes, timing_repeats = [(512, 288), (1280, 720)], 2 if args.quick else 5
    timing = _timing(codec, timing_sizes, timing_repeats)
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
    if base_codec is not None:
        base_rows = rd_rows(base_codec, images, "baseline", with_jpeg=False)
        result["baseline"] = {
            "model": args.baseline,
            "model_fingerprint": base_codec.fingerprint,
            "rows": base_rows,
            "bd_rate_percent": bd_rates_against(rows, base_rows),
            "timing": _timing(base_codec, timing_sizes, timing_repeats),
        }
    out, plot = write_results(args, result, lambda path: _plot(result, path))
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
    if "baseline" in r:
        b = r["baseline"]
        print(f"against the baseline {b['model']} ({b['model_fingerprint'][:12]}), same images:")
        for row in b["rows"]:
            print(
                f"  alpha {row['alpha']:.2f}: bpp {row['bpp_base']:.4f} + "
                f"{row['bpp_enhancement']:.4f}, PSNR b=1 {row['psnr_beta1.0']:.2f}, "
                f"b=0 {row['psnr_beta0.0']:.2f}"
            )
        for beta, metrics in b["bd_rate_percent"].items():
            print(
                f"  BD-rate {beta} vs baseline: PSNR {metrics['psnr']:+.1f}%, "
                f"MS-SSIM {metrics['msssim']:+.1f}%"
            )
        enc, base_enc = r["timing"]["512x288"], b["timing"]["512x288"]
        print(
            f"  encode 512x288: {enc['encode_ms']:.1f} ms vs {base_enc['encode_ms']:.1f} ms "
            f"({enc['encode_ms'] / base_enc['encode_ms']:.2f}x)"
        )


def _plot(result: dict, path: Path) -> None:
    matplotlib.use("Agg")  # files only, no display
    rows, jpeg_curve = result["rows"], result["jpeg_curve"]
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
    if "baseline" in result:
        b = result["baseline"]["rows"]
        name = Path(result["baseline"]["model"]).name
        ax.plot(
            [r["bpp_base"] for r in b], [r["psnr_beta1.0"] for r in b], "o:", label=f"{name} β=1"
        )
        both_b = [r["bpp_base"] + r["bpp_enhancement"] for r in b]
        ax.plot(both_b, [r["psnr_beta0.0"] for r in b], "^:", label=f"{name} β=0")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Rate–distortion on synthetic traffic scenes")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
