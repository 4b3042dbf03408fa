"""`polc bench codec --photos`: the codec on real colour photographs against JPEG, WebP and
AVIF (Pillow), PSNR and MS-SSIM, BD-rates per photo and their mean.

The photographs are scikit-image's sample images (they ship inside the package, no
download): astronaut, chelsea, coffee, rocket, motorcycle_left, hubble_deep_field.
EVALUATION ONLY: never train on them, tune on them or select a checkpoint by them — the
codec's training and held-out data are procedural and synthetic (training/codec_data.py);
that is what makes these figures an honest measure of photographs the codec never saw.

polc is swept over α at β = 0 (both layers, rate = base + enhancement) and β = 1 (base
layer only, rate = base); the Pillow encoders over their quality settings. BD-rates are
Bjøntegaard deltas of polc against each anchor (negative: polc needs fewer bits), on PSNR
and on MS-SSIM in dB (−10·log10(1 − MS-SSIM)).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import pyplot as plt
from PIL import features
from tqdm import tqdm

from polc.bench.arguments import write_results
from polc.bench.codec_model import load_codec
from polc.bench.metrics import bd_rate, ms_ssim, pillow_roundtrip
from polc.shared.codec.runtime import Codec
from polc.shared.metrics.image import psnr

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field")
ALPHAS = tuple(float(a) for a in np.linspace(0.0, 1.0, 9))
QUALITIES = {
    "jpeg": (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95),
    "webp": (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
    "avif": (10, 20, 30, 40, 50, 60, 70, 80, 90),
}
QUICK_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
QUICK_QUALITIES = {"jpeg": (10, 30, 50, 70, 90), "webp": (10, 30, 50, 70, 90), "avif": (20, 50, 80)}
PILLOW_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}


def load_photo(name: str) -> np.ndarray:
    """One of :data:`PHOTOS` as (H, W, 3) uint8 (scikit-image's bundled copy)."""
    from skimage import data  # the `bench` extra: imported only when photos are asked for

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; expected one of {', '.join(PHOTOS)}")
    if name == "motorcycle_left":
        return np.ascontiguousarray(data.stereo_motorcycle()[0])
    return np.ascontiguousarray(getattr(data, name)())


def anchors() -> list[str]:
    """The Pillow encoders of this installation (AVIF only where Pillow has it)."""
    return [a for a in QUALITIES if a != "avif" or features.check("avif")]


def msssim_db(value: float) -> float:
    return -10.0 * math.log10(max(1.0 - value, 1e-10))


def polc_curve(codec: Codec, image: np.ndarray, alphas: tuple[float, ...], tick) -> list[dict]:
    rows = []
    for alpha in alphas:
        frame = codec.decode(codec.encode(image, alpha, enhancement=True))
        base, enh = codec.bits_per_pixel(frame)
        row = {"alpha": alpha, "bpp_base": base, "bpp_enhancement": enh}
        for beta in (0.0, 1.0):
            rec = codec.reconstruct(frame, beta)
            row[f"psnr_beta{beta:g}"] = psnr(image, rec)
            row[f"msssim_beta{beta:g}"] = ms_ssim(image, rec)
        rows.append(row)
        tick()
    return rows


def anchor_curve(image: np.ndarray, anchor: str, qualities: tuple[int, ...], tick) -> list[dict]:
    rows = []
    for q in qualities:
        rec, bpp = pillow_roundtrip(image, PILLOW_FORMATS[anchor], q)
        rows.append(
            {"quality": q, "bpp": bpp, "psnr": psnr(image, rec), "msssim": ms_ssim(image, rec)}
        )
        tick()
    return rows


def polc_rate(row: dict, beta: str) -> float:
    """β = 0 sends both layers, β = 1 the base layer only."""
    return row["bpp_base"] + (row["bpp_enhancement"] if beta == "beta0" else 0.0)


def bd_rates(polc: list[dict], anchor_rows: dict[str, list[dict]]) -> dict:
    """{beta0|beta1: {anchor: {psnr, msssim}}} in percent (NaN where curves do not overlap)."""
    out: dict = {}
    for beta in ("beta0", "beta1"):
        rate = [polc_rate(r, beta) for r in polc]
        p = [r[f"psnr_{beta}"] for r in polc]
        m = [msssim_db(r[f"msssim_{beta}"]) for r in polc]
        out[beta] = {
            name: {
                "psnr": bd_rate(rate, p, [r["bpp"] for r in rows], [r["psnr"] for r in rows]),
                "msssim": bd_rate(
                    rate, m, [r["bpp"] for r in rows], [msssim_db(r["msssim"]) for r in rows]
                ),
            }
            for name, rows in anchor_rows.items()
        }
    return out


def mean_bd_rates(per_photo: dict[str, dict]) -> dict:
    """The mean over photos of every BD-rate (photos whose curves do not overlap skipped,
    ``photos`` says how many counted)."""
    first = next(iter(per_photo.values()))["bd_rate"]
    out: dict = {}
    for beta, by_anchor in first.items():
        out[beta] = {}
        for anchor, metrics in by_anchor.items():
            out[beta][anchor] = {}
            for metric in metrics:
                vals = [p["bd_rate"][beta][anchor][metric] for p in per_photo.values()]
                finite = [v for v in vals if math.isfinite(v)]
                out[beta][anchor][metric] = {
                    "mean": float(np.mean(finite)) if finite else float("nan"),
                    "min": float(min(finite)) if finite else float("nan"),
                    "max": float(max(finite)) if finite else float("nan"),
                    "photos": len(finite),
                }
    return out


def run_photos(args: argparse.Namespace) -> int:
    names = tuple(args.photo) if args.photo else PHOTOS
    alphas = QUICK_ALPHAS if args.quick else ALPHAS
    qualities = QUICK_QUALITIES if args.quick else QUALITIES
    used = anchors()
    codec = load_codec(args.weights)
    images = {n: load_photo(n) for n in names}
    total = len(names) * (len(alphas) + sum(len(qualities[a]) for a in used))
    per_photo: dict[str, dict] = {}
    with tqdm(total=total, desc="photos", unit="enc") as bar:
        for name, image in images.items():
            bar.set_postfix(photo=name)
            polc = polc_curve(codec, image, alphas, bar.update)
            rows = {a: anchor_curve(image, a, qualities[a], bar.update) for a in used}
            per_photo[name] = {
                "size": [int(image.shape[1]), int(image.shape[0])],
                "polc": polc,
                "anchors": rows,
                "bd_rate": bd_rates(polc, rows),
            }
    result = {
        "note": "evaluation only: never used for training, tuning or checkpoint selection",
        "model": str(args.weights) if args.weights else "bundled",
        "model_fingerprint": codec.fingerprint,
        "photos": list(names),
        "anchors": used,
        "per_photo": per_photo,
        "mean_bd_rate": mean_bd_rates(per_photo),
    }
    out, plot = write_results(args, result, lambda path: plot_photos(per_photo, path))
    print_photos(result)
    print(f"wrote {out} and {plot}")
    return 0


def _fmt(v: float) -> str:
    return f"{v:+7.1f}%" if math.isfinite(v) else "    n/a "


def print_photos(r: dict) -> None:
    used = r["anchors"]
    head = "".join(f" {'β=0 vs ' + a:>13} {'β=1 vs ' + a:>13}" for a in used)
    print(f"PSNR BD-rate of polc (negative: fewer bits){'':>4}")
    print(f"{'photo':>18}{head} {'PSNR α=1 β=0':>13} {'β=1':>6}")
    for name, p in r["per_photo"].items():
        bd = p["bd_rate"]
        cells = "".join(
            f" {_fmt(bd['beta0'][a]['psnr']):>13} {_fmt(bd['beta1'][a]['psnr']):>13}" for a in used
        )
        top = p["polc"][-1]
        print(f"{name:>18}{cells} {top['psnr_beta0']:13.2f} {top['psnr_beta1']:6.2f}")
    m = r["mean_bd_rate"]
    for metric in ("psnr", "msssim"):
        cells = "".join(
            f" {_fmt(m['beta0'][a][metric]['mean']):>13} {_fmt(m['beta1'][a][metric]['mean']):>13}"
            for a in used
        )
        print(f"{'mean (' + metric + ')':>18}{cells}")


def plot_photos(per_photo: dict[str, dict], path: Path) -> None:
    matplotlib.use("Agg")  # files only, no display
    n = len(per_photo)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (name, p) in zip(axes.flat, per_photo.items(), strict=False):
        polc = p["polc"]
        ax.plot(
            [polc_rate(r, "beta0") for r in polc],
            [r["psnr_beta0"] for r in polc],
            "^-",
            label="polc β=0 (both layers)",
        )
        ax.plot(
            [polc_rate(r, "beta1") for r in polc],
            [r["psnr_beta1"] for r in polc],
            "o-",
            label="polc β=1 (base layer)",
        )
        for anchor, marker in zip(p["anchors"], ("k.:", "g.--", "m.-."), strict=False):
            rows_a = p["anchors"][anchor]
            ax.plot(
                [r["bpp"] for r in rows_a],
                [r["psnr"] for r in rows_a],
                marker,
                label=f"{anchor.upper()} (Pillow)",
            )
        ax.set_title(name)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB)")
        ax.set_xlim(0, 2.0)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("polc on scikit-image photographs (evaluation only)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
