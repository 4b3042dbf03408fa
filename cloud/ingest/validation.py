"""What the cloud checks of every field of the ingest messages before any entropy
decoding or store access: the Hello (a refusal ends the stream), frames and enhancement
uploads (every refusal is a :class:`FrameRefused`, reported with FrameError, the stream
carries on). A capture time must be a valid protobuf Timestamp (0001-01-01 .. 9999-12-31,
nanos in [0, 1e9)); seq at most 2^63 - 1; sizes within the configured limits."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from polc.cloud.config import IngestSettings
from polc.cloud.field_checks import InvalidField, text, timestamp_us
from polc.cloud.store.interface import MAX_SEQ, now_us
from polc.shared import identifiers
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.enhancement_layer import EnhancementLayer
from polc.shared.errors import BitstreamError
from polc.v1 import ingest_pb2

Code = grpc.StatusCode


class FrameRefused(Exception):
    """One frame (or upload) is refused; reported with FrameError, the stream carries on.

    ``retryable``: resending the same frame later may succeed (default: code INTERNAL)."""

    def __init__(
        self, code: grpc.StatusCode, reason: str, message: str, retryable: bool | None = None
    ):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.retryable = code == Code.INTERNAL if retryable is None else retryable


@dataclass
class IncomingFrame:
    camera_id: str
    seq: int
    capture_time_us: int
    container: FrameContainer  # parsed and CRC-checked, not yet entropy-decoded
    base: bytes
    enhancement: bytes | None


def check_camera_id(camera_id: str) -> None:
    """FrameRefused(INVALID_ARGUMENT, out_of_range) unless ``camera_id`` is a camera id."""
    try:
        identifiers.check_camera_id(camera_id)
    except ValueError as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range", str(exc)) from None


def check_hello(hello: ingest_pb2.Hello) -> None:
    """FrameRefused(INVALID_ARGUMENT) unless every Hello field is usable (the caller ends
    the stream with it)."""
    check_camera_id(hello.camera_id)
    try:
        text(hello.edge_id, "hello.edge_id")
        text(hello.edge_version, "hello.edge_version")
    except InvalidField as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range", str(exc)) from None
    if len(hello.model_fingerprint) > 64:
        raise FrameRefused(
            Code.INVALID_ARGUMENT, "out_of_range", "hello.model_fingerprint: longer than 64 bytes"
        )


def check_upload(msg: ingest_pb2.EnhancementUpload) -> None:
    """FrameRefused(INVALID_ARGUMENT) unless the upload's fields are usable."""
    if msg.seq > MAX_SEQ:
        raise FrameRefused(
            Code.INVALID_ARGUMENT, "out_of_range", f"seq {msg.seq} above the maximum {MAX_SEQ}"
        )
    try:
        text(msg.request_id, "enhancement_upload.request_id", 64)
        text(msg.message, "enhancement_upload.message", 1024)
    except InvalidField as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "malformed", str(exc)) from None


def validate_enhancement(
    container: FrameContainer, data: bytes, fingerprint: bytes | None = None
) -> EnhancementLayer:
    """Parse an enhancement layer and check that it belongs to ``container`` (no decoding).

    An unbound compact P-frame has no model or size yet: the layer must come from
    ``fingerprint`` (the server's model: the only one such a frame decodes with) and its
    escape count is bounded when the frame is bound."""
    max_symbols = expected = None
    if container.is_bound:
        lh, lw = container.geometry.latent_hw
        max_symbols, expected = container.channels[2] * lh * lw, container.fingerprint
    else:
        expected = fingerprint
    try:
        layer = EnhancementLayer.from_bytes(data, max_symbols=max_symbols)
    except BitstreamError as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement", str(exc)) from None
    if layer.base_payload_crc != container.payload_crc:
        raise FrameRefused(
            Code.INVALID_ARGUMENT, "enhancement", "enhancement layer belongs to another frame"
        )
    if expected is not None and layer.fingerprint != expected:
        raise FrameRefused(
            Code.FAILED_PRECONDITION,
            "fingerprint",
            "enhancement layer was encoded by another model",
        )
    return layer


def check_model_and_size(
    container: FrameContainer, fingerprint: bytes, settings: IngestSettings
) -> None:
    """FrameRefused unless a (bound) frame is of this server's model and within its size."""
    if container.fingerprint != fingerprint:
        raise FrameRefused(
            Code.FAILED_PRECONDITION,
            "fingerprint",
            f"frame was encoded by model {container.fingerprint.hex()}, "
            f"this server decodes model {fingerprint.hex()}",
        )
    g = container.geometry
    if g.width * g.height > settings.max_frame_pixels:
        raise FrameRefused(
            Code.INVALID_ARGUMENT,
            "out_of_range",
            f"frame is {g.width}x{g.height}, more than the server's "
            f"{settings.max_frame_pixels} pixels",
        )


def parse_frame(
    msg: ingest_pb2.Frame, stream_camera: str, fingerprint: bytes, settings: IngestSettings
) -> IncomingFrame:
    """All checks that need no entropy decoding; raises FrameRefused. A compact P-frame
    comes back unbound: its model and size were checked with its reference."""
    camera_id = msg.camera_id or stream_camera
    if camera_id != stream_camera:
        raise FrameRefused(
            Code.PERMISSION_DENIED,
            "camera_mismatch",
            f"frame for camera {camera_id!r} on the stream of {stream_camera!r}",
        )
    if msg.seq > MAX_SEQ:
        raise FrameRefused(
            Code.INVALID_ARGUMENT, "out_of_range", f"seq {msg.seq} above the maximum {MAX_SEQ}"
        )
    capture = now_us()
    if msg.HasField("capture_time"):
        try:
            capture = timestamp_us(msg.capture_time, "capture_time")
        except InvalidField as exc:
            raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range", str(exc)) from None
    extra = msg.enhancement_layer if msg.HasField("enhancement_layer") else b""
    size = len(msg.base_layer) + len(extra)
    if size > settings.max_frame_bytes:
        raise FrameRefused(
            Code.RESOURCE_EXHAUSTED,
            "too_large",
            f"frame is {size} bytes, the limit is {settings.max_frame_bytes}",
        )
    if not msg.base_layer:
        raise FrameRefused(Code.INVALID_ARGUMENT, "malformed", "empty base_layer")
    try:
        container = FrameContainer.from_bytes(msg.base_layer)
    except BitstreamError as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "malformed", str(exc)) from None
    if container.is_bound:  # a compact P-frame's model and size are its reference's
        check_model_and_size(container, fingerprint, settings)
    if extra:
        if container.enhancement is not None:
            raise FrameRefused(
                Code.INVALID_ARGUMENT,
                "enhancement",
                "enhancement layer both inside base_layer and separate",
            )
        container.enhancement = validate_enhancement(container, extra, fingerprint)
    enhancement = container.enhancement.to_bytes() if container.enhancement else None
    base = container.base_bytes() if enhancement else bytes(msg.base_layer)
    return IncomingFrame(camera_id, msg.seq, capture, container, base, enhancement)
