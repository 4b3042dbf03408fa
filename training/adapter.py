"""Adapter training: codec frozen, backbone frozen (by default), stem trained with
task loss + feature distillation from the pixel-domain teacher on the original image.

    x ─(frozen codec, α ~ U[0,1])─► ŷ ─adapter─► f₂, f₃, f₄ ─► logits ── CE(label)
    x ─────────────(frozen teacher)─────────► f₂*, f₃*, f₄*        ── Σ ‖f − f*‖² / ‖f*‖²
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from polc.shared.models.adapters.adapter_file import AdapterFile, save_adapter_file
from polc.shared.models.adapters.classification import LatentClassifier
from polc.shared.models.codec.model import RDCCodec
from polc.training.adapter_config import AdapterTrainConfig
from polc.training.checkpoint import restore_training_state, save_training_state
from polc.training.schedule import lr_at, optimizer_step

log = logging.getLogger(__name__)


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
        out.append(model.g_a(images[i:i + batch].float() / 255.0))
    return torch.cat(out)


def distillation(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    terms = [F.mse_loss(s, t) / t.pow(2).mean().clamp_min(1e-6)
             for s, t in zip(student, teacher, strict=True)]
    return sum(terms) / len(terms)


@torch.no_grad()
def accuracy(adapter: LatentClassifier, model: RDCCodec, y: torch.Tensor,
             labels: torch.Tensor, alpha: float) -> float:
    adapter.eval()
    correct = 0
    for i in range(0, len(y), 250):
        a = torch.full((len(y[i:i + 250]),), alpha)
        correct += (adapter(latents_at(model, y[i:i + 250], a)).argmax(1)
                    == labels[i:i + 250]).sum().item()
    adapter.train()
    return correct / len(y)


def train_cls_adapter(codec_model: RDCCodec, teacher, train_x: torch.Tensor,
                      train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                      run_dir: Path, config: AdapterTrainConfig | None = None
                      ) -> LatentClassifier:
    cfg = config or AdapterTrainConfig(task="cls")
    steps, batch_size, lr, w_distill, seed = (cfg.steps, cfg.batch_size, cfg.lr,
                                              cfg.w_distill, cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    codec_model.eval()
    teacher.eval()
    torch.manual_seed(seed)
    adapter = LatentClassifier(teacher, codec_model.arch.M, **cfg.adapter_kwargs())
    ckpt = run_dir / "adapter_cls_ckpt.pt"
    opt, step = start_adapter_training(adapter, cfg, ckpt)
    y_train = analyse_all(codec_model, train_x)
    y_test = analyse_all(codec_model, test_x)
    gen = torch.Generator().manual_seed(seed + step)
    adapter.train()
    bar = tqdm(total=steps, initial=step, desc="cls adapter", unit="step")
    t0 = time.time()
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, lr * 0.02, 50)
        idx = torch.randint(0, len(train_x), (batch_size,), generator=gen)
        alpha = torch.rand(batch_size, generator=gen)
        y_hat = latents_at(codec_model, y_train[idx], alpha)
        with torch.no_grad():
            target = teacher.features(train_x[idx].float() / 255.0)[1:]
        feats = adapter.features(y_hat)
        logits = adapter.head(feats[-1])
        loss = F.cross_entropy(logits, train_y[idx]) + w_distill * distillation(feats[1:],
                                                                                target)
        optimizer_step(opt, loss, bar)
        step += 1
        if step % 250 == 0 or step == steps:
            save_training_state(ckpt, adapter, step, optimizer=opt)
        if step % cfg.eval_every == 0 or step == steps:
            accs = {a: accuracy(adapter, codec_model, y_test, test_y, a) for a in (0.0, 1.0)}
            tqdm.write(f"adapter step {step}: held-out top-1 alpha=0 {accs[0.0]:.3f} "
                       f"alpha=1 {accs[1.0]:.3f}")
    bar.close()
    log.info("adapter trained in %.0f s", time.time() - t0)
    return adapter.eval()


def init_from_adapter_file(adapter: torch.nn.Module, path: Path) -> None:
    """Copy the stem and any stored modules of an adapter file into ``adapter`` (warm
    start: e.g. unfreeze head layers on top of a trained stem). The configured stem may be
    larger than the file's in two function-preserving ways: a larger rank
    (:func:`_widen_rank`) and more blocks after the shuffle (:func:`_deepen_blocks`)."""
    stored = AdapterFile.read(path)
    have, want = stored.architecture, adapter.stem.architecture
    grown = {**have, "rank": want["rank"], "blocks": want["blocks"]}
    if grown != want or have["rank"] > want["rank"] or have["blocks"] > want["blocks"]:
        raise ValueError(f"{path}: stem {have} does not match the configured stem {want} "
                         "(only a larger rank or more blocks can be grown from a file)")
    stem = None
    if grown != have:
        fresh = adapter.stem.state_dict()
        stem = _widen_rank(fresh, stored.stem, have["rank"])
        stem = _deepen_blocks(fresh, stem, have["blocks"])
    stored.load_into(adapter, stem)
    if stored.first_stage != adapter.first_stage:  # not function-preserving: a head start
        log.info("the file's stem fed %s, this one feeds %s: its output is re-learnt",
                 stored.first_stage, adapter.first_stage)
    log.info("adapter initialised from %s", path)


def start_adapter_training(adapter: torch.nn.Module, cfg: AdapterTrainConfig, ckpt: Path
                           ) -> tuple[torch.optim.Optimizer, int]:
    """AdamW over the adapter's trainable parameters; resumes from ``ckpt`` if there is
    one, else warm-starts from ``cfg.init`` if set. Returns (optimizer, step)."""
    params = [p for p in adapter.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
    step = restore_training_state(ckpt, adapter, optimizer=opt)
    if step:
        log.info("resuming the %s adapter from step %d", cfg.task, step)
    elif cfg.init is not None:
        init_from_adapter_file(adapter, cfg.init)
    return opt, step


def _widen_rank(fresh: dict[str, torch.Tensor], trained: dict[str, torch.Tensor],
                rank: int) -> dict[str, torch.Tensor]:
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


def _deepen_blocks(fresh: dict[str, torch.Tensor], trained: dict[str, torch.Tensor],
                   blocks: int) -> dict[str, torch.Tensor]:
    """A stem with more ConvNeXt blocks after the shuffle that computes what the trained one
    does: blocks ``blocks``, ``blocks + 1``, ... keep their random init but start with a zero
    residual scale (``gamma``), so each is the identity until it trains."""
    out = dict(trained)
    for name, value in fresh.items():
        if name.startswith("blocks.") and int(name.split(".")[1]) >= blocks:
            out[name] = torch.zeros_like(value) if name.endswith(".gamma") else value
    return out


def save_cls_adapter(adapter: LatentClassifier, classes: list[str], fingerprint: str,
                     path: Path) -> None:
    save_adapter_file(path, "adapter_cls", adapter, classes, fingerprint)
