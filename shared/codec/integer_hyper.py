"""Integer twin of h_s: the entropy-parameter path, bit-identical on every backend.

Why by hand: the decoder must rebuild *exactly* the scale indexes and means the encoder used
(DESIGN.md §4). Float h_s in ONNX Runtime vs PyTorch flips indexes; no library we can use
ships an integer-exact convolution that runs the same on x86, ARM and in both runtimes.

How: weights are rounded to fixed point (``W_FRAC`` fractional bits), activations carry
``A_FRAC`` fractional bits, every tensor holds integers. A 3×3 convolution is im2col + one
matrix product whose result is the exact integer sum; requantisation adds half and shifts
right (an exact floor), then clips.

    ẑ (ints) ─conv─►floor─► shuffle ─► relu ─conv─►floor─► shuffle ─► relu ─conv─► μ, σ (ints)

The matrix product is computed exactly in one of two ways (same integers either way):

* int8 GEMM with int32 accumulation (``torch._int_mm``; VNNI / AVX2 / NEON kernels, ~15×
  faster than float64 here): weights and activations are split into balanced base-128
  digits d ∈ [−64, 63] (w = Σ w_i·128^i, a = Σ a_j·128^j), all digit products go through
  one int8 GEMM, and W·a = Σ_ij 128^(i+j)·(W_i·a_j) is recombined in int64. Every partial
  sum of W_i·a_j is bounded by K·64·64 < 2^31 (asserted), so int32 never overflows and any
  order is exact. Digits stay within ±64 so that even the AVX2 u8×s8 pair instruction
  (which saturates at int16) cannot saturate: 255·64·2 < 2^15. A self-test with extreme
  digits checks the kernel once per process; if it fails or is missing:
* float64 BLAS on integer-valued operands: exact because every partial sum is an integer
  below 2^53 (bound proved from the weights below and asserted), so each addition is exact
  whatever the blocking, threading, SIMD or FMA.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import torch
import torch.nn.functional as F

from polc.shared.models.codec.transforms import HyperSynthesis

log = logging.getLogger(__name__)

W_FRAC = 12  # fractional bits of the weights
A_FRAC = 8  # fractional bits of activations and outputs
A_LIMIT = 2**24  # |activation| bound (real value 65536): keeps partial sums < 2**53
W_LIMIT = 2**16  # |weight| bound (real value 16)
Z_LIMIT = 2**12  # |ẑ| bound
DIGIT_BITS = 7  # balanced base-128 digits in [-64, 63] for the int8 GEMM


#: one exported layer: integer weight and bias arrays, the input's fractional bits
FixedPointLayer = dict[str, np.ndarray | np.int64]


def _digits(t: torch.Tensor) -> torch.Tensor:
    """int64 tensor -> (n, *shape) int8 balanced base-128 digits with t = Σ_i d_i·128^i."""
    half, mask = 1 << (DIGIT_BITS - 1), (1 << DIGIT_BITS) - 1
    out = []
    while True:  # |t| shrinks to ≤ (|t| + 64)/128 per digit: ≤ 5 rounds for |t| ≤ 2^24
        d = ((t + half) & mask) - half
        out.append(d.to(torch.int8))
        t = (t - d) >> DIGIT_BITS
        if not bool(t.any()):
            return torch.stack(out)


@functools.cache
def int8_gemm_is_exact() -> bool:
    """Does this machine's ``torch._int_mm`` compute digit products exactly (no saturation)?"""
    if not hasattr(torch, "_int_mm"):
        return False
    g = torch.Generator().manual_seed(0)
    k = 1024
    a = torch.randint(-64, 64, (32, k), generator=g, dtype=torch.int8)
    b = torch.randint(-64, 64, (k, 24), generator=g, dtype=torch.int8)
    a[0], a[1], b[:, 0], b[:, 1] = -64, 63, -64, 63  # the extreme sums ±k·64·64
    try:
        got = torch._int_mm(a, b).to(torch.int64)
    except RuntimeError:
        return False
    exact = torch.equal(got, a.to(torch.int64) @ b.to(torch.int64))
    if not exact:
        log.warning("int8 GEMM is not exact on this machine; integer h_s runs in float64")
    return exact


class IntegerConv:
    """One exact 3×3 convolution (padding 1) with requantisation to A_FRAC bits."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, in_frac: int, in_limit: int):
        self.weight = np.asarray(weight, np.float64)  # (O, I*9) integer-valued
        self.bias = np.asarray(bias, np.float64).reshape(-1, 1)  # at in_frac + W_FRAC
        self.in_frac = in_frac
        self.shift = in_frac + W_FRAC - A_FRAC
        out_ch, k = self.weight.shape
        # Exactness bound: |Σ_k w_ok·a_k + b_o| ≤ max_o Σ_k |w_ok| · in_limit + max|b| for
        # every partial sum (the input is clipped to in_limit before this layer).
        bound = np.abs(self.weight).sum(1).max(initial=0) * in_limit + np.abs(self.bias).max(
            initial=0
        )
        if bound >= 2**53:
            raise ValueError(f"integer h_s layer can reach {bound:.3g} >= 2^53: not exact")
        assert k * 64 * 64 < 2**31  # int32 accumulation of digit products cannot overflow
        w_digits = _digits(torch.from_numpy(self.weight.astype(np.int64)))  # (nw, O, K)
        self.n_w = w_digits.shape[0]
        self.w_stack = w_digits.reshape(self.n_w * out_ch, k).contiguous()
        self.bias_int = torch.from_numpy(self.bias.astype(np.int64))
        self.w64 = torch.from_numpy(self.weight)

    @classmethod
    def from_layer(cls, layer: FixedPointLayer, in_limit: int) -> IntegerConv:
        """The convolution of an exported layer (:func:`fixed_point_conv`)."""
        return cls(
            np.asarray(layer["weight"]),
            np.asarray(layer["bias"]),
            int(layer["in_frac"]),
            in_limit,
        )

    def _cols(self, a: torch.Tensor) -> torch.Tensor:
        """(D, C, H, W) -> (C*9, D*H*W) im2col, rows ordered (c, dy, dx) like the weights."""
        d, c, h, w = a.shape
        cols = F.pad(a, (1, 1, 1, 1)).unfold(2, 3, 1).unfold(3, 3, 1)  # (D, C, H, W, 3, 3)
        return cols.permute(1, 4, 5, 0, 2, 3).reshape(c * 9, d * h * w)

    def matmul(self, a: torch.Tensor) -> torch.Tensor:
        """Exact W·im2col(a) + b: a (C, H, W) int64 -> (O, H*W) int64."""
        c, h, w = a.shape
        if int8_gemm_is_exact():
            a_digits = _digits(a)  # (na, C, H, W) int8
            n_a = a_digits.shape[0]
            prod = torch._int_mm(self.w_stack, self._cols(a_digits))  # (nw*O, na*H*W) int32
            prod = prod.view(self.n_w, -1, n_a, h * w).to(torch.int64)
            acc = self.bias_int.expand(-1, h * w).clone()
            for i in range(self.n_w):
                for j in range(n_a):
                    acc += prod[i, :, j] << (DIGIT_BITS * (i + j))
            return acc
        cols = self._cols(a.to(torch.float64)[None])
        return (self.w64 @ cols + torch.from_numpy(self.bias)).to(torch.int64)

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        """a: (I, H, W) int64 -> (O, H, W) int64 at A_FRAC fractional bits."""
        _, h, w = a.shape
        acc = self.matmul(a)
        out = (acc + (1 << (self.shift - 1))) >> self.shift  # floor((acc + half) / 2^shift)
        return out.clamp_(-A_LIMIT, A_LIMIT).view(-1, h, w)


class IntegerHyperSynthesis:
    """Exact h_s: integer ẑ (N, h, w) -> (μ·2^A_FRAC, σ·2^A_FRAC), int64 (M, 4h, 4w)."""

    def __init__(self, layers: list[FixedPointLayer]):
        self.layers = [
            IntegerConv.from_layer(layer, Z_LIMIT if i == 0 else A_LIMIT)
            for i, layer in enumerate(layers)
        ]

    @classmethod
    def from_float(cls, h_s: HyperSynthesis) -> IntegerHyperSynthesis:
        return cls(export_layers(h_s))

    def __call__(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = torch.from_numpy(np.asarray(z_hat, np.int64)).clamp(-Z_LIMIT, Z_LIMIT)
        c1, c2, c3 = self.layers
        a = F.pixel_shuffle(c1(a)[None], 2)[0].clamp_(min=0)
        a = F.pixel_shuffle(c2(a)[None], 2)[0].clamp_(min=0)
        out = c3(a).numpy()
        m = out.shape[0] // 2
        return out[:m], np.abs(out[m:])


def fixed_point_conv(conv: torch.nn.Conv2d, in_frac: int, what: str = "h_s") -> FixedPointLayer:
    """One trained 3×3 convolution in fixed point (the layer format of :class:`IntegerConv`):
    weights at W_FRAC bits, bias at in_frac + W_FRAC bits."""
    w = conv.weight.detach().double().cpu()
    wi = torch.round(w * 2**W_FRAC)
    if wi.abs().max() > W_LIMIT:
        raise ValueError(f"{what} weight {w.abs().max():.2f} exceeds the fixed-point range")
    if conv.bias is None:
        raise ValueError(f"{what}: a fixed-point layer needs a bias")
    b = torch.round(conv.bias.detach().double().cpu() * 2 ** (W_FRAC + in_frac))
    return {
        "weight": wi.reshape(wi.shape[0], -1).to(torch.int64).numpy(),
        "bias": b.to(torch.int64).numpy(),
        "in_frac": np.int64(in_frac),
    }


def export_layers(h_s: HyperSynthesis) -> list[FixedPointLayer]:
    """Fixed-point weights of a trained h_s (the arrays are stored in the shipped weights)."""
    return [
        fixed_point_conv(conv, in_frac)
        for conv, in_frac in ((h_s.conv1, 0), (h_s.conv2, A_FRAC), (h_s.conv3, A_FRAC))
    ]


def scale_thresholds(table: torch.Tensor) -> np.ndarray:
    """Integer scale-table thresholds at A_FRAC bits: index = #thresholds < σ_int."""
    return np.floor(table.double().numpy()[:-1] * 2**A_FRAC).astype(np.int64)


def scale_indexes(sigma_int: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return np.searchsorted(thresholds, sigma_int, side="left").astype(np.int32)
