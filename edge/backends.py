"""Encoder backends: torch (CPU / CUDA) or ONNX Runtime (CPU / CUDA / TensorRT providers).

Only the float transforms g_a, h_a, T_enc differ between backends; symbols and entropy
parameters always come from the shared ``WireModel`` (integer h_s), so both backends produce
containers the cloud decodes to the same ŷ. With ``encoder.temporal.enabled`` (the
default) the temporal model that codes P-frames is loaded at start: a missing or mismatched
one is a configuration error, never a failure mid-stream. Without ``encoder.onnx_dir``
the ONNX models are exported once into ``encoder.cache_dir/<fingerprint>-<EXPORT_VERSION>/``
on first use.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from polc.edge.config import EncoderSettings
from polc.shared.codec.onnx_backend import OrtTransforms, export_onnx
from polc.shared.codec.runtime import Codec, FrameEncoder
from polc.shared.codec.temporal_wire import TemporalWireModel
from polc.shared.errors import ConfigError, ModelError
from polc.shared.models.weights_file import temporal_path_for

log = logging.getLogger(__name__)
ONNX_FILES = ("g_a.onnx", "h_a.onnx", "t_enc.onnx")  # required in encoder.onnx_dir
EXPORT_VERSION = 2  # the cache's exports: + latents.onnx (g_a·G_y → h_a as one graph)
CACHED_FILES = ("latents.onnx", *ONNX_FILES)


@dataclass
class EncoderBackend:
    """A ready encoder and what it runs on."""

    codec: Codec
    encoder: FrameEncoder
    name: str  # e.g. "torch:cpu", "onnx:cpu"

    @property
    def fingerprint(self) -> bytes:
        return self.codec.wire.fingerprint


def onnx_models(codec: Codec, settings: EncoderSettings) -> Path:
    """The directory holding g_a/h_a/t_enc .onnx for this codec (exported when missing)."""
    if settings.onnx_dir is not None:
        missing = [f for f in ONNX_FILES if not (settings.onnx_dir / f).is_file()]
        if missing:
            raise ConfigError(
                f"config field 'encoder.onnx_dir': {settings.onnx_dir} lacks "
                f"{', '.join(missing)} (make them with `polc export onnx`)"
            )
        return settings.onnx_dir
    target = Path(settings.cache_dir) / f"{codec.fingerprint[:32]}-v{EXPORT_VERSION}"
    if all((target / f).is_file() for f in CACHED_FILES):
        return target
    log.info("exporting the edge transforms to ONNX in %s (once per model)", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        export_onnx(codec.model, tmp)
        try:
            os.replace(tmp, target)  # atomic: concurrent nodes never see half an export
        except OSError:
            if not all((target / f).is_file() for f in CACHED_FILES):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load_codec(settings: EncoderSettings, device: str) -> Codec:
    temporal = settings.temporal.weights or temporal_path_for(settings.weights)
    return Codec.load(settings.weights, device, temporal_path=temporal)


def temporal_model(settings: EncoderSettings, codec: Codec) -> TemporalWireModel | None:
    """The P-frame wire model when temporal coding is on (checked at start, not mid-GOP)."""
    if not settings.temporal.enabled:
        return None
    try:
        return codec.temporal
    except (OSError, ModelError) as exc:
        raise ConfigError(
            f"config field 'encoder.temporal.weights': {exc} (or set "
            "encoder.temporal.enabled: false for intra-only coding)"
        ) from exc


def build_encoder(settings: EncoderSettings, codec: Codec | None = None) -> EncoderBackend:
    """The configured backend; ``codec`` (already loaded) is reused when given."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if settings.backend == "torch":
        if codec is None or codec.device != settings.device:
            if settings.device.startswith("cuda") and not torch.cuda.is_available():
                raise ConfigError(
                    f"config field 'encoder.device': {settings.device} requested "
                    "but torch sees no CUDA device"
                )
            codec = _load_codec(settings, settings.device)
        temporal_model(settings, codec)
        return EncoderBackend(codec, codec.encoder, f"torch:{settings.device}")
    codec = codec or _load_codec(settings, "cpu")
    models = onnx_models(codec, settings)
    transforms = OrtTransforms(models, settings.provider, settings.threads)
    name = "onnx:" + transforms.provider.removesuffix("ExecutionProvider").lower()
    return EncoderBackend(
        codec, FrameEncoder(codec.wire, transforms, temporal_model(settings, codec)), name
    )
