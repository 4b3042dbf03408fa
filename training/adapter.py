"""Adapter training: codec frozen, backbone frozen (by default), stem trained with
task loss + feature distillation from the pixel-domain teacher on the original image.

    x ─(frozen codec, α ~ U[0,1])─► ŷ ─adapter─► f₂, f₃, f₄ ─► logits ── CE(label)
    x ─────────────(frozen teacher)─────────► f₂*, f₃*, f₄*        ── Σ ‖f − f*‖² / ‖f*‖²
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
import torch.nn.functional as F
from tqdm import tqdm

from polc.shared.models.adapters.adapter_file import AdapterFile, save_adapter_file
from polc.shared.models.adapters.classification import LatentClassifier
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.vision.backbone import SmallResNet
from polc.training.adapter_config import AdapterTrainConfig
from polc.training.loop import Evaluation, StepResult, TrainLoop
from polc.training.schedule import WarmupCosine

log = logging.getLogger(__name__)

AdapterT = TypeVar("AdapterT", bound=torch.nn.Module)


@torch.no_grad()
def latents_at(model: RDCCodec, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """ŷ of precomputed y at per-sample α (hard quantisation, as on the wire)."""
    g = model.gain_y.interpolate(alpha)[:, :, None, None]
    v = y * g
    z_hat = torch.round(model.h_a(v))
    mu, _ = model.h_s(z_hat)
    return (torch.round(v - mu) + mu) / g


@torch.no_grad()
def analyse_all(model: RDCCodec, images: torch.Tensor, batch: int = 100) -> torch.Tensor:
    """y = g_a(x) for a uint8 image tensor (α-independent, so computed once)."""
    out = []
    for i in tqdm(range(0, len(images), batch), desc="g_a over training crops", leave=False):
        out.append(model.g_a(images[i : i + batch].float() / 255.0))
    return torch.cat(out)


def distillation(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    terms = [
        F.mse_loss(s, t) / t.pow(2).mean().clamp_min(1e-6)
        for s, t in zip(student, teacher, strict=True)
    ]
    return sum(terms) / len(terms)


@torch.no_grad()
def accuracy(
    adapter: LatentClassifier, model: RDCCodec, y: torch.Tensor, labels: torch.Tensor, alpha: float
) -> float:
    adapter.eval()
    correct = 0
    for i in range(0, len(y), 250):
        a = torch.full((len(y[i : i + 250]),), alpha)
        correct += (
            (adapter(latents_at(model, y[i : i + 250], a)).argmax(1) == labels[i : i + 250])
            .sum()
            .item()
        )
    adapter.train()
    return correct / len(y)


def train_cls_adapter(
    codec_model: RDCCodec,
    teacher: SmallResNet,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    run_dir: Path,
    config: AdapterTrainConfig | None = None,
    adapter_type: Callable[..., AdapterT] = LatentClassifier,
) -> AdapterT:
    """``adapter_type(teacher, latent_channels, **cfg.adapter_kwargs())``: the adapter
    (default :class:`LatentClassifier`; a torchvision one through
    ``training/torchvision_adapter.py``)."""
    cfg = config or AdapterTrainConfig(task="cls")
    adapter, loop = start_adapter_training(adapter_type, teacher, codec_model, cfg, run_dir)
    y_train = analyse_all(codec_model, train_x)
    y_test = analyse_all(codec_model, test_x)
    gen = torch.Generator().manual_seed(cfg.seed + loop.step)

    def step(_: int) -> StepResult:
        idx = loop.shard(torch.randint(0, len(train_x), (cfg.batch_size,), generator=gen))
        alpha = loop.shard(torch.rand(cfg.batch_size, generator=gen))
        y_hat = latents_at(codec_model, y_train[idx], alpha)
        with torch.no_grad():
            target = teacher.features(train_x[idx].float() / 255.0)[1:]
        feats = adapter.features(y_hat)
        logits = adapter.head(feats[-1])
        return StepResult(
            F.cross_entropy(logits, train_y[idx]) + cfg.w_distill * distillation(feats[1:], target)
        )

    def held_out(at: int) -> Evaluation:
        accs = {a: accuracy(adapter, codec_model, y_test, test_y, a) for a in (0.0, 1.0)}
        return Evaluation(
            f"adapter step {at}: held-out top-1 alpha=0 {accs[0.0]:.3f} alpha=1 {accs[1.0]:.3f}",
            {"top1_alpha0": accs[0.0], "top1_alpha1": accs[1.0]},
        )

    loop.run(step, held_out)
    log.info("adapter trained in %.0f s", loop.elapsed())
    return adapter.eval()


def init_from_adapter_file(adapter: torch.nn.Module, path: Path) -> None:
    """Copy the stem and any stored modules of an adapter file into ``adapter`` (warm
    start: e.g. unfreeze head layers on top of a trained stem). The configured stem may be
    larger than the file's in three function-preserving ways: more latent channels (a wider
    codec started from the file's codec, :func:`_widen_latent`), a larger rank
    (:func:`_widen_rank`) and more blocks after the shuffle (:func:`_deepen_blocks`)."""
    stored = AdapterFile.read(path)
    have, want = stored.architecture, adapter.stem.architecture
    growable = ("latent_channels", "rank", "blocks")
    grown = {**have, **{k: want[k] for k in growable}}
    if grown != want or any(have[k] > want[k] for k in growable):
        raise ValueError(
            f"{path}: stem {have} does not match the configured stem {want} "
            "(only more latent channels, a larger rank or more blocks can be grown from a file)"
        )
    stem = None
    if grown != have:
        fresh = adapter.stem.state_dict()
        stem = _widen_latent(fresh, stored.stem, have["latent_channels"])
        stem = _widen_rank(fresh, stem, have["rank"])
        stem = _deepen_blocks(fresh, stem, have["blocks"])
    stored.load_into(adapter, stem)
    if stored.first_stage != adapter.first_stage:  # not function-preserving: a head start
        log.info(
            "the file's stem fed %s, this one feeds %s: its output is re-learnt",
            stored.first_stage,
            adapter.first_stage,
        )
    log.info("adapter initialised from %s", path)


def start_adapter_training(
    adapter_type: Callable[..., AdapterT],
    pixel_model: torch.nn.Module,
    codec_model: RDCCodec,
    cfg: AdapterTrainConfig,
    run_dir: Path,
) -> tuple[AdapterT, TrainLoop]:
    """The ``cfg.task`` adapter on the frozen ``pixel_model`` and codec, and its training
    loop: AdamW over its trainable parameters, cosine to 2 % of ``cfg.lr``; resumes from
    ``RUN_DIR/adapter_<task>_ckpt.pt`` if there is one, else warm-starts from ``cfg.init``
    if set."""
    run_dir.mkdir(parents=True, exist_ok=True)
    codec_model.eval()
    pixel_model.eval()
    torch.manual_seed(cfg.seed)
    adapter = adapter_type(pixel_model, codec_model.arch.M, **cfg.adapter_kwargs())
    params = [p for p in adapter.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
    loop = TrainLoop(
        f"{cfg.task} adapter",
        adapter,
        opt,
        steps=cfg.steps,
        schedule=WarmupCosine(cfg.lr, cfg.lr * 0.02, 50),
        checkpoint=run_dir / f"adapter_{cfg.task}_ckpt.pt",
        eval_every=cfg.eval_every,
    )
    if not loop.step and cfg.init is not None:
        init_from_adapter_file(adapter, cfg.init)
    return adapter, loop


def _widen_latent(
    fresh: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], channels: int
) -> dict[str, torch.Tensor]:
    """A stem that reads more latent channels and computes what the trained one does on the
    first ``channels``: the new input columns of ``reduce`` are zero (a codec widened with
    ``polc train codec --init`` keeps the narrower codec's channels first)."""
    out = dict(trained)
    if fresh["reduce.weight"].shape[1] == channels:
        return out
    rows = trained["reduce.weight"].shape[0]
    grown = torch.zeros(
        (rows, *fresh["reduce.weight"].shape[1:]), dtype=trained["reduce.weight"].dtype
    )
    grown[:, :channels] = trained["reduce.weight"]
    out["reduce.weight"] = grown
    return out


def _widen_rank(
    fresh: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], rank: int
) -> dict[str, torch.Tensor]:
    """A stem of a larger rank that computes exactly what the trained one does: its first
    ``rank`` reduce rows are the trained ones, the new rows keep their random init and feed
    expand columns set to zero (function-preserving widening, as in Net2Net)."""
    out = dict(trained)
    if fresh["reduce.weight"].shape[0] == rank:
        return out
    for name in ("reduce.weight", "reduce.bias"):
        grown = fresh[name].clone()
        grown[:rank] = trained[name]
        out[name] = grown
    grown = torch.zeros_like(fresh["expand.weight"])
    grown[:, :rank] = trained["expand.weight"]
    out["expand.weight"] = grown
    return out


def _deepen_blocks(
    fresh: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], blocks: int
) -> dict[str, torch.Tensor]:
    """A stem with more ConvNeXt blocks after the shuffle that computes what the trained one
    does: blocks ``blocks``, ``blocks + 1``, ... keep their random init but start with a zero
    residual scale (``gamma``), so each is the identity until it trains."""
    out = dict(trained)
    for name, value in fresh.items():
        if name.startswith("blocks.") and int(name.split(".")[1]) >= blocks:
            out[name] = torch.zeros_like(value) if name.endswith(".gamma") else value
    return out


def save_cls_adapter(
    adapter: LatentClassifier, classes: list[str], fingerprint: str, path: Path
) -> None:
    save_adapter_file(path, LatentClassifier.WEIGHTS_KIND, adapter, classes, fingerprint)
