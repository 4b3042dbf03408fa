"""One held-out clip through the product's path for ``polc bench events``: coded by the edge
codec, decoded, analysed by the cloud's analyzer, tracked by the cloud's tracker.

    rendered frames ─► encode_clip_temporal (key frame every GOP, P-frames; or intra)
        ─► decode_clip ─► the cloud's analyzer (build_analyzer: detection adapter on ŷ at the
           cloud's default operating point) ─► IoUTracker with the cloud's EventSettings
        ─► ended events + the tracked boxes of every frame

The tracker is the class the cloud's EventRecorder runs per camera, built from the same
settings (``polc.cloud.config.EventSettings``); capture times are frame index / fps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from polc.bench.event_metrics import TrackedBox
from polc.cloud.analyzer import FrameAnalyzer, build_analyzer
from polc.cloud.config import CloudConfig, EventSettings
from polc.cloud.events.tracker import IoUTracker
from polc.cloud.store.observations import Event
from polc.shared.codec.runtime import Codec, DecodedFrame
from polc.shared.codec.temporal import decode_clip, encode_clip_temporal
from polc.shared.results import Detection


@dataclass
class TrackedClip:
    events: list[Event]  #: every event of the clip, ended
    tracked: list[list[TrackedBox]]  #: per frame: the live events seen in it


def cloud_analyzer(codec: Codec) -> FrameAnalyzer:
    """The analyzer a cloud with the default configuration runs."""
    a = CloudConfig().analyzer
    return build_analyzer(
        a.kind,
        codec,
        a.teacher_weights,
        a.top_k,
        a.adapter_weights,
        a.detector_weights,
        a.detector_adapter_weights,
    )


def code_clip(codec: Codec, frames: Sequence, alpha: float, gop: int | None) -> list[DecodedFrame]:
    """Encode and decode a clip as the edge and cloud do: key frames every ``gop`` frames and
    P-frames between them, or every frame alone (``gop`` None)."""
    if gop is None:
        return [codec.decode(codec.encode(frame, alpha)) for frame in frames]
    return decode_clip(codec, encode_clip_temporal(codec, frames, alpha, gop))


def detect_clip(analyzer: FrameAnalyzer, decoded: list[DecodedFrame]) -> list[list[Detection]]:
    """The detections the cloud stores for each frame."""
    return [r.detections for r in analyzer.analyze(decoded)]


def track_clip(
    detections: Sequence[Sequence[Detection]], fps: float, settings: EventSettings
) -> TrackedClip:
    """Feed the clip's detections to the cloud's tracker, frame by frame, then end it."""
    tracker = IoUTracker(
        "bench",
        iou_threshold=settings.iou_threshold,
        min_score=settings.min_score,
        end_after_frames=settings.end_after_frames,
        end_after_s=settings.end_after_seconds,
        min_hits=settings.min_hits,
    )
    ended: dict[str, Event] = {}
    tracked: list[list[TrackedBox]] = []
    for seq, dets in enumerate(detections):
        changes = tracker.update(seq, round(seq * 1e6 / fps), dets)
        ended.update((c.event.id, c.event) for c in changes if c.kind == "end")
        tracked.append(
            [
                TrackedBox(t.event.id, t.event.label, t.box)
                for t in tracker.tracks
                if t.confirmed and not t.missed
            ]
        )
    ended.update((c.event.id, c.event) for c in tracker.expire())
    return TrackedClip(sorted(ended.values(), key=lambda e: (e.start_seq, e.id)), tracked)
