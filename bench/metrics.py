"""Metrics shared by the benchmarks: PSNR, MS-SSIM, JPEG at matched rate, BD-rate."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim
from scipy.interpolate import PchipInterpolator


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float()
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float()
    if min(a.shape[:2]) <= 160:  # 5 scales need > 160 px
        return float(ssim(ta, tb, data_range=255))
    return float(_ms_ssim(ta, tb, data_range=255))


def pillow_roundtrip(image: np.ndarray, fmt: str, quality: int) -> tuple[np.ndarray, float]:
    """(decoded image, bpp) of an RGB uint8 image through Pillow's ``fmt`` encoder (JPEG,
    WEBP, AVIF) at a quality."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, quality=int(quality))
    bpp = buf.tell() * 8 / (image.shape[0] * image.shape[1])
    buf.seek(0)
    with Image.open(buf) as im:
        return np.array(im.convert("RGB")), bpp


def jpeg(image: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
    """(decoded image, bpp) of Pillow JPEG at a quality."""
    return pillow_roundtrip(image, "JPEG", quality)


def jpeg_at_bpp(image: np.ndarray, target_bpp: float) -> tuple[np.ndarray, float, int]:
    """JPEG whose rate is closest to target_bpp (binary search over quality 1..95)."""
    lo, hi = 1, 95
    best = None
    while lo <= hi:
        q = (lo + hi) // 2
        dec, bpp = jpeg(image, q)
        if best is None or abs(bpp - target_bpp) < abs(best[1] - target_bpp):
            best = (dec, bpp, q)
        if bpp < target_bpp:
            lo = q + 1
        else:
            hi = q - 1
    assert best is not None
    return best


def bd_rate(
    rate_a: list[float], metric_a: list[float], rate_b: list[float], metric_b: list[float]
) -> float:
    """Bjøntegaard delta rate of A against B in percent (negative: A needs fewer bits).

    Piecewise-cubic fit of log-rate as a function of the metric, integrated over the
    overlapping metric interval (the usual BD-rate; pchip instead of a cubic polynomial is
    the more robust variant also used by CompressAI's plotting tools).
    """

    def curve(rate, metric):
        order = np.argsort(metric)
        m = np.asarray(metric, np.float64)[order]
        r = np.log(np.asarray(rate, np.float64)[order])
        keep = np.concatenate([[True], np.diff(m) > 1e-9])
        return m[keep], r[keep]

    ma, ra = curve(rate_a, metric_a)
    mb, rb = curve(rate_b, metric_b)
    lo, hi = max(ma.min(), mb.min()), min(ma.max(), mb.max())
    if len(ma) < 2 or len(mb) < 2 or hi <= lo:
        return float("nan")
    xs = np.linspace(lo, hi, 200)
    avg_a = np.trapz(PchipInterpolator(ma, ra)(xs), xs) / (hi - lo)
    avg_b = np.trapz(PchipInterpolator(mb, rb)(xs), xs) / (hi - lo)
    return float((np.exp(avg_a - avg_b) - 1) * 100)


def bd_rate_of_curves(test: list[dict], anchor: list[dict]) -> float:
    """:func:`bd_rate` of two curves given as rows with ``bpp`` and ``metric``."""
    return bd_rate(
        [r["bpp"] for r in test],
        [r["metric"] for r in test],
        [r["bpp"] for r in anchor],
        [r["metric"] for r in anchor],
    )
