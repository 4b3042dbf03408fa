"""Stored records as the JSON the HTTP API answers with (times in microseconds since the
epoch, boxes as [x_min, y_min, x_max, y_max] in the frame's pixels)."""

from __future__ import annotations

from typing import Any

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.events.hub import FrameUpdate
from polc.cloud.events.tracker import EventChange
from polc.cloud.store.interface import CameraSummary, FrameRecord
from polc.cloud.store.observations import Event


def result_json(result: AnalysisResult) -> dict[str, Any]:
    return {
        "analyzer": result.analyzer,
        "classes": [{"label": c.label, "score": c.score} for c in result.classes],
        "detections": [
            {"label": d.label, "score": d.score, "box": list(d.box)} for d in result.detections
        ],
    }


def frame_json(r: FrameRecord) -> dict[str, Any]:
    """A stored frame: its index entry, rate and analysis result."""
    return {
        "camera_id": r.camera_id,
        "seq": r.seq,
        "capture_time_us": r.capture_time_us,
        "received_time_us": r.received_time_us,
        "width": r.width,
        "height": r.height,
        "alpha": r.alpha,
        "base_bytes": r.base_bytes,
        "enhancement_bytes": r.enhancement_bytes,
        "base_bpp": r.base_bpp,
        "enhancement_bpp": r.enhancement_bpp,
        "has_enhancement": r.has_enhancement,
        "analysis_pending": r.analysis_pending,
        "result": result_json(AnalysisResult.from_dict(r.result)),
    }


def camera_json(c: CameraSummary, connected: bool, kbps: float | None) -> dict[str, Any]:
    return {
        "camera_id": c.camera_id,
        "connected": connected,
        "frame_count": c.frame_count,
        "first_seq": c.first_seq,
        "last_seq": c.last_seq,
        "first_capture_time_us": c.first_capture_time_us,
        "last_capture_time_us": c.last_capture_time_us,
        "stored_bytes": c.stored_bytes,
        "kbps": kbps,
    }


def event_json(e: Event) -> dict[str, Any]:
    return e.to_dict()


def live_frame_json(update: FrameUpdate, record: FrameRecord | None) -> dict[str, Any]:
    """A freshly analysed frame for the live stream (with its rate when it is stored)."""
    body: dict[str, Any] = {
        "camera_id": update.camera_id,
        "seq": update.seq,
        "capture_time_us": update.capture_time_us,
        "result": result_json(update.result),
    }
    if record is not None:
        body.update(
            alpha=record.alpha,
            width=record.width,
            height=record.height,
            base_bytes=record.base_bytes,
            base_bpp=record.base_bpp,
        )
    return body


def live_event_json(change: EventChange) -> dict[str, Any]:
    return {"kind": change.kind, "event": event_json(change.event)}
