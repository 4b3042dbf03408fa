"""`polc bench latent-width`: how much picture quality a latent of M channels can hold.

A codec with stride 16 and M latent channels describes each 16×16×3 block with M numbers, so
its reconstruction can be no better than what its transforms keep of the image at infinite
rate. Two figures per photograph (scikit-image's, evaluation only):

* the **linear bound**: PSNR after keeping the top k principal components of 16×16×3 blocks,
  the components fitted on the codec's procedural training images (never on the photos), for
  each k of ``--components``;
* each ``--model``'s **ceiling**: PSNR of g_s(g_a(x)) without quantisation (the quality no α
  can exceed), next to its top trained level (α = 1, β = 1, additive noise replaced by
  rounding). It bounds a codec that uses all its channels; early in training (or after
  ``--init`` from a narrower codec) the top level can lie above it, since channels that
  quantisation still rounds to their mean reach g_s here with raw values it never saw.

Written to choose M for a codec that must reach a PSNR on photographs; prints a table, writes
JSON and a plot (PSNR against k, each model's ceiling drawn at k = M).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib import pyplot as plt
from tqdm import tqdm

from polc.bench.arguments import write_results
from polc.bench.codec_model import load_codec
from polc.bench.codec_photos import PHOTOS, load_photo
from polc.shared.codec.frame_spec import PAD
from polc.shared.codec.runtime import Codec, image_to_array
from polc.shared.errors import ConfigError
from polc.shared.metrics.image import psnr
from polc.training.codec_data import procedural_train_image

BLOCK = 16  #: the codec's latent stride
ALIGN = PAD  #: g_a·h_a's stride: photos are cropped to multiples of it for every figure
FIT_KINDS = ("dead_leaves", "spectral")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default="bench-latent-width.json", help="output JSON path")
    p.add_argument("--plot", default=None, help="PNG (default: next to the JSON)")
    p.add_argument(
        "--components",
        default="64,96,128,192,256,320",
        help="comma-separated numbers of principal components k (per 16×16×3 block)",
    )
    p.add_argument(
        "--fit-images",
        type=int,
        default=40,
        help="procedural training images per family to fit the components on",
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="FILE",
        help="a codec (shipped file or `polc train codec` checkpoint; 'bundled' for the "
        "default) whose ceiling to add; repeatable",
    )


def aligned(image: np.ndarray) -> np.ndarray:
    """The image's top-left part whose sides are multiples of :data:`ALIGN`."""
    h, w = image.shape[0] // ALIGN * ALIGN, image.shape[1] // ALIGN * ALIGN
    return np.ascontiguousarray(image[:h, :w])


def blocks(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (n, 768) float64 in [0, 1]: the 16×16×3 blocks of the image's top-left
    part whose sides are multiples of 16."""
    h, w = image.shape[0] // BLOCK * BLOCK, image.shape[1] // BLOCK * BLOCK
    a = image[:h, :w].astype(np.float64) / 255.0
    grid = a.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3).transpose(0, 2, 1, 3, 4)
    return grid.reshape(-1, BLOCK * BLOCK * 3)


def principal_components(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, components as columns, strongest first) of the rows of ``samples``."""
    mean = samples.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(samples - mean, rowvar=False))
    return mean, vectors[:, ::-1]


def linear_bound(image: np.ndarray, mean: np.ndarray, comps: np.ndarray, k: int) -> float:
    """PSNR (dB) of the image's blocks projected on the top ``k`` components."""
    centred = blocks(image) - mean
    kept = comps[:, :k]
    err = centred - (centred @ kept) @ kept.T
    return float(10 * np.log10(1.0 / np.mean(err**2)))


def model_ceiling(codec: Codec, image: np.ndarray) -> dict[str, float]:
    """PSNR of g_s(g_a(x)) without quantisation and at the top trained level (β = 1) of an
    :func:`aligned` image."""
    x = torch.from_numpy(image_to_array(image)[0])  # no padding: the image is aligned
    model = codec.model.eval()
    top = torch.tensor([model.arch.levels - 1])
    with torch.no_grad():
        unquantised, _ = model.g_s(model.g_a(x))
        quantised = model(x, top, stage=1, noisy=False)["x1"]

    def to_uint8(t: torch.Tensor) -> np.ndarray:
        return (t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)

    return {
        "ceiling_psnr": psnr(image, to_uint8(unquantised)),
        "top_level_psnr": psnr(image, to_uint8(quantised)),
    }


def run(args: argparse.Namespace) -> int:
    try:
        ks = sorted({int(k) for k in args.components.split(",") if k.strip()})
    except ValueError:
        msg = f"--components: comma-separated integers, got {args.components!r}"
        raise ConfigError(msg) from None
    if not ks or min(ks) < 1 or max(ks) > BLOCK * BLOCK * 3:
        raise ConfigError(f"--components: each k must be in 1..{BLOCK * BLOCK * 3}, got {ks}")
    fit = [
        blocks(procedural_train_image(kind, 0, 256, i))
        for kind in FIT_KINDS
        for i in tqdm(range(args.fit_images), desc=f"fit on {kind}", unit="img")
    ]
    mean, comps = principal_components(np.concatenate(fit))
    photos = {name: aligned(load_photo(name)) for name in PHOTOS}
    bound = {
        name: {str(k): linear_bound(img, mean, comps, k) for k in ks}
        for name, img in photos.items()
    }
    models = {}
    for path in args.model or []:
        codec = load_codec(path)
        models[path] = {
            "M": codec.model.arch.M,
            "N": codec.model.arch.N,
            "fingerprint": codec.fingerprint,
            "photos": {
                name: model_ceiling(codec, img)
                for name, img in tqdm(photos.items(), desc=Path(path).name, unit="photo")
            },
        }
    result = {
        "note": f"PSNR (dB) on {ALIGN}-pixel-aligned crops of the photographs (evaluation "
        f"only); components fitted on {args.fit_images} procedural training images per family "
        f"{list(FIT_KINDS)}",
        "components": ks,
        "linear_bound": bound,
        "models": models,
    }
    out, plot = write_results(args, result, lambda path: plot_latent_width(result, path))
    print_latent_width(result)
    print(f"wrote {out} and {plot}")
    return 0


def print_latent_width(r: dict) -> None:
    ks = r["components"]
    models = r["models"]
    head = f"{'photo':>18} " + " ".join(f"{'k=' + str(k):>7}" for k in ks)
    for path, m in models.items():
        head += f"  {Path(path).name[:14] + ' M=' + str(m['M']):>22} (top level)"
    print("PSNR (dB): linear bound at k components; each model's ceiling g_s(g_a(x))")
    print(head)
    for name, row in r["linear_bound"].items():
        line = f"{name:>18} " + " ".join(f"{row[str(k)]:7.2f}" for k in ks)
        for m in models.values():
            c = m["photos"][name]
            line += f"  {c['ceiling_psnr']:22.2f} ({c['top_level_psnr']:6.2f})"
        print(line)


def plot_latent_width(r: dict, path: Path) -> None:
    matplotlib.use("Agg")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ks = r["components"]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, row) in enumerate(r["linear_bound"].items()):
        colour = colours[i % len(colours)]
        ax.plot(ks, [row[str(k)] for k in ks], "-", color=colour, label=name)
        for m in r["models"].values():
            ax.plot(m["M"], m["photos"][name]["ceiling_psnr"], "o", color=colour)
    ax.set_xlabel("latent numbers per 16×16×3 block (k components / M channels)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Linear bound (lines) and codec ceilings without quantisation (dots)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
