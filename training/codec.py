"""Codec training: stage I (primary branch, variable rate) and stage II (enhancement layer).

Stage I:  L = R(v̂) + R(ẑ) + λ_l·(w_mse·255²·MSE(x, x̂₁) + w_feat·C(x, x̂₁)) + λ_local·D_local
          with C the teacher feature-matching (cognition) term, the level l sampled per sample.
Stage II: primary frozen;  L = R(ŝ) + λ_m,l·255²·MSE(x, x̂₂).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from polc.shared.codec.config import CodecConfig, StageConfig
from polc.shared.codec.weights import build_model, read_codec_file
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.teacher_file import load_teacher
from polc.shared.models.weights_file import save_torch_file
from polc.training.checkpoint import restore_training_state
from polc.training.codec_data import CodecData
from polc.training.codec_init import transfer_weights
from polc.training.distributed import is_main_process
from polc.training.loop import AuxiliaryLoss, Evaluation, StepResult, TrainLoop
from polc.training.schedule import WarmupCosine

log = logging.getLogger(__name__)


def bits(likelihoods: dict[str, torch.Tensor], keys: tuple[str, ...]) -> torch.Tensor:
    """Total bits per sample (B,) of the named likelihood tensors."""
    return sum(torch.log2(likelihoods[k]).flatten(1).sum(1) for k in keys) * -1.0


def feature_loss(teacher: SmallResNet, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample cognition term: relative feature error of layer1..layer3 of the teacher."""
    with torch.no_grad():
        ref = teacher.features(x)[:3]
    out = teacher.features(x_hat)[:3]
    terms = [
        ((o - r) ** 2).flatten(1).mean(1) / (r**2).flatten(1).mean(1).clamp_min(1e-6)
        for o, r in zip(out, ref, strict=True)
    ]
    return sum(terms) / len(terms)


def range_penalty(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """D_local: squared error on the pixels of x̂ outside [0, 1] (keeps x̂₁ in range)."""
    outside = ((x_hat < 0) | (x_hat > 1)).float()
    return ((x_hat - x) ** 2 * outside).flatten(1).mean(1)


def restore_constant_buffers(model: RDCCodec) -> None:
    """Reset the non-learned buffers (lower bounds, GDN pedestals) to their defaults.

    Weights shipped by an earlier version held them in fp16, where the 1e-9 likelihood
    bound is 0: continuing training from such a file (or from a checkpoint of such a run)
    must not inherit a zero bound.
    """
    fresh = dict(RDCCodec(model.arch).named_buffers())
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith(("bound", "pedestal")):
                buf.copy_(fresh[name])


@torch.no_grad()
def evaluate(model: RDCCodec, images: torch.Tensor, stage: int, device: str) -> list[dict]:
    """bpp and PSNR per trained level on full eval images (estimated rate, hard rounding)."""
    model.eval()
    rows = []
    x = images.float().div(255.0).to(device)
    h, w = x.shape[-2:]
    ph, pw = (-h) % 64, (-w) % 64
    xp = F.pad(x, (0, pw, 0, ph), mode="replicate")
    for level in range(model.arch.levels):
        lv = torch.full((x.shape[0],), level, dtype=torch.long, device=device)
        out = model(xp, lv, stage=stage, noisy=False)
        bpp_base = (bits(out["likelihoods"], ("y", "z")).sum() / (x.shape[0] * h * w)).item()
        x1 = out["x1"][..., :h, :w].clamp(0, 1)
        row = {"level": level, "bpp_base": bpp_base, "psnr_x1": psnr(x, x1)}
        if stage == 2:
            x2 = (out["x1"] + out["r"])[..., :h, :w].clamp(0, 1)
            row["bpp_enh"] = (bits(out["likelihoods"], ("s",)).sum() / (x.shape[0] * h * w)).item()
            row["psnr_x2"] = psnr(x, x2)
        rows.append(row)
    model.train()
    return rows


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = F.mse_loss(x, y, reduction="none").flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean().item()


def stage_loss(
    model: RDCCodec,
    stage: int,
    cfg: CodecConfig,
    teacher: SmallResNet | None,
    x: torch.Tensor,
    level: torch.Tensor,
    lam: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, bpp, mse) of a batch at per-sample levels (see the module docstring); bpp and
    mse per sample."""
    out = model(x, level, stage=stage, noisy=True)
    num_px = x.shape[-1] * x.shape[-2]
    if stage == 1:
        bpp = bits(out["likelihoods"], ("y", "z")) / num_px
        mse = F.mse_loss(out["x1"], x, reduction="none").flatten(1).mean(1)
        feat = feature_loss(teacher, x, out["x1"]) if teacher is not None else 0 * mse
        dist = cfg.loss.w_mse * 255**2 * mse + cfg.loss.w_feat * feat
        loss = (
            bpp + lam * dist + cfg.loss.lambda_local * 255**2 * range_penalty(out["x1"], x)
        ).mean()
    else:
        bpp = bits(out["likelihoods"], ("s",)) / num_px
        mse = F.mse_loss(out["x1"] + out["r"], x, reduction="none").flatten(1).mean(1)
        loss = (bpp + lam * 255**2 * mse).mean()
    return loss, bpp, mse


def eval_line(stage: int, step: int, rows: list[dict]) -> str:
    """The evaluation line printed under the progress bar: bpp and PSNR per level."""
    return f"stage {stage} step {step}: " + "  ".join(
        f"L{r['level']}: {r['bpp_base']:.3f}bpp {r['psnr_x1']:.2f}dB"
        + (f" +{r['bpp_enh']:.3f} {r['psnr_x2']:.2f}dB" if stage == 2 else "")
        for r in rows
    )


def _train_stage(
    model: RDCCodec,
    stage: int,
    sc: StageConfig,
    cfg: CodecConfig,
    teacher: SmallResNet | None,
    data: CodecData,
    run_dir: Path,
    device: str,
) -> None:
    ckpt_path = run_dir / f"stage{stage}_ckpt.pt"
    params = model.primary_parameters() if stage == 1 else model.enhancement_parameters()
    opt = torch.optim.Adam(params, lr=sc.lr)
    aux_opt = torch.optim.Adam(model.quantile_parameters(), lr=1e-3)
    loop = TrainLoop(
        f"codec stage {stage}",
        model,
        opt,
        steps=sc.steps,
        schedule=WarmupCosine(sc.lr, sc.lr_final, sc.warmup_steps),
        checkpoint=ckpt_path,
        eval_every=sc.eval_every,
        checkpoint_every=sc.checkpoint_every,
        clip_norm=1.0,
        auxiliary=AuxiliaryLoss(aux_opt, model.aux_loss),
        postfix_every=10,
        amp=False,  # fp16 rounds the 1e-9 likelihood bound to 0
    )
    restore_constant_buffers(model)
    if loop.done:
        return
    lambdas = torch.tensor(cfg.loss.lambdas if stage == 1 else cfg.loss.lambdas_aux, device=device)
    batches = data.batches(sc.crop, sc.batch_size, cfg.seed * 1000 + stage + loop.step, loop.step)
    gen = torch.Generator().manual_seed(cfg.seed * 31 + stage + loop.step)
    history_path = run_dir / f"stage{stage}_eval.jsonl"
    bad_steps = 0

    def step(at: int) -> StepResult | None:
        nonlocal bad_steps
        x = loop.shard(batches.next()).to(device)
        levels = torch.randint(0, model.arch.levels, (sc.batch_size,), generator=gen)
        level = loop.shard(levels).to(device)
        loss, bpp, mse = stage_loss(model, stage, cfg, teacher, x, level, lambdas[level])
        if not torch.isfinite(loss):
            bad_steps += 1
            if bad_steps >= 20:
                raise FloatingPointError(
                    f"stage {stage}: loss not finite for 20 steps in a row at step {at}; "
                    f"restart from {ckpt_path} with a lower learning rate"
                )
            return None  # skip this batch; the next one draws other crops and levels
        bad_steps = 0
        return StepResult(
            loss,
            {
                "bpp": bpp.mean(),
                "psnr": f"{-10 * math.log10(max(mse.mean().item(), 1e-10)):.2f}",
                "lr": f"{opt.param_groups[0]['lr']:.1e}",
            },
        )

    def held_out(at: int) -> Evaluation:
        sets = {name: evaluate(model, x, stage, device) for name, x in data.eval_sets.items()}
        record: dict = {"step": at, "rows": next(iter(sets.values()))}
        if len(sets) > 1:
            record["sets"] = sets
        with open(history_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if len(sets) == 1:
            line = eval_line(stage, at, record["rows"])
        else:
            line = "\n".join(f"[{n}] {eval_line(stage, at, rows)}" for n, rows in sets.items())
        prefix = {name: "" if len(sets) == 1 else f"{name}_" for name in sets}
        metrics = {
            f"{prefix[name]}L{r['level']}_{k}": v
            for name, rows in sets.items()
            for r in rows
            for k, v in r.items()
            if k != "level"
        }
        return Evaluation(line, metrics)

    loop.run(step, held_out)


def train_codec(
    cfg: CodecConfig,
    run_dir: Path,
    teacher_path: Path | None,
    device: str = "cpu",
    stages: tuple[int, ...] = (1, 2),
    init_from: Path | None = None,
) -> Path:
    """Train (or resume) the codec; returns the path of the final float checkpoint.

    ``init_from``: start from shipped weights (e.g. a previous session's codec.pt) when the
    run has no checkpoint yet — how training continues across machines and sessions. A codec
    of another architecture gives what fits of its weights (:mod:`polc.training.codec_init`).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    )
    torch.manual_seed(cfg.seed)
    model = RDCCodec(cfg.arch).to(device)
    stage1_ckpt, stage2_ckpt = run_dir / "stage1_ckpt.pt", run_dir / "stage2_ckpt.pt"
    if init_from is not None and not stage1_ckpt.is_file():
        shipped, _ = build_model(read_codec_file(init_from))
        if shipped.arch == cfg.arch:
            model.load_state_dict(shipped.state_dict())
            restore_constant_buffers(model)
            log.info("initialised from %s", init_from)
        else:
            report = transfer_weights(model, shipped)
            log.info("initialised from %s (%s): %s", init_from, shipped.arch, report.summary())
    data = CodecData(cfg)
    teacher = None
    if cfg.loss.w_feat > 0:
        if teacher_path is None or not teacher_path.is_file():
            raise FileNotFoundError(f"teacher weights not found: {teacher_path}")
        teacher = load_teacher(teacher_path, device)
        for p in teacher.parameters():
            p.requires_grad_(False)
    t0 = time.time()
    if 1 in stages:
        _train_stage(model, 1, cfg.stage1, cfg, teacher, data, run_dir, device)
    if 2 in stages:
        if 1 not in stages and stage1_ckpt.is_file() and not stage2_ckpt.is_file():
            restore_training_state(stage1_ckpt, model)  # stage I ran in an earlier process
        _train_stage(model, 2, cfg.stage2, cfg, None, data, run_dir, device)
    final = run_dir / "codec_float.pt"
    if not is_main_process():  # rank 0 writes the outputs
        return final
    save_torch_file(
        {
            "model": model.cpu().state_dict(),
            "config": cfg.model_dump(mode="json"),
            "train_seconds": time.time() - t0,
        },
        final,
    )
    return final
