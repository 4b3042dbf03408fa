"""Learning-rate schedule of the training loops: linear warm-up, then cosine decay to a final
rate."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    """``lr`` reached linearly over ``warmup`` steps, then cosine decay to ``lr_final`` at
    the last step."""

    lr: float
    lr_final: float
    warmup: int

    def at(self, step: int, total: int) -> float:
        if self.warmup and step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, total - self.warmup))
        return self.lr_final + 0.5 * (self.lr - self.lr_final) * (1 + math.cos(math.pi * progress))
