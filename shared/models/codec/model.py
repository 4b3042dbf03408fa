"""RDCCodec: the trainable codec (primary branch with gain units + RDC auxiliary branch).

    x ─g_a─► y ─×G_y(α)─► v ──Q(v−μ)+μ──► v̂ ─÷G_y─► ŷ ─g_s─► x̂₁, f₁..f₃
                          └─h_a─► z ─Q─► ẑ ─h_s─► μ, σ (entropy parameters of v)
    (y − ŷ)·G_y ─T_enc─► s ─×G_s(α)─► Q ─÷G_s─► ŝ ─T_dec─► Δ;   ŷ₂ = ŷ + Δ
    r = R(ŷ₂, f₁, f₂, f₃);   x̄(β) = x̂₁ + (1 − β)·r

Training uses CompressAI's entropy models (additive noise for the rates, straight-through
rounding for the synthesis). The wire path (``polc.shared.codec.runtime``) codes the same
symbols with tables exported from these models and an integer twin of h_s.
"""

from __future__ import annotations

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from torch import nn

from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.enhancement import ResidualSynthesis, ScalableTransform
from polc.shared.models.codec.gain import GainUnit, as_map, default_log_gains
from polc.shared.models.codec.transforms import (
    AnalysisTransform,
    HyperAnalysis,
    HyperSynthesis,
    SynthesisTransform,
)

SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256.0, 64


def scale_table() -> torch.Tensor:
    return torch.exp(
        torch.linspace(
            torch.log(torch.tensor(SCALES_MIN)), torch.log(torch.tensor(SCALES_MAX)), SCALES_LEVELS
        )
    )


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return (torch.round(x) - x).detach() + x


def bottleneck_likelihood(eb: EntropyBottleneck, values: torch.Tensor) -> torch.Tensor:
    """Likelihood of already-quantised (B,C,H,W) values under a factorized bottleneck."""
    c = values.shape[1]
    flat = values.transpose(0, 1).reshape(c, 1, -1)
    lik, _, _ = eb._likelihood(flat)
    lik = eb.likelihood_lower_bound(lik)
    return lik.reshape(c, values.shape[0], *values.shape[2:]).transpose(0, 1)


class RDCCodec(nn.Module):
    def __init__(self, arch: ArchitectureConfig):
        super().__init__()
        self.arch = arch
        N, M, L = arch.N, arch.M, arch.levels
        self.g_a = AnalysisTransform(N, M)
        self.g_s = SynthesisTransform(N, M)
        self.h_a = HyperAnalysis(N, M)
        self.h_s = HyperSynthesis(N, M)
        self.gain_y = GainUnit(M, L, default_log_gains(L))
        self.entropy_z = EntropyBottleneck(N)
        self.gaussian = GaussianConditional(scale_table().tolist())
        # auxiliary branch
        self.t_enc = ScalableTransform(M, arch.aux_channels, M)
        self.t_dec = ScalableTransform(arch.aux_channels, M, M)
        self.gain_s = GainUnit(arch.aux_channels, L, default_log_gains(L, 0.5, 2.0))
        self.entropy_s = EntropyBottleneck(arch.aux_channels)
        self.residual = ResidualSynthesis(M, N, arch.residual_channels)

    # ------------------------------------------------------------------ primary branch
    def primary(self, x: torch.Tensor, gain: torch.Tensor, noisy: bool) -> dict:
        """Run the primary branch with per-sample gains (B, M). Returns every intermediate."""
        g = as_map(gain)
        y = self.g_a(x)
        v = y * g
        z = self.h_a(v)
        z_hat = torch.round(z) if not noisy else ste_round(z)
        if noisy:
            _, z_lik = self.entropy_z(z, training=True)
        else:
            z_lik = bottleneck_likelihood(self.entropy_z, z_hat)
        mu, sigma = self.h_s(z_hat)
        if noisy:
            _, v_lik = self.gaussian(v, sigma, means=mu, training=True)
        else:
            v_lik = self.gaussian._likelihood(torch.round(v - mu) + mu, sigma, means=mu)
            v_lik = self.gaussian.likelihood_lower_bound(v_lik)
        v_hat = ste_round(v - mu) + mu
        y_hat = v_hat / g
        x1, feats = self.g_s(y_hat)
        return {
            "y": y,
            "v": v,
            "y_hat": y_hat,
            "x1": x1,
            "feats": feats,
            "likelihoods": {"y": v_lik, "z": z_lik},
        }

    # ---------------------------------------------------------------- auxiliary branch
    def enhancement(
        self,
        y: torch.Tensor,
        y_hat: torch.Tensor,
        gain_y: torch.Tensor,
        gain_s: torch.Tensor,
        feats: list[torch.Tensor],
        noisy: bool,
    ) -> dict:
        gs = as_map(gain_s)
        s = self.t_enc((y - y_hat) * as_map(gain_y)) * gs
        if noisy:
            _, s_lik = self.entropy_s(s, training=True)
            s_q = ste_round(s)
        else:
            s_q = torch.round(s)
            s_lik = bottleneck_likelihood(self.entropy_s, s_q)
        residual = self.residual(y_hat + self.t_dec(s_q / gs), feats)
        return {"r": residual, "likelihoods": {"s": s_lik}}

    def forward(
        self, x: torch.Tensor, level: torch.Tensor, stage: int = 1, noisy: bool = True
    ) -> dict:
        """Training/eval forward at trained levels ``level`` (B,) long."""
        gain_y = self.gain_y.level(level)
        if stage == 1:
            return self.primary(x, gain_y, noisy)
        with torch.no_grad():
            out = self.primary(x, gain_y, noisy=False)
        aux = self.enhancement(
            out["y"], out["y_hat"], gain_y, self.gain_s.level(level), out["feats"], noisy
        )
        out["r"] = aux["r"]
        out["likelihoods"] = {**out["likelihoods"], **aux["likelihoods"]}
        return out

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_z.loss() + self.entropy_s.loss()

    def primary_parameters(self) -> list[nn.Parameter]:
        mods = [self.g_a, self.g_s, self.h_a, self.h_s, self.gain_y, self.entropy_z]
        return [p for m in mods for n, p in m.named_parameters() if not n.endswith("quantiles")]

    def enhancement_parameters(self) -> list[nn.Parameter]:
        mods = [self.t_enc, self.t_dec, self.gain_s, self.entropy_s, self.residual]
        return [p for m in mods for n, p in m.named_parameters() if not n.endswith("quantiles")]

    def quantile_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.endswith("quantiles")]
