"""Integer twin of h_t (``polc.shared.models.codec.temporal``): P-frame entropy parameters,
bit-identical on every backend.

Same fixed point as the integer h_s (``integer_hyper.py``): weights at W_FRAC bits,
activations and outputs at A_FRAC bits, exact integer convolutions (:class:`IntegerConv`).
Every input is already an integer at A_FRAC bits, so the features cost no rounding:

    y_ref·2^8 │ μ_ref − μ_t │ idx_t·2^8/8 │ idx_ref·2^8/8      (all int64, clipped to A_LIMIT)
      ─conv─►floor─► relu ─conv─►floor─► relu ─conv─► Δ, σ_P (ints at A_FRAC)
    μ_P = y_ref·2^8 + (μ_ref − μ_t) + Δ;   round(μ_P) = (μ_P + 2^7) >> 8 (exact floor)
"""

from __future__ import annotations

import numpy as np
import torch

from polc.shared.codec.integer_hyper import (
    A_FRAC,
    A_LIMIT,
    FixedPointLayer,
    IntegerConv,
    fixed_point_conv,
)
from polc.shared.models.codec.temporal import IDX_SCALE, TemporalContext

_IDX_MUL = int(2**A_FRAC / IDX_SCALE)  # idx / IDX_SCALE at A_FRAC bits, exactly
assert _IDX_MUL * IDX_SCALE == 2**A_FRAC


class IntegerTemporalContext:
    """Exact h_t: reference and intra parameters (ints) -> (round(μ_P), σ_P·2^A_FRAC)."""

    def __init__(self, layers: list[FixedPointLayer]):
        self.layers = [IntegerConv.from_layer(layer, A_LIMIT) for layer in layers]

    @classmethod
    def from_float(cls, h_t: TemporalContext) -> IntegerTemporalContext:
        return cls(export_temporal_layers(h_t))

    def __call__(
        self,
        y_ref: np.ndarray,
        mu_ref: np.ndarray,
        idx_ref: np.ndarray,
        mu_t: np.ndarray,
        idx_t: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """y_ref int symbols; mu_* means·2^A_FRAC (ints); idx_* scale indexes; all (M, h, w).

        Returns round(μ_P) (int64 symbols) and σ_P at A_FRAC bits (int64, ≥ 0)."""
        pred = torch.from_numpy(np.asarray(y_ref, np.int64) << A_FRAC)
        shift = torch.from_numpy(np.asarray(mu_ref, np.int64) - np.asarray(mu_t, np.int64))
        idx = [torch.from_numpy(np.asarray(i, np.int64) * _IDX_MUL) for i in (idx_t, idx_ref)]
        a = torch.cat([pred, shift, *idx]).clamp(-A_LIMIT, A_LIMIT)
        c1, c2, c3 = self.layers
        a = c1(a).clamp_(min=0)
        a = c2(a).clamp_(min=0)
        out = c3(a)
        m = out.shape[0] // 2
        mu_p = pred + shift + out[:m]
        return ((mu_p + (1 << (A_FRAC - 1))) >> A_FRAC).numpy(), out[m:].abs().numpy()


def export_temporal_layers(h_t: TemporalContext) -> list[FixedPointLayer]:
    """Fixed-point weights of a trained h_t (stored in the shipped temporal weights)."""
    return [fixed_point_conv(conv, A_FRAC, "h_t") for conv in (h_t.conv1, h_t.conv2, h_t.conv3)]
