"""Integer twins of h_t (``polc.shared.models.codec.temporal``) and of the skip-mode h_k
(``polc.shared.models.codec.temporal_skip``): P-frame entropy parameters, bit-identical on
every backend.

Same fixed point as the integer h_s (``integer_hyper.py``): weights at W_FRAC bits,
activations and outputs at A_FRAC bits, exact integer convolutions (:class:`IntegerConv`).
Every input is already an integer at A_FRAC bits, so the features cost no rounding:

    h_t:  y_ref·2^8 │ μ_ref − μ_t │ idx_t·2^8/8 │ idx_ref·2^8/8     (int64, clipped to A_LIMIT)
    h_k:  y_ref·2^8 │ idx_ref·2^8/8 │ coded·2^8 │ skipped_ref·2^8
      ─conv─►floor─► relu ─conv─►floor─► relu ─conv─► Δ, σ_P (ints at A_FRAC)
    μ_P = pred + Δ  (h_t: pred = y_ref·2^8 + (μ_ref − μ_t); h_k: pred = y_ref·2^8)
    round(μ_P) = (μ_P + 2^7) >> 8 (exact floor)
"""

from __future__ import annotations

from typing import Self

import numpy as np
import torch

from polc.shared.codec.integer_hyper import (
    A_FRAC,
    A_LIMIT,
    FixedPointLayer,
    IntegerConv,
    fixed_point_conv,
)
from polc.shared.models.codec.temporal import IDX_SCALE, ConvContext
from polc.shared.models.codec.temporal_skip import SkipContext

_IDX_MUL = int(2**A_FRAC / IDX_SCALE)  # idx / IDX_SCALE at A_FRAC bits, exactly
assert _IDX_MUL * IDX_SCALE == 2**A_FRAC


class _IntegerContextStack:
    """Three exact conv3×3 (ReLU between): integer features and prediction -> (round(μ_P),
    σ_P·2^A_FRAC)."""

    def __init__(self, layers: list[FixedPointLayer]):
        self.layers = [IntegerConv.from_layer(layer, A_LIMIT) for layer in layers]

    @classmethod
    def from_float(cls, model: ConvContext) -> Self:
        """The exact twin of a trained float h_t / h_k."""
        return cls(export_context_layers(model))

    def predict(
        self, features: list[torch.Tensor], pred: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        a = torch.cat(features).clamp(-A_LIMIT, A_LIMIT)
        c1, c2, c3 = self.layers
        a = c1(a).clamp_(min=0)
        a = c2(a).clamp_(min=0)
        out = c3(a)
        m = out.shape[0] // 2
        mu_p = pred + out[:m]
        return ((mu_p + (1 << (A_FRAC - 1))) >> A_FRAC).numpy(), out[m:].abs().numpy()


def _at_a_frac(symbols: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(symbols, np.int64) << A_FRAC)


def _indexes(idx: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(idx, np.int64) * _IDX_MUL)


class IntegerTemporalContext(_IntegerContextStack):
    """Exact h_t: reference and intra parameters (ints) -> (round(μ_P), σ_P·2^A_FRAC)."""

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
        pred = _at_a_frac(y_ref)
        shift = torch.from_numpy(np.asarray(mu_ref, np.int64) - np.asarray(mu_t, np.int64))
        return self.predict([pred, shift, _indexes(idx_t), _indexes(idx_ref)], pred + shift)


class IntegerSkipContext(_IntegerContextStack):
    """Exact h_k: reference symbols and skip maps (ints) -> (round(μ_P), σ_P·2^A_FRAC)."""

    def __call__(
        self,
        y_ref: np.ndarray,
        idx_ref: np.ndarray,
        coded: np.ndarray,
        skipped_ref: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """y_ref int symbols, idx_ref scale indexes (M, h, w); coded, skipped_ref bool (h, w)
        (``skipped_ref`` None: the reference has no skip map, all 0).

        Returns round(μ_P) (int64 symbols) and σ_P at A_FRAC bits (int64, ≥ 0)."""
        pred = _at_a_frac(y_ref)
        flags = np.zeros((2, *pred.shape[1:]), np.int64)
        flags[0] = np.asarray(coded, bool)
        if skipped_ref is not None:
            flags[1] = np.asarray(skipped_ref, bool)
        return self.predict([pred, _indexes(idx_ref), _at_a_frac(flags)], pred)


def export_context_layers(model: ConvContext) -> list[FixedPointLayer]:
    """Fixed-point weights of a trained h_t or h_k (stored in the shipped temporal weights)."""
    name = "h_k" if isinstance(model, SkipContext) else "h_t"
    return [
        fixed_point_conv(conv, A_FRAC, name) for conv in (model.conv1, model.conv2, model.conv3)
    ]
