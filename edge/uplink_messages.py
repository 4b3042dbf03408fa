"""The messages the uplink writes on the Ingest stream: Hello, Frame, EnhancementUpload."""

from __future__ import annotations

from polc.edge.spooled_frame import SpooledFrame
from polc.v1 import ingest_pb2


def hello_message(
    camera_id: str,
    fingerprint: bytes,
    capabilities: ingest_pb2.Capabilities,
    *,
    edge_version: str,
    edge_id: str,
) -> ingest_pb2.Hello:
    """The first message of every session."""
    return ingest_pb2.Hello(
        camera_id=camera_id,
        model_fingerprint=fingerprint,
        capabilities=capabilities,
        edge_version=edge_version,
        edge_id=edge_id,
    )


def frame_message(frame: SpooledFrame) -> ingest_pb2.Frame:
    """A spooled frame as sent (its enhancement layer too when it travels with the base)."""
    msg = ingest_pb2.Frame(camera_id=frame.camera_id, seq=frame.seq, base_layer=frame.base)
    msg.capture_time.FromNanoseconds(frame.capture_time_ns)
    if frame.enhancement is not None:
        msg.enhancement_layer = frame.enhancement
    return msg


def enhancement_upload(
    req: ingest_pb2.EnhancementRequest, layer: bytes | None, camera_id: str
) -> ingest_pb2.EnhancementUpload:
    """The answer to the cloud's EnhancementRequest: the kept layer, or "unavailable"."""
    upload = ingest_pb2.EnhancementUpload(
        request_id=req.request_id, camera_id=req.camera_id or camera_id, seq=req.seq
    )
    if layer is None:
        upload.unavailable = True
        upload.message = (
            f"the edge does not hold the enhancement layer of frame "
            f"{req.seq} (never coded, or older than the retention "
            "window)"
        )
    else:
        upload.enhancement_layer = layer
    return upload
