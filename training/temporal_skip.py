"""Skip-mode context model training: h_k learns the rate of what skip-mode P-frames code.

    synthetic fixed-camera clips (seeds ≥ 1000) ─► g_a once per frame: float latents
        (cached in RUN_DIR; v = latent·G_y(α) at every α of the grid, exactly as encoders do)
    per (clip, α, τ): a skip-mode GOP simulated as ``TemporalWireModel.skip_symbols`` codes
        it (key frame, then P-frames against the previous one; values snap to the prediction
        of h_t, or with ``snap_to: hk`` of the h_k of ``ht_from``)      (cached in RUN_DIR)
    pairs (t−1, t) ─► h_k(y_ref, idx_ref, coded_t, skipped_{t−1}) ─► μ_P, σ_P
        loss = −log2 P(y_sym − round(μ_P) | N(0, σ_P)) over the *coded* positions / pixels

Snapping to h_k: an encoder with h_k snaps values within min(τ, SNAP_TAU) steps of *h_k's*
round(μ_P), so GOPs snapped to h_t's prediction are not quite what it codes. A further round
(``snap_to: hk``) simulates the GOPs once with the exact integer h_k of the previous round
(``ht_from``, as the shipped encoder runs it) and trains the new h_k on them; each round
moves the training data closer to what the model it produces will code (self-consistent at
a fixed point). Re-simulating with the model being trained would cost a full integer
simulation per refresh (minutes per clip set), for a drift between rounds that is small.

The codec and h_t stay frozen. Evaluation codes the held-out clip in skip mode with the
exported *integer* h_k and with h_t + scale gain (what skip mode did before h_k) and reports
the exact ŷ bytes of both.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from compressai.entropy_models import GaussianConditional
from tqdm import tqdm

from polc.shared.codec.frame_spec import alpha_to_code
from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.runtime import Codec, FrameEncoder, image_to_array
from polc.shared.codec.temporal_weights import (
    build_temporal_wire,
    export_temporal,
    read_temporal_file,
)
from polc.shared.codec.temporal_wire import SNAP_TAU, TemporalWireModel
from polc.shared.data.synth.video import render_video_frames
from polc.shared.errors import ConfigError
from polc.shared.models.codec.temporal import TemporalContext
from polc.shared.models.codec.temporal_skip import SkipContext
from polc.shared.models.weights_file import load_torch_file, save_torch_file
from polc.training.distributed import is_main_process
from polc.training.loop import StepResult, TrainLoop
from polc.training.temporal_config import SkipContextTrainConfig, TemporalTrainConfig
from polc.training.temporal_rate import codec_gaussian, rate_loop, residual_bits

log = logging.getLogger(__name__)


@torch.no_grad()
def clip_latents(codec: Codec, seeds: list[int], frames: int, size: tuple[int, int]) -> np.ndarray:
    """g_a of every frame of the clips: float32 (clip, frame, M, h, w) (α's gain not yet
    applied)."""
    transforms = codec.encoder.transforms
    out = []
    bar = tqdm(total=len(seeds) * frames, desc="g_a over training clips", leave=False)
    for seed in seeds:
        clip = []
        for image, _ in render_video_frames(frames, seed, size):
            x, _ = image_to_array(image)
            clip.append(transforms.analysis(x)[0].astype(np.float32))
            bar.update(1)
        out.append(np.stack(clip))
    bar.close()
    return np.stack(out)


@dataclass
class SkipGops:
    """Simulated skip-mode GOPs: ŷ symbols per (clip, α, τ, frame) (frame 0: key frame),
    their skip maps (frame 0: none) and the key frames' scale indexes per (clip, α)."""

    y: np.ndarray  # int16 (C, A, T, F, M, h, w)
    skip: np.ndarray  # bool (C, A, T, F, h, w)
    idx: np.ndarray  # uint8 (C, A, M, h, w)
    pixels: int

    def save(self, path: Path, key: dict) -> None:
        """Write the GOPs with ``key`` (what they were simulated from) to ``path``."""
        arrays = {k: torch.from_numpy(getattr(self, k)) for k in ("y", "skip", "idx")}
        save_torch_file(arrays | {"pixels": self.pixels, "key": key}, path)

    @classmethod
    def load(cls, path: Path, key: dict) -> SkipGops | None:
        """The GOPs cached at ``path`` when they were simulated from ``key``, else None."""
        if not path.is_file():
            return None
        raw = load_torch_file(path)
        if raw["key"] != key:
            log.info("%s was simulated from other inputs: simulating again", path)
            return None
        return cls(*(raw[k].numpy() for k in ("y", "skip", "idx")), int(raw["pixels"]))

    def batch(self, picks: np.ndarray) -> list[torch.Tensor]:
        """Inputs of h_k and the target of the P-frames ``picks`` (rows c, a, τ, t ≥ 1):
        y_ref, idx_ref, coded, skipped_ref, y_sym (float32)."""
        c, a, k, t = picks.T

        def f32(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(x.astype(np.float32))

        return [
            f32(self.y[c, a, k, t - 1]),
            f32(self.idx[c, a]),
            f32(~self.skip[c, a, k, t])[:, None],
            f32(self.skip[c, a, k, t - 1])[:, None],
            f32(self.y[c, a, k, t]),
        ]


def simulate_skip_gops(
    codec: Codec,
    temporal: TemporalWireModel,
    latents: np.ndarray,
    alphas: list[float],
    taus: tuple[float, ...],
    pixels: int,
    with_skip_context: bool = False,
) -> SkipGops:
    """Code every clip of ``latents`` as one GOP per (α, τ) in skip mode, the decisions of
    ``temporal.skip_symbols``: values snap to the prediction of its h_k
    (``with_skip_context``: what an encoder with that h_k sends) or of its h_t (an encoder
    without h_k)."""
    wire, transforms = codec.wire, codec.encoder.transforms
    n_clips, n_frames, m, h, w = latents.shape
    y = np.zeros((n_clips, len(alphas), len(taus), n_frames, m, h, w), np.int16)
    skip = np.zeros((n_clips, len(alphas), len(taus), n_frames, h, w), bool)
    idx = np.zeros((n_clips, len(alphas), m, h, w), np.uint8)
    bar = tqdm(total=y.shape[0] * y.shape[1], desc="simulating skip-mode GOPs", leave=False)
    for c in range(n_clips):
        for a, alpha in enumerate(alphas):
            v = latents[c] * wire.gain_y(alpha)[None, :, None, None]
            with torch.no_grad():
                z_sym = np.round(transforms.hyper_analysis(v[:1])[0]).astype(np.int64)
            params = wire.entropy_parameters(z_sym)
            key = np.round(v[0].astype(np.float64) - params.means).astype(np.int64)
            idx[c, a] = params.indexes
            for k, tau in enumerate(taus):
                ref = ReferenceState(
                    0, alpha_to_code(alpha), z_sym, key, params.means, params.indexes, 0
                )
                y[c, a, k, 0] = key
                for t in range(1, n_frames):
                    y_sym, flags, _ = temporal.skip_symbols(
                        v[t], ref, tau, SNAP_TAU, with_skip_context
                    )
                    y[c, a, k, t], skip[c, a, k, t] = y_sym, flags
                    ref = ReferenceState(
                        t, ref.alpha_code, z_sym, y_sym, params.means, params.indexes, 0, flags
                    )
            bar.update(1)
    bar.close()
    if np.abs(y).max() >= 2**15:
        raise ValueError("ŷ symbols exceed int16")
    return SkipGops(y, skip, idx, pixels)


def skip_rate_bits(
    model: SkipContext,
    gaussian: GaussianConditional,
    y_ref: torch.Tensor,
    idx_ref: torch.Tensor,
    coded: torch.Tensor,
    skipped_ref: torch.Tensor,
    y_sym: torch.Tensor,
) -> torch.Tensor:
    """Bits of the coded elements of y_sym, as y_sym − round(μ_P) under N(0, σ_P) of h_k."""
    mu_p, sigma_p = model(y_ref, idx_ref, coded, skipped_ref)
    return (residual_bits(gaussian, mu_p, sigma_p, y_sym) * coded).sum()


def skip_mode_bytes(
    codec: Codec, temporal: TemporalWireModel, frames: list[np.ndarray], alpha: float, tau: float
) -> tuple[int, int]:
    """(ŷ section bytes, P-frame bytes) of ``frames`` coded as one skip-mode GOP."""
    encoder = FrameEncoder(codec.wire, codec.encoder.transforms, temporal)
    y_bytes = total = 0
    reference = None
    for seq, image in enumerate(frames):
        container, reference = encoder.encode_frame(image, alpha, seq, reference, skip_tau=tau)
        if seq:
            base = container.base_nbytes
            y_bytes += base - container.header_nbytes - len(container.z_payload)
            total += base
    return y_bytes, total


def evaluate_skip(
    codec: Codec,
    ht: TemporalContext,
    z_indexes: np.ndarray,
    hk: SkipContext,
    frames: list[np.ndarray],
    tau: float,
) -> dict[float, dict[str, float]]:
    """Per α: exact ŷ and P-frame bytes of the held-out clip in skip mode, with the
    exported integer h_k and with h_t + scale gain."""
    state = export_temporal(copy.deepcopy(ht), z_indexes, codec.wire.fingerprint, {}, hk)
    with_hk = build_temporal_wire(state, codec.wire)
    without = copy.copy(with_hk)
    without.skip_context = None
    out = {}
    for alpha in (0.0, 0.5, 1.0):
        k_y, k_total = skip_mode_bytes(codec, with_hk, frames, alpha, tau)
        t_y, t_total = skip_mode_bytes(codec, without, frames, alpha, tau)
        out[alpha] = {"hk_y": k_y, "ht_y": t_y, "hk_total": k_total, "ht_total": t_total}
    return out


def _eval_line(step: int, tau: float, result: dict[float, dict[str, float]]) -> str:
    return "\n".join(
        f"skip context step {step} α={alpha:.2f} τ={tau}: ŷ {r['hk_y']} B with h_k, "
        f"{r['ht_y']} B with h_t + gain ({100 * (1 - r['hk_y'] / max(r['ht_y'], 1)):.1f} % "
        f"fewer); P-frames {r['hk_total']} vs {r['ht_total']} B"
        for alpha, r in result.items()
    )


def _cached_latents(path: Path, build) -> np.ndarray:
    if path.is_file():
        return load_torch_file(path)["latents"].numpy()
    latents = build()
    if is_main_process():
        save_torch_file({"latents": torch.from_numpy(latents)}, path)
    return latents


def snapping_model(
    codec: Codec,
    cfg: TemporalTrainConfig,
    skip_cfg: SkipContextTrainConfig,
    ht: TemporalContext,
    z_indexes: np.ndarray,
) -> tuple[TemporalWireModel, bool]:
    """The temporal wire model whose prediction the simulated GOPs snap to, and whether that
    is its h_k (``snap_to: hk``: the h_k of ``cfg.ht_from``) rather than its h_t."""
    if skip_cfg.snap_to == "ht":
        state = export_temporal(copy.deepcopy(ht), z_indexes, codec.wire.fingerprint, {})
        return build_temporal_wire(state, codec.wire), False
    assert cfg.ht_from is not None  # TemporalTrainConfig requires it with snap_to: hk
    temporal = build_temporal_wire(read_temporal_file(cfg.ht_from), codec.wire)
    if temporal.skip_context is None:
        raise ConfigError(f"skip.snap_to: hk, but {cfg.ht_from} has no h_k to snap to")
    return temporal, True


def train_skip_context(
    codec: Codec,
    cfg: TemporalTrainConfig,
    skip_cfg: SkipContextTrainConfig,
    run_dir: Path,
    ht: TemporalContext,
    z_indexes: np.ndarray,
    alphas: list[float],
) -> tuple[SkipContext, TrainLoop]:
    """Train h_k for ``codec`` and its (frozen) h_t ``ht`` on simulated GOPs at ``alphas``;
    returns the float model and its loop."""
    seeds = [cfg.seed_base + i for i in range(cfg.clips)]
    latents = _cached_latents(
        run_dir / "temporal_skip_latents.pt",
        lambda: clip_latents(codec, seeds, cfg.frames, cfg.size),
    )
    snap_model, snap_to_hk = snapping_model(codec, cfg, skip_cfg, ht, z_indexes)
    key = {
        "seeds": seeds,
        "frames": cfg.frames,
        "size": list(cfg.size),
        "alphas": alphas,
        "taus": list(skip_cfg.taus),
        "snap": snap_model.model_fingerprint(snap_to_hk).hex(),
    }
    gops_path = run_dir / "temporal_skip_gops.pt"
    gops = SkipGops.load(gops_path, key)
    if gops is None:
        pixels = cfg.size[0] * cfg.size[1]
        gops = simulate_skip_gops(
            codec, snap_model, latents, alphas, skip_cfg.taus, pixels, snap_to_hk
        )
        if is_main_process():
            gops.save(gops_path, key)
    held_out = [image for image, _ in render_video_frames(cfg.eval_frames, cfg.eval_seed, cfg.size)]
    model = SkipContext(codec.model.arch.M, skip_cfg.hidden)
    gaussian = codec_gaussian()
    loop = rate_loop("skip context h_k", model, skip_cfg, run_dir / "temporal_skip_ckpt.pt")
    rng = np.random.default_rng([cfg.seed, 1, loop.step])  # a resumed run draws new batches
    c, a, k, t = gops.skip.shape[:4]
    pairs = np.array(
        [
            (ci, ai, ki, ti)
            for ci in range(c)
            for ai in range(a)
            for ki in range(k)
            for ti in range(1, t)
        ]
    )

    def step(_: int) -> StepResult:
        picks = loop.shard(pairs[rng.integers(0, len(pairs), skip_cfg.batch_size)])
        bits = skip_rate_bits(model, gaussian, *gops.batch(picks))
        return StepResult(bits / (len(picks) * gops.pixels))

    def evaluate_at(at: int) -> str:
        model.eval()
        result = evaluate_skip(codec, ht, z_indexes, model, held_out, skip_cfg.eval_tau)
        model.train()
        return _eval_line(at, skip_cfg.eval_tau, result)

    loop.run(step, evaluate_at)
    return model, loop
