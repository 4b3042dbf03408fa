"""Temporal model training: h_t learns the rate of P-frame symbols, the codec frozen.

    synthetic fixed-camera clips (seeds ≥ 1000) ─► g_a once per frame ─► per α of the grid:
        h_a, integer h_s ─► exact symbols (ẑ, y_sym, μ, idx)     (cached in RUN_DIR)
    pairs (t−1, t) at one α ─► h_t(y_ref, μ_ref − μ_t, idx_t, idx_ref) ─► μ_P, σ_P
        loss = −log2 P(y_sym − round(μ_P) | N(0, σ_P)) / pixels    (the rate term only:
                                                                     ŷ never changes)
    ẑ: one Gaussian-table index per channel for ẑ_t − ẑ_ref, chosen by exact code length.

Evaluation codes the held-out clip's pairs with the exported *integer* h_t and the shipped
tables and reports the exact code length of P-frames vs key frames. Checkpoints are written
atomically and a run resumes from its last one.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from compressai.entropy_models import GaussianConditional

from polc.shared.codec.entropy_coder import CategoricalTables
from polc.shared.codec.integer_hyper import A_FRAC
from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.runtime import Codec
from polc.shared.codec.temporal_weights import (
    build_temporal_context,
    build_temporal_wire,
    export_temporal,
    read_temporal_file,
)
from polc.shared.codec.wire import EntropyParameters
from polc.shared.models.codec.temporal import TemporalContext
from polc.shared.models.weights_file import load_torch_file, save_torch_file, save_weights
from polc.training.distributed import is_main_process
from polc.training.loop import StepResult, TrainLoop
from polc.training.temporal_config import TemporalTrainConfig
from polc.training.temporal_rate import codec_gaussian, rate_loop, residual_bits
from polc.training.temporal_skip import clip_latents, train_skip_context

log = logging.getLogger(__name__)


def alpha_grid(levels: int, steps: int) -> list[float]:
    """The codec's trained levels α = l/(L−1) and ``steps − 1`` points between neighbours."""
    n = (levels - 1) * steps
    return [i / n for i in range(n + 1)]


@dataclass
class ClipSymbols:
    """Exact wire symbols of clips at several α: arrays (clip, α, frame, C, h, w)."""

    alphas: list[float]
    z: np.ndarray  # int32 ẑ
    y: np.ndarray  # int32 y_sym
    mu: np.ndarray  # int32 μ·2^A_FRAC
    idx: np.ndarray  # uint8 intra scale indexes
    pixels: int  # width·height of one frame

    def save(self, path: Path) -> None:
        save_torch_file(
            {k: torch.from_numpy(getattr(self, k)) for k in ("z", "y", "mu", "idx")}
            | {"alphas": self.alphas, "pixels": self.pixels},
            path,
        )

    @classmethod
    def load(cls, path: Path) -> ClipSymbols:
        raw = load_torch_file(path)
        return cls(
            list(raw["alphas"]),
            *(raw[k].numpy() for k in ("z", "y", "mu", "idx")),
            int(raw["pixels"]),
        )

    def reference(self, c: int, a: int, t: int) -> ReferenceState:
        """Frame t of clip c at α index a as a ReferenceState (seq t; no container)."""
        y = self.y[c, a, t].astype(np.int64)
        return ReferenceState(
            t,
            round(self.alphas[a] * 65535),
            self.z[c, a, t].astype(np.int64),
            y,
            self.mu[c, a, t] / 2**A_FRAC,
            self.idx[c, a, t].astype(np.int32),
            0,
        )

    def params(self, c: int, a: int, t: int) -> EntropyParameters:
        return EntropyParameters(self.mu[c, a, t] / 2**A_FRAC, self.idx[c, a, t].astype(np.int32))


@torch.no_grad()
def clip_symbols(
    codec: Codec, seeds: list[int], frames: int, size: tuple[int, int], alphas: list[float]
) -> ClipSymbols:
    """Render the clips, run g_a once per frame (:func:`clip_latents`), then h_a / integer h_s
    per α (exact)."""
    wire, transforms = codec.wire, codec.encoder.transforms
    out: dict[str, list] = {"z": [], "y": [], "mu": [], "idx": []}
    for clip in clip_latents(codec, seeds, frames, size):
        per_alpha: dict[str, list] = {k: [[] for _ in alphas] for k in out}
        for y in clip:
            for a, alpha in enumerate(alphas):
                v = y[None] * wire.gain_y(alpha)[None, :, None, None]
                z_sym = np.round(transforms.hyper_analysis(v)[0]).astype(np.int64)
                params = wire.entropy_parameters(z_sym)
                y_sym = np.round(v[0].astype(np.float64) - params.means).astype(np.int64)
                per_alpha["z"][a].append(z_sym.astype(np.int32))
                per_alpha["y"][a].append(y_sym.astype(np.int32))
                per_alpha["mu"][a].append(np.round(params.means * 2**A_FRAC).astype(np.int32))
                per_alpha["idx"][a].append(params.indexes.astype(np.uint8))
        for k in out:
            out[k].append(np.stack([np.stack(f) for f in per_alpha[k]]))
    return ClipSymbols(
        alphas, *(np.stack(out[k]) for k in ("z", "y", "mu", "idx")), size[0] * size[1]
    )


def code_length_bits(values: np.ndarray, table_ids: np.ndarray, tables: CategoricalTables) -> float:
    """Exact ideal code length (bits) of ``values`` under ``tables[table_ids]``; an escape
    costs its table's escape symbol plus 32 raw bits (what entropy_coder.encode sends)."""
    values, table_ids = (
        values.ravel().astype(np.int64),
        np.broadcast_to(table_ids, values.shape).ravel().astype(np.int64),
    )
    bits = 0.0
    for k in np.unique(table_ids):
        f = tables.freqs[k]
        v = values[table_ids == k] - tables.offsets[k]
        esc = (v < 0) | (v >= len(f) - 1)
        v = np.where(esc, len(f) - 1, v)
        bits += float(-np.log2(f[v] / f.sum()).sum()) + 32.0 * int(esc.sum())
    return bits


def z_scale_indexes(data: ClipSymbols, tables: CategoricalTables) -> np.ndarray:
    """Per ẑ channel, the Gaussian table that codes ẑ_t − ẑ_{t−1} shortest (exactly)."""
    diff = (data.z[:, :, 1:] - data.z[:, :, :-1]).astype(np.int64)
    best = np.zeros(diff.shape[3], np.int64)
    for c in range(diff.shape[3]):
        vals, counts = np.unique(diff[:, :, :, c], return_counts=True)
        costs = []
        for k in range(len(tables)):
            f, off = tables.freqs[k], tables.offsets[k]
            v = vals - off
            esc = (v < 0) | (v >= len(f) - 1)
            lengths = -np.log2(f[np.where(esc, len(f) - 1, v)] / f.sum()) + 32.0 * esc
            costs.append(float((lengths * counts).sum()))
        best[c] = int(np.argmin(costs))
    return best


def rate_bits(
    model: TemporalContext,
    gaussian: GaussianConditional,
    y_ref: torch.Tensor,
    mu_shift: torch.Tensor,
    idx_t: torch.Tensor,
    idx_ref: torch.Tensor,
    y_sym: torch.Tensor,
) -> torch.Tensor:
    """Bits of y_sym coded as y_sym − round(μ_P) under N(0, σ_P) (straight-through round)."""
    mu_p, sigma_p = model(y_ref, mu_shift, idx_t, idx_ref)
    return residual_bits(gaussian, mu_p, sigma_p, y_sym).sum()


def _batch(data: ClipSymbols, picks: np.ndarray) -> list[torch.Tensor]:
    c, a, t = picks.T
    ref = (c, a, t - 1)
    y_ref = torch.from_numpy(data.y[ref].astype(np.float32))
    mu_shift = torch.from_numpy((data.mu[ref] - data.mu[c, a, t]).astype(np.float32) / 256)
    idx_t = torch.from_numpy(data.idx[c, a, t].astype(np.float32))
    idx_ref = torch.from_numpy(data.idx[ref].astype(np.float32))
    return [y_ref, mu_shift, idx_t, idx_ref, torch.from_numpy(data.y[c, a, t].astype(np.float32))]


def evaluate(
    codec: Codec, model: TemporalContext, z_indexes: np.ndarray, data: ClipSymbols
) -> dict[float, dict[str, float]]:
    """Exact code lengths (bpp) of every frame pair of ``data`` with the integer h_t:
    per α, key frames (intra ẑ, ŷ) vs P-frames (ẑ, ŷ)."""
    state = export_temporal(copy.deepcopy(model), z_indexes, codec.wire.fingerprint, {})
    temporal = build_temporal_wire(state, codec.wire)
    wire = codec.wire
    out = {}
    for a, alpha in enumerate(data.alphas):
        sums = np.zeros(4)
        n = 0
        for c in range(data.z.shape[0]):
            for t in range(1, data.z.shape[2]):
                ref, params = data.reference(c, a, t - 1), data.params(c, a, t)
                z, y = data.z[c, a, t], data.y[c, a, t]
                mu_sym, idx_p = temporal.p_parameters(params, ref)
                sums += (
                    code_length_bits(z, wire._channel_ids(z.shape), wire.tables_z),
                    code_length_bits(y, params.indexes, wire.tables_y),
                    code_length_bits(z - ref.z_symbols, z_indexes[:, None, None], wire.tables_y),
                    code_length_bits(y - mu_sym, idx_p, wire.tables_y),
                )
                n += 1
        s = sums / n / data.pixels
        out[alpha] = {
            "intra_z": s[0],
            "intra_y": s[1],
            "p_z": s[2],
            "p_y": s[3],
            "saving": 1 - (s[2] + s[3]) / (s[0] + s[1]),
        }
    return out


def _eval_line(step: int, result: dict[float, dict[str, float]]) -> str:
    return "\n".join(
        f"temporal step {step} α={alpha:.2f}: intra {r['intra_z'] + r['intra_y']:.4f} bpp "
        f"(ẑ {r['intra_z']:.4f}) | P {r['p_z'] + r['p_y']:.4f} bpp (ẑ {r['p_z']:.4f}): "
        f"{100 * r['saving']:.1f} % fewer"
        for alpha, r in result.items()
    )


def _cached(path: Path, build) -> ClipSymbols:
    if path.is_file():
        return ClipSymbols.load(path)
    data = build()
    if is_main_process():  # one writer under torchrun
        data.save(path)
    return data


def train_temporal(
    codec: Codec, cfg: TemporalTrainConfig, run_dir: Path, out: Path | None = None
) -> Path:
    """Train h_t for ``codec`` (frozen), or carry it over from ``cfg.ht_from``, then h_k when
    the config has a ``skip`` section; writes the shipped weights to ``out`` (default
    RUN_DIR/temporal.pt) and returns that path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    seeds = [cfg.seed_base + i for i in range(cfg.clips)]
    meta: dict = {
        "config": cfg.model_dump(mode="json"),
        "train_seeds": seeds,
        "eval_seed": cfg.eval_seed,
    }
    if cfg.ht_from is not None:
        model, z_indexes = carried_context(codec, cfg.ht_from)
        meta["ht_from"] = str(cfg.ht_from)
    else:
        model, z_indexes, loop = _train_context(codec, cfg, run_dir, seeds)
        meta |= {"steps": loop.step, "train_seconds": loop.elapsed()}
    skip_model = None
    if cfg.skip is not None:
        levels = codec.model.arch.levels
        alphas = alpha_grid(levels, cfg.skip.alpha_steps)
        skip_model, skip_loop = train_skip_context(
            codec, cfg, cfg.skip, run_dir, model, z_indexes, alphas
        )
        meta |= {"skip_steps": skip_loop.step, "skip_train_seconds": skip_loop.elapsed()}
    out = out or run_dir / "temporal.pt"
    if is_main_process():
        state = export_temporal(model, z_indexes, codec.wire.fingerprint, meta, skip_model)
        save_weights(out, "temporal", state)
        log.info("temporal weights written to %s", out)
    return out


def carried_context(codec: Codec, path: Path) -> tuple[TemporalContext, np.ndarray]:
    """h_t and its ẑ scale indexes from the temporal weights file ``path``, unchanged
    (ModelError when it belongs to another codec)."""
    state = read_temporal_file(path)
    temporal = build_temporal_wire(state, codec.wire)
    return build_temporal_context(state), temporal.z_indexes


def _train_context(
    codec: Codec, cfg: TemporalTrainConfig, run_dir: Path, seeds: list[int]
) -> tuple[TemporalContext, np.ndarray, TrainLoop]:
    """Train h_t (the rate of lossless P-frames); returns it, its ẑ indexes and the loop."""
    alphas = alpha_grid(codec.model.arch.levels, cfg.alpha_steps)
    train = _cached(
        run_dir / "temporal_train_symbols.pt",
        lambda: clip_symbols(codec, seeds, cfg.frames, cfg.size, alphas),
    )
    held_out = _cached(
        run_dir / "temporal_eval_symbols.pt",
        lambda: clip_symbols(codec, [cfg.eval_seed], cfg.eval_frames, cfg.size, [0.0, 0.5, 1.0]),
    )
    z_indexes = z_scale_indexes(train, codec.wire.tables_y)
    model = TemporalContext(codec.model.arch.M, cfg.hidden)
    gaussian = codec_gaussian()
    loop = rate_loop("temporal h_t", model, cfg, run_dir / "temporal_ckpt.pt")
    rng = np.random.default_rng([cfg.seed, loop.step])  # a resumed run draws new batches
    pairs = np.array(
        [
            (c, a, t)
            for c in range(train.z.shape[0])
            for a in range(len(alphas))
            for t in range(1, train.z.shape[2])
        ]
    )

    def step(_: int) -> StepResult:
        picks = loop.shard(pairs[rng.integers(0, len(pairs), cfg.batch_size)])
        bits = rate_bits(model, gaussian, *_batch(train, picks))
        return StepResult(bits / (len(picks) * train.pixels))

    def evaluate_at(at: int) -> str:
        model.eval()
        line = _eval_line(at, evaluate(codec, model, z_indexes, held_out))
        model.train()
        return line

    loop.run(step, evaluate_at)
    return model, z_indexes, loop
