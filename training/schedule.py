"""Learning-rate schedule (linear warm-up, then cosine decay to a final rate) and the
common optimiser step of the training loops."""

from __future__ import annotations

import math


def lr_at(step: int, total: int, lr: float, lr_final: float, warmup: int) -> float:
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * progress))


def optimizer_step(opt, loss, bar, clip: tuple[list, float] | None = None,
                   **shown) -> None:
    """zero_grad → backward → (clip) → step, then advance the progress bar showing the loss
    and the other ``shown`` tensors."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(*clip)
    opt.step()
    bar.update(1)
    bar.set_postfix(loss=f"{loss.item():.3f}", **{k: f"{v.item():.3f}" for k, v in shown.items()})
