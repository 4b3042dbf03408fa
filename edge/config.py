"""Configuration of the edge node: one pydantic-settings model, validated at start.

Sources, highest priority first: command-line overrides, environment variables
(``POLC_EDGE_`` prefix, ``__`` between nested fields, e.g. ``POLC_EDGE_UPLINK__TOKEN=...``,
``POLC_EDGE_RATE__TARGET_KBPS=300``), the YAML file given with ``--config``, the defaults
below. Every validation error is raised as :class:`ConfigError` naming the field.
See ``deploy/edge.example.yaml`` for an annotated example and README.md ("Edge node")
for the reference.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from polc.shared.addresses import parse_host_port
from polc.shared.identifiers import is_camera_id
from polc.shared.settings import ServiceSettings, load_settings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSettings(_Section):
    """Where frames come from."""

    kind: Literal["synthetic", "folder", "video", "rtsp"] = Field(
        "synthetic", description="synthetic traffic clip, image folder, video file, RTSP/camera"
    )
    path: str | None = Field(None, description="folder / video file / RTSP or camera URL")
    fps: float = Field(10.0, gt=0, le=1000, description="frames per second (pacing)")
    realtime: bool = Field(True, description="false: do not sleep between frames (files only)")
    max_frames: int | None = Field(None, ge=1, description="stop after this many frames")
    loop: bool = Field(
        False, description="restart a folder / video / the synthetic clip at its end"
    )
    width: int = Field(512, ge=16, le=8192, description="synthetic clip width")
    height: int = Field(288, ge=16, le=8192, description="synthetic clip height")
    frames: int = Field(300, ge=1, description="synthetic clip length in frames")
    seed: int = Field(2026, description="synthetic clip seed")

    @model_validator(mode="after")
    def _path_needed(self) -> SourceSettings:
        if self.kind != "synthetic" and not self.path:
            raise ValueError(f"source kind '{self.kind}' needs path")
        return self


class TemporalSettings(_Section):
    """Temporal coding: P-frames coded against the previous frame, key frames between."""

    enabled: bool = Field(True, description="P-frames between key frames; false = intra only")
    key_frame_interval: int = Field(
        20, ge=1, le=256, description="a key frame at least every this many frames (one GOP)"
    )
    weights: Path | None = Field(
        None,
        description="temporal model (.pt); unset = POLC_TEMPORAL_WEIGHTS, else "
        "temporal.pt beside encoder.weights, else bundled",
    )
    skip_tau: float | None = Field(
        None,
        gt=0,
        le=8,
        description="lossy skip-mode P-frames: a latent position that moved "
        "less than this many quantiser steps copies the reference (docs/bitstream.md); unset = "
        "lossless P-frames (exactly intra's ŷ)",
    )
    motion_threshold: float | None = Field(
        4.0,
        ge=0,
        le=255,
        description="skip mode's motion gate: a latent position is coded only where its "
        "16×16 source block changed by more than this many luma levels (4×4-cell means) "
        "since it was last coded, so sensor noise on a static background costs no bits; "
        "null = no gate (the latent criterion alone)",
    )


class EncoderSettings(_Section):
    """Which backend runs the edge transforms (g_a, h_a, T_enc)."""

    backend: Literal["torch", "onnx"] = "torch"
    device: str = Field("cpu", description="torch device (cpu, cuda, cuda:1)")
    provider: Literal["cpu", "cuda", "tensorrt"] = Field(
        "cpu", description="ONNX Runtime execution provider (falls back to CPU with a warning)"
    )
    weights: Path | None = Field(None, description="codec weights (.pt); unset = bundled")
    onnx_dir: Path | None = Field(
        None, description="g_a/h_a/t_enc .onnx from `polc export onnx`; unset = export to cache"
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "polc" / "onnx",
        description="where ONNX models are exported on first use",
    )
    threads: int = Field(0, ge=0, le=256, description="intra-op threads (0 = library default)")
    temporal: TemporalSettings = TemporalSettings()


class RateSettings(_Section):
    """α per frame: fixed, or chosen by a controller to meet a bitrate."""

    mode: Literal["fixed", "target"] = "fixed"
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="α in fixed mode (start in target)")
    target_kbps: float | None = Field(
        None, gt=0, description="bitrate target: base layer (+ enhancement in mode always)"
    )
    alpha_min: float = Field(0.0, ge=0.0, le=1.0)
    alpha_max: float = Field(1.0, ge=0.0, le=1.0)
    horizon_seconds: float = Field(2.0, gt=0, description="how fast the bucket error is paid back")

    @model_validator(mode="after")
    def _consistent(self) -> RateSettings:
        if self.mode == "target" and self.target_kbps is None:
            raise ValueError("mode 'target' needs target_kbps")
        if self.alpha_min > self.alpha_max:
            raise ValueError("alpha_min must be <= alpha_max")
        return self


class EnhancementSettings(_Section):
    """The enhancement layer (ŝ, needed for β < 1)."""

    mode: Literal["always", "never", "on-demand"] = Field(
        "on-demand", description="stream it with every frame, never code it, or keep it locally"
    )
    retention_seconds: float = Field(3600.0, gt=0, description="on-demand layers kept this long")
    max_bytes: int = Field(512 << 20, ge=1 << 16, description="budget of kept layers")


class SpoolSettings(_Section):
    """The durable on-disk queue of frames not yet acknowledged."""

    path: Path = Path("polc-edge-spool")
    max_bytes: int = Field(1 << 30, ge=1 << 16, description="disk budget; oldest frames dropped")
    fsync: bool = Field(True, description="fsync every frame (false only for tests/benchmarks)")


class TlsSettings(_Section):
    """TLS to the cloud (``ca_file`` enables it; client cert + key = mutual TLS)."""

    enabled: bool = Field(False, description="TLS with the system roots when ca_file is unset")
    ca_file: Path | None = Field(None, description="CA bundle that signed the server certificate")
    cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(None, description="client private key (mutual TLS)")
    server_name: str | None = Field(None, description="override the name checked in the cert")

    @property
    def active(self) -> bool:
        return self.enabled or self.ca_file is not None or self.cert_file is not None

    @model_validator(mode="after")
    def _consistent(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name} {path} does not exist")
        return self


class UplinkSettings(_Section):
    """The gRPC stream to the cloud."""

    server: str = Field("127.0.0.1:50051", description="cloud address HOST:PORT")
    token: str | None = Field(None, description="bearer token (sent as authorization metadata)")
    tls: TlsSettings = TlsSettings()
    connect_timeout_seconds: float = Field(10.0, gt=0, description="Hello → HelloAck deadline")
    backoff_initial_seconds: float = Field(0.5, gt=0)
    backoff_max_seconds: float = Field(30.0, gt=0)
    backoff_multiplier: float = Field(2.0, ge=1.0)
    backoff_jitter: float = Field(0.5, ge=0.0, le=1.0, description="fraction of the delay")
    max_window: int = Field(64, ge=1, le=4096, description="cap on the server's window")
    ack_timeout_seconds: float = Field(
        60.0, gt=0, description="reconnect when the oldest frame in flight waits this long"
    )
    resend_backoff_seconds: float = Field(
        1.0,
        gt=0,
        description="a frame the cloud failed on (INTERNAL) is resent on the same "
        "stream after this delay, doubling per attempt up to backoff_max_seconds",
    )
    keepalive_seconds: float = Field(30.0, gt=0)

    @field_validator("server")
    @classmethod
    def _server(cls, v: str) -> str:
        parse_host_port(v, allow_port_zero=False, field="server")
        return v


class EdgeConfig(ServiceSettings):
    """Everything `polc edge run` needs."""

    model_config = SettingsConfigDict(
        env_prefix="POLC_EDGE_", env_nested_delimiter="__", extra="forbid"
    )

    camera_id: str = "cam-0"
    edge_id: str = Field(default_factory=socket.gethostname)
    metrics_listen: str | None = Field("127.0.0.1:9465", description="'' = no /metrics")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    source: SourceSettings = SourceSettings()
    encoder: EncoderSettings = EncoderSettings()
    rate: RateSettings = RateSettings()
    enhancement: EnhancementSettings = EnhancementSettings()
    spool: SpoolSettings = SpoolSettings()
    uplink: UplinkSettings = UplinkSettings()
    exit_when_drained: bool = Field(
        True, description="finite source: exit once every frame is acknowledged"
    )

    @field_validator("camera_id")
    @classmethod
    def _camera(cls, v: str) -> str:
        if not is_camera_id(v):
            raise ValueError("camera_id must be 1-128 characters of [A-Za-z0-9._:-]")
        return v


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> EdgeConfig:
    """Read and validate the configuration (see the module docstring for the sources).

    ``overrides`` maps dotted field names (``"uplink.server"``) to values (the CLI flags);
    ``None`` values are ignored.
    """
    return load_settings(EdgeConfig, path, overrides)
