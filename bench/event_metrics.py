"""How well the cloud's events follow the ground truth of a synthetic clip (``polc bench
events``): CLEAR-MOT / identity metrics of the per-frame tracked boxes, and event coverage
of the ground-truth tracks.

Ground truth per frame: COCO boxes ``[x, y, w, h]`` with ``category_id`` and ``track_id``
(``polc.shared.data.synth.video``). The tracker's output per frame: the live tracks seen in
that frame, ``TrackedBox(event id, label, box x0 y0 x1 y1)`` (candidates not yet confirmed
as events are not counted, as an online tracker would not report them); events: the ended
``Event`` objects with their ``path`` of (seq, x0, y0, x1, y1).

**MOT metrics** (``motmetrics``, one accumulator per clip, pooled over clips as "overall"):
a tracked box may match a ground-truth box of the *same class* at IoU ≥ 0.5 (distance
1 − IoU; another class or a lower IoU can never match). MOTA = 1 − (misses + false
positives + ID switches) / ground-truth boxes; IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN) under
the best one-to-one assignment of tracker ids to ground-truth ids; precision / recall of
the matched boxes.

**Coverage**: a ground-truth track is *eligible* when it is annotated in at least
``min_frames`` frames (≥ 1 s: ``min_frames`` = fps). It is *covered* when some event with
its class label overlaps it: the frames where both the track has a box and the event's path
has a point (the *overlapping frames*) are not empty, and in more than half of them the
two boxes have IoU ≥ 0.5. Coverage = covered / eligible tracks, per class and overall.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import motmetrics as mm
import numpy as np

from polc.cloud.events.tracker import iou
from polc.cloud.store.observations import Box, Event
from polc.shared.data.synth.classes import CLASSES

MATCH_IOU = 0.5  #: a tracked box / event point matches a ground-truth box at this IoU
MOT_METRICS = (
    "mota",
    "idf1",
    "num_switches",
    "precision",
    "recall",
    "num_objects",
    "num_predictions",
    "num_misses",
    "num_false_positives",
    "num_unique_objects",
    "mostly_tracked",
)


@dataclass(frozen=True)
class TrackedBox:
    """One event seen in one frame (the box that frame's detection gave it)."""

    event_id: str
    label: str
    box: Box  #: x0, y0, x1, y1


def class_name(annotation: dict) -> str:
    return CLASSES[int(annotation["category_id"]) - 1]


def xyxy(annotation: dict) -> Box:
    x, y, w, h = (float(v) for v in annotation["bbox"])
    return (x, y, x + w, y + h)


def _accumulate(
    annotations: Sequence[list[dict]], tracked: Sequence[list[TrackedBox]]
) -> mm.MOTAccumulator:
    acc = mm.MOTAccumulator(auto_id=True)
    numbers: dict[str, int] = {}  # event id -> int (motmetrics' frames hold numeric ids)
    for anns, hyps in zip(annotations, tracked, strict=True):
        dist = np.full((len(anns), len(hyps)), np.nan)
        for i, a in enumerate(anns):
            for j, h in enumerate(hyps):
                overlap = iou(xyxy(a), h.box)
                if h.label == class_name(a) and overlap >= MATCH_IOU:
                    dist[i, j] = 1.0 - overlap
        hyp_ids = [numbers.setdefault(h.event_id, len(numbers) + 1) for h in hyps]
        acc.update([a["track_id"] for a in anns], hyp_ids, dist)
    return acc


def mot_metrics(
    clips: Sequence[tuple[str, Sequence[list[dict]], Sequence[list[TrackedBox]]]],
) -> dict[str, dict[str, float]]:
    """MOT metrics per clip and "overall" (pooled): clips are (name, ground truth per frame,
    tracked boxes per frame)."""
    accs = [_accumulate(anns, tracked) for _, anns, tracked in clips]
    names = [name for name, _, _ in clips]
    logging.disable(logging.INFO)  # compute_many logs its timings on the root logger
    try:
        summary = mm.metrics.create().compute_many(
            accs, metrics=list(MOT_METRICS), names=names, generate_overall=True
        )
    finally:
        logging.disable(logging.NOTSET)
    return {
        str(name): {k: _number(row[k]) for k in MOT_METRICS} for name, row in summary.iterrows()
    }


def _number(value: object) -> float:
    v = float(value)  # type: ignore[arg-type]
    return v if np.isfinite(v) else float("nan")


@dataclass
class GroundTruthTrack:
    track_id: int
    label: str
    boxes: dict[int, Box]  #: frame -> box

    @property
    def first(self) -> int:
        return min(self.boxes)

    @property
    def last(self) -> int:
        return max(self.boxes)


def ground_truth_tracks(annotations: Sequence[list[dict]]) -> list[GroundTruthTrack]:
    tracks: dict[int, GroundTruthTrack] = {}
    for frame, anns in enumerate(annotations):
        for a in anns:
            track = tracks.setdefault(
                a["track_id"], GroundTruthTrack(a["track_id"], class_name(a), {})
            )
            track.boxes[frame] = xyxy(a)
    return sorted(tracks.values(), key=lambda t: (t.first, t.track_id))


def event_overlaps(track: GroundTruthTrack, event: Event) -> bool:
    """The event has the track's class and, on more than half of their overlapping frames
    (at least one), a box at IoU ≥ 0.5 with the track's (see the module docstring)."""
    if event.label != track.label:
        return False
    common = [(track.boxes[p[0]], p[1:]) for p in event.path if p[0] in track.boxes]
    hits = sum(iou(gt, box) >= MATCH_IOU for gt, box in common)  # type: ignore[arg-type]
    return bool(common) and 2 * hits > len(common)


def coverage(
    clips: Sequence[tuple[str, Sequence[list[dict]], Sequence[Event]]], min_frames: int
) -> dict:
    """Covered / eligible ground-truth tracks per class and overall, and every track's row
    (clips are (name, ground truth per frame, ended events))."""
    rows: list[dict] = []
    for name, truth, events in clips:
        for track in ground_truth_tracks(truth):
            matching = [e.id for e in events if event_overlaps(track, e)]
            rows.append(
                {
                    "clip": name,
                    "track_id": track.track_id,
                    "class": track.label,
                    "first_frame": track.first,
                    "last_frame": track.last,
                    "frames": len(track.boxes),
                    "eligible": len(track.boxes) >= min_frames,
                    "covered": bool(matching),
                    "events": matching,
                }
            )
    per_class: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        if row["eligible"]:
            per_class[row["class"]].append(row["covered"])
    every = [c for covered in per_class.values() for c in covered]
    return {
        "min_frames": min_frames,
        "overall": _fraction(every),
        "per_class": {k: _fraction(v) for k, v in sorted(per_class.items())},
        "tracks": rows,
    }


def _fraction(covered: list[bool]) -> dict:
    n = len(covered)
    return {"tracks": n, "covered": sum(covered), "fraction": sum(covered) / n if n else None}
