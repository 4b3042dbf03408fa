"""Codec configuration (pydantic): network sizes, rate levels and training schedules."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from polc.shared.errors import ConfigError
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.settings import StrictModel, format_validation_error, read_yaml_mapping


class TeacherConfig(StrictModel):
    widths: tuple[int, int, int, int] = (24, 48, 96, 192)
    steps: int = Field(1500, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0)
    crop: int = Field(128, ge=32)
    train_images: int = Field(20000, ge=100)
    seed: int = 1


class StageConfig(StrictModel):
    steps: int = Field(12000, ge=1)
    batch_size: int = Field(8, ge=1)
    crop: int = Field(128, ge=64)
    lr: float = Field(5e-4, gt=0)
    lr_final: float = Field(5e-5, gt=0)
    warmup_steps: int = Field(200, ge=0)
    eval_every: int = Field(2000, ge=1)
    checkpoint_every: int = Field(500, ge=1)


class LossConfig(StrictModel):
    # Stage I: R + lambda_l * (w_mse * 255^2 * MSE + w_feat * C_feat) + lambda_local * D_local
    lambdas: list[float] = Field(default_factory=lambda: [0.0025, 0.005, 0.01, 0.02, 0.04, 0.08])
    w_mse: float = Field(0.5, ge=0)
    w_feat: float = Field(200.0, ge=0)
    lambda_local: float = Field(1e-5, ge=0)
    # Stage II: R(s) + lambda_m * 255^2 * MSE(x, x_hat_2)
    lambdas_aux: list[float] = Field(
        default_factory=lambda: [0.004, 0.008, 0.016, 0.032, 0.064, 0.128]
    )


class DataConfig(StrictModel):
    source: Literal["synthetic", "folder"] = "synthetic"
    folder: Path | None = None
    synthetic_images: int = Field(3000, ge=10)
    synthetic_seed: int = 11
    eval_images: int = Field(24, ge=1)
    eval_seed: int = 12


class CodecConfig(StrictModel):
    name: str = "tiny"
    arch: ArchitectureConfig = ArchitectureConfig()
    teacher: TeacherConfig = TeacherConfig()
    stage1: StageConfig = StageConfig()
    stage2: StageConfig = StageConfig(steps=4000, lr=5e-4)
    loss: LossConfig = LossConfig()
    data: DataConfig = DataConfig()
    seed: int = 0

    @model_validator(mode="after")
    def _levels_match(self) -> CodecConfig:
        L = self.arch.levels
        if len(self.loss.lambdas) != L:
            raise ValueError(f"loss.lambdas has {len(self.loss.lambdas)} values, arch.levels={L}")
        if len(self.loss.lambdas_aux) != L:
            raise ValueError(
                f"loss.lambdas_aux has {len(self.loss.lambdas_aux)} values, arch.levels={L}"
            )
        if self.data.source == "folder" and self.data.folder is None:
            raise ValueError("data.folder is required when data.source is 'folder'")
        return self


PRESETS: dict[str, CodecConfig] = {
    "tiny": CodecConfig(),
    "paper": CodecConfig(
        name="paper",
        arch=ArchitectureConfig(N=192, M=320, aux_channels=192, levels=6, residual_channels=128),
        teacher=TeacherConfig(widths=(64, 128, 256, 512), steps=20000),
        stage1=StageConfig(steps=400000, batch_size=16, crop=256, lr=1e-4, lr_final=1e-5),
        stage2=StageConfig(steps=200000, batch_size=16, crop=256, lr=1e-4, lr_final=1e-5),
        data=DataConfig(source="folder", folder=Path("data/flickr2w")),
    ),
}


def load_codec_config(path: str | Path | None) -> CodecConfig:
    """Load a YAML config file, or a preset name (``tiny``/``paper``); errors name the field."""
    if path is None:
        return PRESETS["tiny"].model_copy(deep=True)
    if str(path) in PRESETS:
        return PRESETS[str(path)].model_copy(deep=True)
    raw = read_yaml_mapping(path)
    try:
        return CodecConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from exc
