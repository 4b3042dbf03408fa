"""Codec configuration (pydantic): network sizes, rate levels and training schedules."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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


class DataMix(StrictModel):
    """Share of each training source in every batch (each crop draws its source with these
    probabilities); the shares must sum to 1."""

    synthetic: float = Field(0.0, ge=0, le=1, description="the synthetic traffic world")
    dead_leaves: float = Field(0.0, ge=0, le=1, description="procedural dead-leaves images")
    spectral: float = Field(0.0, ge=0, le=1, description="procedural colour 1/f noise")
    folder: float = Field(0.0, ge=0, le=1, description="random crops of data.folder")

    @model_validator(mode="after")
    def _sums_to_one(self) -> DataMix:
        total = self.synthetic + self.dead_leaves + self.spectral + self.folder
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"the shares sum to {total:g}; they must sum to 1")
        return self

    def shares(self) -> dict[str, float]:
        """The sources with a non-zero share, in a fixed order."""
        names = ("synthetic", "dead_leaves", "spectral", "folder")
        return {n: getattr(self, n) for n in names if getattr(self, n) > 0}


class ProceduralConfig(StrictModel):
    """The in-memory pools of procedural (and folder) images that training crops from."""

    pool: int = Field(768, ge=8, description="images held per source")
    size: int = Field(256, ge=64, description="side of the square pool images")
    refresh_every: int = Field(2, ge=1, description="steps between two new images per source")
    seed: int = Field(0, ge=0, le=255, description="training seeds (held-out ones are apart)")
    eval_images: int = Field(16, ge=1, description="held-out images per procedural family")


class DataConfig(StrictModel):
    source: Literal["synthetic", "folder"] = "synthetic"
    folder: Path | None = None
    synthetic_images: int = Field(3000, ge=10)
    synthetic_seed: int = 11
    eval_images: int = Field(24, ge=1)
    eval_seed: int = 12
    # None: every crop from `source` (v1/v2); otherwise the mix of sources (v3)
    mix: DataMix | None = None
    procedural: ProceduralConfig = ProceduralConfig()


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
        if self.data.mix is not None and self.data.mix.folder > 0 and self.data.folder is None:
            raise ValueError("data.folder (or --data DIR) is required when data.mix.folder > 0")
        if self.data.mix is not None:
            for name in ("stage1", "stage2"):
                crop = getattr(self, name).crop
                if crop > self.data.procedural.size:
                    raise ValueError(
                        f"{name}.crop {crop} exceeds data.procedural.size "
                        f"{self.data.procedural.size}"
                    )
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


def with_data_folder(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``--data DIR`` applied to a raw config mapping: random crops of DIR's images join the
    training data — all of it when the config has no ``data.mix``, its ``data.mix.folder``
    share otherwise (a mix without one is an error)."""
    data = dict(raw.get("data") or {})
    data["folder"] = str(folder)
    mix = data.get("mix")
    if mix is None:
        data["mix"] = {"folder": 1.0}
    elif not (isinstance(mix, dict) and mix.get("folder")):
        raise ConfigError(
            "--data DIR: the config's data.mix gives the folder no share; set data.mix.folder"
        )
    return {**raw, "data": data}


def load_codec_config(path: str | Path | None, data_folder: Path | None = None) -> CodecConfig:
    """Load a YAML config file, or a preset name (``tiny``/``paper``; None: ``tiny``), with
    ``--data DIR`` (:func:`with_data_folder`) applied; errors name the field."""
    name = "tiny" if path is None else str(path)
    if name in PRESETS:
        if data_folder is None:
            return PRESETS[name].model_copy(deep=True)
        raw = PRESETS[name].model_dump(mode="json")
    else:
        raw = read_yaml_mapping(name)
    if data_folder is not None:
        raw = with_data_folder(raw, data_folder)
    try:
        return CodecConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, name)) from exc
