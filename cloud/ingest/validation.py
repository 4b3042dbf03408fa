"""What the cloud checks of an incoming frame or enhancement layer before any entropy
decoding; every refusal is a :class:`FrameRefused` (reported with FrameError, the stream
carries on)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from polc.cloud.config import IngestSettings
from polc.cloud.proto_mapping import timestamp_us
from polc.cloud.store.interface import MAX_SEQ, now_us
from polc.shared import identifiers
from polc.shared.codec.container import EnhancementLayer, FrameContainer
from polc.shared.errors import BitstreamError
from polc.v1 import ingest_pb2

Code = grpc.StatusCode


class FrameRefused(Exception):
    """One frame (or upload) is refused; reported with FrameError, the stream carries on."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


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


def validate_enhancement(container: FrameContainer, data: bytes) -> EnhancementLayer:
    """Parse an enhancement layer and check that it belongs to ``container`` (no decoding)."""
    lh, lw = container.geometry.latent_hw
    try:
        layer = EnhancementLayer.from_bytes(data, max_symbols=container.channels[2] * lh * lw)
    except BitstreamError as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement", str(exc)) from None
    if layer.base_payload_crc != container.payload_crc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement",
                           "enhancement layer belongs to another frame")
    if layer.fingerprint != container.fingerprint:
        raise FrameRefused(Code.FAILED_PRECONDITION, "fingerprint",
                           "enhancement layer was encoded by another model")
    return layer


def parse_frame(msg: ingest_pb2.Frame, stream_camera: str, fingerprint: bytes,
                settings: IngestSettings) -> IncomingFrame:
    """All checks that need no entropy decoding; raises FrameRefused."""
    camera_id = msg.camera_id or stream_camera
    if camera_id != stream_camera:
        raise FrameRefused(Code.PERMISSION_DENIED, "camera_mismatch",
                           f"frame for camera {camera_id!r} on the stream of "
                           f"{stream_camera!r}")
    if msg.seq > MAX_SEQ:
        raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range",
                           f"seq {msg.seq} above the maximum {MAX_SEQ}")
    extra = msg.enhancement_layer if msg.HasField("enhancement_layer") else b""
    size = len(msg.base_layer) + len(extra)
    if size > settings.max_frame_bytes:
        raise FrameRefused(Code.RESOURCE_EXHAUSTED, "too_large",
                           f"frame is {size} bytes, the limit is {settings.max_frame_bytes}")
    if not msg.base_layer:
        raise FrameRefused(Code.INVALID_ARGUMENT, "malformed", "empty base_layer")
    try:
        container = FrameContainer.from_bytes(msg.base_layer)
    except BitstreamError as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "malformed", str(exc)) from None
    if container.fingerprint != fingerprint:
        raise FrameRefused(Code.FAILED_PRECONDITION, "fingerprint",
                           f"frame was encoded by model {container.fingerprint.hex()}, "
                           f"this server decodes model {fingerprint.hex()}")
    g = container.geometry
    if g.width * g.height > settings.max_frame_pixels:
        raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range",
                           f"frame is {g.width}x{g.height}, more than the server's "
                           f"{settings.max_frame_pixels} pixels")
    if extra:
        if container.enhancement is not None:
            raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement",
                               "enhancement layer both inside base_layer and separate")
        container.enhancement = validate_enhancement(container, extra)
    enhancement = container.enhancement.to_bytes() if container.enhancement else None
    base = container.base_bytes() if enhancement else bytes(msg.base_layer)
    capture = timestamp_us(msg.capture_time) if msg.HasField("capture_time") else now_us()
    return IncomingFrame(camera_id, msg.seq, capture, container, base, enhancement)

