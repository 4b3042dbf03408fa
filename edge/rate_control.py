"""Rate control: α per frame, fixed or chosen to meet a target bitrate.

The target-bitrate controller has two parts:

* a **rate model** ln R(α) on a grid of α values, learned online from the actual sizes of
  the encoded frames. Each frame's prediction error e = ln bits − ln R̂(α) moves the whole
  curve by a fraction of e (scene complexity changes every α alike) and the grid points
  next to α by more (the shape of the curve); the curve is kept increasing in α so it can
  be inverted;
* a **leaky bucket** with a PI law: the bucket holds the bits sent beyond the target so
  far (integral term, with anti-windup); the next frame's budget is the per-frame target
  minus the bucket paid back over ``horizon_seconds`` minus a proportional share of the
  last frame's overshoot. α is the largest value whose predicted rate fits the budget.

Over a clip the integral term makes the average rate converge on the target; the model
makes each step land close to the budget so the bucket stays small.
"""

from __future__ import annotations

import math

import numpy as np

from polc.edge.config import RateSettings


class RateController:
    """Chooses α for the next frame; told the size of every encoded frame."""

    scene_gain = 0.3  # share of a prediction error applied to every α (scene change)
    shape_gain = 0.8  # extra share applied around the α that was used (curve shape)
    p_gain = 0.1  # proportional response to the last frame's error

    def __init__(
        self,
        settings: RateSettings,
        fps: float,
        grid: int = 21,
        prior_log_span: float = math.log(16.0),
    ):
        self.settings = settings
        self.fps = fps
        self.alpha_min, self.alpha_max = settings.alpha_min, settings.alpha_max
        self.grid = np.linspace(self.alpha_min, self.alpha_max, grid)
        self.prior_slope = prior_log_span  # ln(rate ratio) across α ∈ [0, 1] before learning
        self.model: np.ndarray | None = None  # ln bits per frame at each grid α
        self.bucket = 0.0  # bits sent beyond the target so far
        self.last_error = 0.0
        self.frames = 0
        self.total_bits = 0.0
        self.alpha = settings.alpha

    @property
    def fixed(self) -> bool:
        return self.settings.mode == "fixed"

    @property
    def target_bits_per_frame(self) -> float:
        return (self.settings.target_kbps or 0.0) * 1000.0 / self.fps

    @property
    def achieved_kbps(self) -> float:
        return self.total_bits * self.fps / max(self.frames, 1) / 1000.0

    def predict(self, alpha: float) -> float:
        """Predicted ln bits of a frame at α (model must exist)."""
        assert self.model is not None
        return float(np.interp(alpha, self.grid, self.model))

    def next_alpha(self) -> float:
        """α for the next frame."""
        if self.fixed or self.model is None:
            return self.alpha
        target = self.target_bits_per_frame
        horizon = max(self.settings.horizon_seconds * self.fps, 1.0)
        budget = target - self.bucket / horizon - self.p_gain * self.last_error
        budget = min(max(budget, 0.1 * target), 10.0 * target)
        self.alpha = self._invert(math.log(budget))
        return self.alpha

    def _invert(self, log_bits: float) -> float:
        m = self.model
        assert m is not None
        if log_bits <= m[0]:
            return float(self.grid[0])
        if log_bits >= m[-1]:
            return float(self.grid[-1])
        k = int(np.searchsorted(m, log_bits, side="right")) - 1
        k = min(max(k, 0), len(m) - 2)
        span = m[k + 1] - m[k]
        t = 0.0 if span <= 0 else (log_bits - m[k]) / span
        return float(self.grid[k] + t * (self.grid[k + 1] - self.grid[k]))

    def update(self, alpha: float, nbytes: int) -> None:
        """Learn from one encoded frame of ``nbytes`` at ``alpha``."""
        bits = max(8.0 * nbytes, 8.0)
        self.frames += 1
        self.total_bits += bits
        if self.fixed:
            return
        lb = math.log(bits)
        if self.model is None:
            self.model = lb + self.prior_slope * (self.grid - alpha)
        else:
            e = lb - self.predict(alpha)
            self.model += self.scene_gain * e  # scene: every α alike
            # shape: the grid points around α absorb what remains
            spacing = self.grid[1] - self.grid[0] if len(self.grid) > 1 else 1.0
            w = np.clip(1.0 - np.abs(self.grid - alpha) / (2 * spacing), 0.0, 1.0)
            self.model += self.shape_gain * w * (1.0 - self.scene_gain) * e
            self._monotone()
        target = self.target_bits_per_frame
        self.last_error = bits - target
        self.bucket += bits - target
        limit = target * self.fps * self.settings.horizon_seconds * 2
        self.bucket = min(max(self.bucket, -limit), limit)

    def _monotone(self) -> None:
        """Keep ln R increasing in α (a minimum slope keeps the inverse well defined)."""
        m = self.model
        assert m is not None
        step = 1e-3
        for i in range(1, len(m)):
            if m[i] < m[i - 1] + step:
                m[i] = m[i - 1] + step
