"""Configuration of the cloud service: one pydantic-settings model, validated at start.

Sources, highest priority first: command-line overrides, environment variables
(``POLC_CLOUD_`` prefix, ``__`` between nested fields, e.g.
``POLC_CLOUD_INGEST__WINDOW=64``), the YAML file given with ``--config``, the defaults
below. Every validation error is raised as :class:`ConfigError` naming the field.
See ``deploy/cloud.example.yaml`` for an annotated example.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from psycopg.conninfo import conninfo_to_dict
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from polc.shared.addresses import parse_host_port
from polc.shared.identifiers import is_camera_id
from polc.shared.settings import ServiceSettings, load_settings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _host_port(value: str, field: str) -> str:
    parse_host_port(value, allow_port_zero=True, field=field)
    return value


class CodecSettings(_Section):
    weights: Path | None = Field(None, description="codec weights (.pt); unset = bundled")
    temporal_weights: Path | None = Field(
        None,
        description="temporal model (.pt) that decodes P-frames; unset = "
        "POLC_TEMPORAL_WEIGHTS, else temporal.pt beside the codec weights, else bundled",
    )
    device: str = Field("cpu", description="torch device for decoding and reconstruction")
    torch_threads: int = Field(1, ge=1, le=256, description="torch intra-op threads")


class DetectionSettings(_Section):
    """Overrides of the detection operating point stored in the detection adapter file (the
    one ``polc bench operating-point`` chose on held-out frames); unset = the file's."""

    min_score: float | None = Field(
        None, ge=0, le=1, description="one score threshold for every class (then per_class)"
    )
    per_class: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="score threshold of the classes named (class name: threshold)",
    )
    nms_iou: float | None = Field(
        None, gt=0, le=1, description="NMS IoU applied to the detector's boxes"
    )
    class_agnostic_nms: bool | None = Field(
        None, description="true: a box suppresses overlapping boxes of any class"
    )


class AnalyzerSettings(_Section):
    kind: Literal["pixel-teacher", "adapter", "none"] = Field(
        "adapter",
        description="adapter: POLC adapters on ŷ (no pixel decoding; classes, and "
        "boxes when the detection adapter is there); pixel-teacher: teacher classifier on "
        "x̂₁; none: store only",
    )
    teacher_weights: Path | None = Field(
        None, description="teacher .pt; unset = shared/weights/teacher.pt if shipped"
    )
    adapter_weights: Path | None = Field(
        None,
        description="kind adapter: adapter .pt; unset = shared/weights/adapter_cls.pt (a "
        "torchvision adapter file carries its model and classes: no teacher_weights needed)",
    )
    detector_weights: Path | None = Field(
        None,
        description="kind adapter: pixel detector .pt (stages, FPN, FCOS head); unset = "
        "shared/weights/detector.pt if shipped",
    )
    detector_adapter_weights: Path | None = Field(
        None,
        description="kind adapter: detection adapter .pt; unset = "
        "shared/weights/adapter_det.pt if shipped (both present: frames get boxes; a "
        "torchvision adapter file needs no detector_weights)",
    )
    detection: DetectionSettings = Field(
        DetectionSettings(),
        description="kind adapter: which boxes are kept (default: the adapter file's "
        "operating point)",
    )
    top_k: int = Field(5, ge=1, le=100)
    decode: bool = Field(True, description="false: store frames without decoding (benchmarks)")
    lease_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="a replica's claim on the frames it stored and has "
        "not analysed yet; unrenewed this long (the replica died), another one takes them",
    )


class StoreSettings(_Section):
    backend: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="sqlite: index in PATH; postgres: index in postgres_dsn, "
        "layer files in PATH (a directory every replica mounts)",
    )
    path: Path = Path("polc-cloud-store")
    postgres_dsn: SecretStr | None = Field(
        None, description="libpq URL or key=value string (backend postgres)"
    )
    postgres_pool_size: int = Field(8, ge=2, le=256, description="connections per replica")
    retention_seconds: float | None = Field(None, gt=0, description="max age of a frame")
    max_bytes: int | None = Field(None, gt=0, description="max total stored layer bytes")
    sweep_interval_seconds: float = Field(60.0, gt=0)
    synchronous: Literal["full", "normal"] = "full"

    @model_validator(mode="after")
    def _backend(self) -> StoreSettings:
        if self.backend == "postgres":
            if self.postgres_dsn is None or not self.postgres_dsn.get_secret_value().strip():
                raise ValueError("backend postgres needs postgres_dsn")
            try:
                conninfo_to_dict(self.postgres_dsn.get_secret_value())
            except Exception as exc:  # psycopg.ProgrammingError: not a libpq string
                raise ValueError(
                    f"postgres_dsn is not a valid connection string: {str(exc).splitlines()[0]}"
                ) from None
        elif self.postgres_dsn is not None:
            raise ValueError("postgres_dsn is set but backend is sqlite")
        return self


class BatchingSettings(_Section):
    max_batch_size: int = Field(16, ge=1, le=1024)
    max_queue_delay_ms: float = Field(5.0, ge=0, le=10_000)
    max_queue_frames: int = Field(256, ge=1, le=1_000_000)


class IngestSettings(_Section):
    window: int = Field(32, ge=1, le=4096, description="frames in flight per stream")
    max_frame_bytes: int = Field(8 << 20, ge=1024, description="larger frames: per-frame error")
    max_frame_pixels: int = Field(4096 * 4096, ge=256)
    max_message_bytes: int | None = Field(
        None, ge=1024, description="transport limit (default 2·max_frame_bytes + 64 KiB)"
    )
    max_streams: int = Field(
        1024,
        ge=1,
        description="concurrent ingest streams (counted "
        "from a valid Hello of a caller that may ingest)",
    )
    hello_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="a stream without a Hello by then is closed (DEADLINE_EXCEEDED)",
    )
    enhancement_wait_seconds: float = Field(10.0, gt=0)
    max_enhancement_wait_seconds: float = Field(60.0, gt=0)

    @property
    def transport_limit(self) -> int:
        return self.max_message_bytes or 2 * self.max_frame_bytes + (64 << 10)


class ConnectionSettings(_Section):
    max_connection_age_seconds: float | None = Field(None, gt=0)
    max_connection_age_grace_seconds: float = Field(30.0, ge=0)
    keepalive_seconds: float = Field(30.0, gt=0)
    shutdown_grace_seconds: float = Field(10.0, ge=0)


class TlsSettings(_Section):
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = Field(None, description="set = verify client certificates")
    require_client_cert: bool = Field(False, description="mutual TLS")

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None

    @model_validator(mode="after")
    def _consistent(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        if self.require_client_cert and self.client_ca_file is None:
            raise ValueError("require_client_cert needs client_ca_file")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file")
        return self


class TokenSettings(_Section):
    name: str = Field("", description="shown in logs instead of the token")
    token: str | None = Field(None, min_length=16, description="the bearer token (plain)")
    token_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token instead of it"
    )
    role: Literal["camera", "operator", "admin"]
    cameras: list[str] = Field(
        default_factory=list, description="camera ids a camera token may ingest ('*' = any)"
    )

    @model_validator(mode="after")
    def _one_secret(self) -> TokenSettings:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("set exactly one of token, token_sha256")
        if self.role == "camera" and not self.cameras:
            raise ValueError("a camera token needs its camera ids in cameras")
        for cam in self.cameras:
            if cam != "*" and not is_camera_id(cam):
                raise ValueError(f"invalid camera id {cam!r}")
        return self


class AuthSettings(_Section):
    tokens: list[TokenSettings] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)


class EventSettings(_Section):
    enabled: bool = Field(
        True, description="index detections for search and track them into events"
    )
    iou_threshold: float = Field(
        0.2, gt=0, le=1, description="a detection continues a track of its class at this IoU"
    )
    min_score: float = Field(
        0.5, ge=0, le=1, description="a detection scoring less starts no event"
    )
    end_after_frames: int = Field(
        5, ge=1, le=10_000, description="an event ends when unseen for this many frames"
    )
    end_after_seconds: float = Field(
        5.0,
        gt=0,
        le=86_400,
        description="... or for this long (capture time; wall clock once the camera is quiet)",
    )
    min_hits: int = Field(
        2,
        ge=1,
        le=1_000,
        description="an event starts once its object was seen in this many frames in a row "
        "(from the first of them); a candidate missed before is dropped",
    )
    watch_queue: int = Field(
        256,
        ge=1,
        le=100_000,
        description="updates queued per WatchResults call; a watcher that falls this far "
        "behind is dropped (RESOURCE_EXHAUSTED)",
    )


class MqttSettings(_Section):
    enabled: bool = Field(False, description="publish events and object counts to a broker")
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("polc", min_length=1, pattern=r"^[^#+]+$")
    client_id: str = Field("", description="'' = polc-cloud-<server_id>")
    username: str | None = None
    password_env: str | None = Field(
        None, description="name of the environment variable holding the password"
    )
    tls: bool = Field(False, description="connect with TLS")
    ca_file: Path | None = Field(None, description="CA of the broker (tls; unset: system CAs)")
    keepalive_seconds: int = Field(30, ge=5, le=3600)
    queue_size: int = Field(
        10_000, ge=1, le=1_000_000, description="messages waiting for the broker; more: dropped"
    )
    publish_results: bool = Field(False, description="also <prefix>/<camera>/results per frame")


class HttpSettings(_Section):
    listen: str | None = Field(
        None,
        description="HTTP JSON API + web console address (HOST:PORT); unset = off. Served "
        "with the cloud's TLS certificate when tls is configured",
    )
    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="a console login lasts this long"
    )
    live_queue: int = Field(
        256,
        ge=1,
        le=100_000,
        description="updates queued per live (SSE) client; one that falls this far behind "
        "is dropped",
    )
    image_cache_mb: int = Field(
        64, ge=0, le=65_536, description="memory for cached β = 1 pictures (0 = no cache)"
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        return _host_port(v, "http.listen") if v else None


class CloudConfig(ServiceSettings):
    """Everything `polc cloud serve` needs."""

    model_config = SettingsConfigDict(
        env_prefix="POLC_CLOUD_", env_nested_delimiter="__", extra="forbid"
    )

    listen: str = "127.0.0.1:50051"
    metrics_listen: str | None = Field("127.0.0.1:9464", description="'' = no /metrics")
    site: str = Field("", max_length=64, description="value of the bounded `site` label")
    server_id: str = Field(default_factory=socket.gethostname)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    codec: CodecSettings = CodecSettings()
    analyzer: AnalyzerSettings = AnalyzerSettings()
    store: StoreSettings = StoreSettings()
    batching: BatchingSettings = BatchingSettings()
    ingest: IngestSettings = IngestSettings()
    connection: ConnectionSettings = ConnectionSettings()
    tls: TlsSettings = TlsSettings()
    auth: AuthSettings = AuthSettings()
    events: EventSettings = EventSettings()
    mqtt: MqttSettings = MqttSettings()
    http: HttpSettings = HttpSettings()

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return _host_port(v, "listen")


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> CloudConfig:
    """Read and validate the configuration (see the module docstring for the sources).

    ``overrides`` maps dotted field names (``"store.path"``) to values (the CLI flags).
    """
    return load_settings(CloudConfig, path, overrides)
