"""Learning-rate schedule: linear warm-up, then cosine decay to a final rate."""

from __future__ import annotations

import math


def lr_at(step: int, total: int, lr: float, lr_final: float, warmup: int) -> float:
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * progress))
