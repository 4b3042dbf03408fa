"""h_k: the skip-mode context model of ŷ, trained on what a skip-mode P-frame codes.

A skip-mode P-frame reuses its reference's ẑ (hence μ_ref, idx_ref) and codes, at the
positions it does not skip, y_sym = round(v − μ_ref), with values near the prediction
snapped to it. h_t (``temporal.py``) was trained on every position of lossless P-frames and
is run there with half its inputs empty (μ_t = μ_ref, idx_t = idx_ref); h_k sees instead
what the decoder knows of a skip-mode frame before its ŷ:

    y_ref, idx_ref                      (the reference's decoded symbols and scale indexes)
    coded  (1 where this frame codes the position, 0 where it copies the reference)
    skipped_ref  (the reference's own skip map; 0 after a key / lossless P-frame)
                            ▼
    features (2M + 2): y_ref, idx_ref/8, coded, skipped_ref
        ─conv3×3─► ReLU ─conv3×3─► ReLU ─conv3×3─► Δ, σ_P
    μ_P = y_ref + Δ;   r = y_sym − round(μ_P) ~ N(0, σ_P)   (coded positions only)

Only convolutions and ReLU: the integer twin (``polc.shared.codec.integer_temporal``) runs
it exactly on every backend, like h_t.
"""

from __future__ import annotations

import torch

from polc.shared.models.codec.temporal import IDX_SCALE, ConvContext


class SkipContext(ConvContext):
    """Float h_k (trained): reference symbols + skip maps -> (μ_P, σ_P) in symbol units."""

    def __init__(self, M: int, hidden: int = 64):
        super().__init__(M, 2 * M + 2, hidden)

    @staticmethod
    def features(
        y_ref: torch.Tensor, idx_ref: torch.Tensor, coded: torch.Tensor, skipped_ref: torch.Tensor
    ) -> torch.Tensor:
        """(B, 2M + 2, h, w): y_ref in symbol units, idx_ref / IDX_SCALE, the two flag maps."""
        return torch.cat([y_ref, idx_ref / IDX_SCALE, coded, skipped_ref], 1)

    def forward(
        self,
        y_ref: torch.Tensor,
        idx_ref: torch.Tensor,
        coded: torch.Tensor,
        skipped_ref: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """y_ref, idx_ref (B, M, h, w), coded, skipped_ref (B, 1, h, w), all float (flags 0/1).
        Returns μ_P (symbol units) and σ_P (≥ 0), (B, M, h, w) each."""
        delta, scale = self.delta_and_scale(self.features(y_ref, idx_ref, coded, skipped_ref))
        return y_ref + delta, scale
