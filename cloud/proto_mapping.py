"""Store and analyzer types -> polc.v1 messages, and microseconds -> protobuf timestamps
(what the ingest stream and the Query / Reconstruct services send back the same way).
Incoming timestamps are checked by :mod:`polc.cloud.field_checks`."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.field_checks import clamp_time_us
from polc.cloud.store.interface import FrameRecord
from polc.v1 import common_pb2


def to_timestamp(us: int, what: str = "time") -> Timestamp:
    """Microseconds since the epoch as a protobuf Timestamp (clamped into its range: a row
    an older version stored with an out-of-range time must not break the answer)."""
    ts = Timestamp()
    ts.FromMicroseconds(clamp_time_us(us, what))
    return ts


def result_message(camera_id: str, seq: int, result: AnalysisResult) -> common_pb2.FrameResult:
    """The FrameResult of one analyzed frame (classes, boxes, analysis time)."""
    msg = common_pb2.FrameResult(camera_id=camera_id, seq=seq, analyzer=result.analyzer)
    for c in result.classes:
        msg.classes.add(label=c.label, score=c.score, class_index=c.class_index)
    for d in result.detections:
        det = msg.detections.add(label=d.label, score=d.score, class_index=d.class_index)
        det.box.x_min, det.box.y_min, det.box.x_max, det.box.y_max = d.box
    if result.analyzed_time_us:
        msg.analyzed_time.CopyFrom(to_timestamp(result.analyzed_time_us))
    return msg


def frame_meta(record: FrameRecord) -> common_pb2.FrameMeta:
    """The FrameMeta of a stored frame's index entry."""
    what = f"frame {record.camera_id}/{record.seq}"
    return common_pb2.FrameMeta(
        camera_id=record.camera_id,
        seq=record.seq,
        capture_time=to_timestamp(record.capture_time_us, what),
        received_time=to_timestamp(record.received_time_us, what),
        width=record.width,
        height=record.height,
        alpha=record.alpha,
        base_bytes=record.base_bytes,
        enhancement_bytes=record.enhancement_bytes,
        base_bpp=record.base_bpp,
        enhancement_bpp=record.enhancement_bpp,
        has_enhancement=record.has_enhancement,
        has_result=record.result is not None,
        model_fingerprint=record.fingerprint,
    )
