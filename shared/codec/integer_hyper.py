"""Integer twin of h_s: the entropy-parameter path, bit-identical on every backend.

Why by hand: the decoder must rebuild *exactly* the scale indexes and means the encoder used
(DESIGN.md §4). Float h_s in ONNX Runtime vs PyTorch flips indexes; no library we can use
ships an integer-exact convolution that runs the same on x86, ARM and in both runtimes.

How: weights are rounded to fixed point (``W_FRAC`` fractional bits), activations carry
``A_FRAC`` fractional bits, every tensor holds integers. Convolutions run as im2col +
matrix product in float64 on integer-valued operands whose every partial sum is below 2**53,
so each addition is exact and *any* summation order (BLAS blocking, threads, SIMD, FMA)
gives the same result. Requantisation divides by powers of two (exact) and floors.

    ẑ (ints) ─conv─►floor─► shuffle ─► relu ─conv─►floor─► shuffle ─► relu ─conv─► μ, σ (ints)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from polc.shared.codec.transforms import HyperSynthesis

W_FRAC = 12  # fractional bits of the weights
A_FRAC = 8  # fractional bits of activations and outputs
A_LIMIT = 2 ** 24  # |activation| bound (real value 65536): keeps partial sums < 2**53
W_LIMIT = 2 ** 16  # |weight| bound (real value 16)
Z_LIMIT = 2 ** 12  # |ẑ| bound


@dataclass(frozen=True)
class IntegerConv:
    weight: np.ndarray  # (O, I*9) int64 as float64 (exact)
    bias: np.ndarray  # (O, 1) integer-valued float64 at in_frac + W_FRAC
    in_frac: int

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """a: (I, H, W) integer-valued float64 -> (O, H, W) at A_FRAC fractional bits."""
        c, h, w = a.shape
        padded = np.pad(a, ((0, 0), (1, 1), (1, 1)))
        cols = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
        cols = cols.transpose(0, 3, 4, 1, 2).reshape(c * 9, h * w)  # (I*9, H*W)
        acc = self.weight @ cols + self.bias
        shift = self.in_frac + W_FRAC - A_FRAC
        out = np.floor((acc + 2.0 ** (shift - 1)) / 2.0 ** shift)
        return np.clip(out, -A_LIMIT, A_LIMIT).reshape(-1, h, w)


def _pixel_shuffle(a: np.ndarray, r: int = 2) -> np.ndarray:
    c, h, w = a.shape
    return (a.reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2)
            .reshape(c // (r * r), h * r, w * r))


class IntegerHyperSynthesis:
    """Exact h_s: integer ẑ (N, h, w) -> (μ·2^A_FRAC, σ·2^A_FRAC), int64 (M, 4h, 4w)."""

    def __init__(self, layers: list[dict[str, np.ndarray]]):
        self.layers = [IntegerConv(np.asarray(layer["weight"], np.float64),
                                   np.asarray(layer["bias"], np.float64)[:, None],
                                   int(layer["in_frac"])) for layer in layers]

    @classmethod
    def from_float(cls, h_s: HyperSynthesis) -> IntegerHyperSynthesis:
        return cls(export_layers(h_s))

    def __call__(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = np.clip(np.asarray(z_hat, np.float64), -Z_LIMIT, Z_LIMIT)
        c1, c2, c3 = self.layers
        a = np.maximum(_pixel_shuffle(c1(a)), 0)
        a = np.maximum(_pixel_shuffle(c2(a)), 0)
        out = c3(a)
        m = out.shape[0] // 2
        return out[:m].astype(np.int64), np.abs(out[m:]).astype(np.int64)


def export_layers(h_s: HyperSynthesis) -> list[dict[str, np.ndarray]]:
    """Fixed-point weights of a trained h_s (the arrays are stored in the shipped weights)."""
    layers = []
    for conv, in_frac in ((h_s.conv1, 0), (h_s.conv2, A_FRAC), (h_s.conv3, A_FRAC)):
        w = conv.weight.detach().double().cpu()
        wi = torch.round(w * 2 ** W_FRAC)
        if wi.abs().max() > W_LIMIT:
            raise ValueError(f"h_s weight {w.abs().max():.2f} exceeds the fixed-point range")
        b = torch.round(conv.bias.detach().double().cpu() * 2 ** (W_FRAC + in_frac))
        layers.append({"weight": wi.reshape(wi.shape[0], -1).to(torch.int64).numpy(),
                       "bias": b.to(torch.int64).numpy(), "in_frac": np.int64(in_frac)})
    return layers


def scale_thresholds(table: torch.Tensor) -> np.ndarray:
    """Integer scale-table thresholds at A_FRAC bits: index = #thresholds < σ_int."""
    return np.floor(table.double().numpy()[:-1] * 2 ** A_FRAC).astype(np.int64)


def scale_indexes(sigma_int: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return np.searchsorted(thresholds, sigma_int, side="left").astype(np.int32)
