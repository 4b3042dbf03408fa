"""Temporal model training configuration (pydantic): ``polc train temporal --config FILE``.

Training clips use synthetic video seeds ≥ 1000 (``seed_base``); the video benchmark's
held-out clips use small seeds, so the two never overlap (enforced below). ``ht_from``
carries h_t over from a temporal weights file instead of training it; the optional ``skip``
section trains the skip-mode context model h_k (``training/temporal_skip.py``) on the same
clips, on GOPs that snap to h_t's prediction or (``snap_to: hk``, a further round) to the h_k
of ``ht_from``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from polc.shared.errors import ConfigError
from polc.shared.settings import StrictModel, format_validation_error, read_yaml_mapping

MIN_TRAIN_SEED = 1000  #: benchmark clips use seeds below this


class SkipContextTrainConfig(StrictModel):
    """The ``skip`` section: h_k on simulated skip-mode GOPs of the training clips."""

    hidden: int = Field(64, ge=4, le=512, description="h_k hidden channels")
    taus: tuple[float, ...] = Field(
        (0.7, 1.0, 1.5), min_length=1, description="skip thresholds τ of the simulated GOPs"
    )
    alpha_steps: int = Field(1, ge=1, description="α grid of the simulated GOPs (as above)")
    snap_to: Literal["ht", "hk"] = Field(
        "ht",
        description="the prediction the simulated GOPs snap values to: h_t's (what encoders "
        "without h_k do), or the h_k of ``ht_from`` (what encoders with it do: the next round)",
    )
    eval_tau: float = Field(1.0, ge=0, description="τ of the held-out evaluation")
    steps: int = Field(3000, ge=1)
    batch_size: int = Field(8, ge=1, description="simulated P-frames per step")
    lr: float = Field(1e-3, gt=0)
    lr_final: float = Field(2e-5, gt=0)
    warmup: int = Field(100, ge=0)
    eval_every: int = Field(1000, ge=1)


class TemporalTrainConfig(StrictModel):
    hidden: int = Field(64, ge=4, le=512, description="h_t hidden channels")
    clips: int = Field(6, ge=1, description="training clips (seeds seed_base, +1, ...)")
    frames: int = Field(16, ge=2, description="frames per training clip")
    seed_base: int = Field(1000, ge=MIN_TRAIN_SEED, description="first training clip seed")
    eval_seed: int = Field(1999, ge=MIN_TRAIN_SEED, description="held-out training-seed clip")
    eval_frames: int = Field(8, ge=2)
    size: tuple[int, int] = Field((512, 288), description="clip width, height")
    alpha_steps: int = Field(
        2,
        ge=1,
        description="α grid: the codec's levels with this many "
        "steps between neighbours (2: levels and midpoints)",
    )
    steps: int = Field(1500, ge=1)
    batch_size: int = Field(8, ge=1, description="frame pairs (t−1, t) per step")
    lr: float = Field(1e-3, gt=0, description="peak Adam learning rate (cosine to lr_final)")
    lr_final: float = Field(2e-5, gt=0)
    warmup: int = Field(100, ge=0)
    eval_every: int = Field(500, ge=1)
    seed: int = 0
    ht_from: Path | None = Field(
        None, description="carry h_t (and its ẑ indexes) over from this temporal weights file"
    )
    skip: SkipContextTrainConfig | None = Field(
        None, description="train the skip-mode context model h_k too"
    )

    @model_validator(mode="after")
    def _snap_model_exists(self) -> TemporalTrainConfig:
        if self.skip is not None and self.skip.snap_to == "hk" and self.ht_from is None:
            raise ValueError("skip.snap_to: hk snaps to the h_k of ht_from: set ht_from")
        return self


def load_temporal_config(
    path: str | Path | None, overrides: dict | None = None
) -> TemporalTrainConfig:
    """Defaults, then the YAML file, then ``overrides`` (command-line flags)."""
    raw: dict = read_yaml_mapping(path) if path is not None else {}
    merged = {**raw, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        return TemporalTrainConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path or "temporal config"))) from exc
