"""A synthetic clip with known tracks for the event tests: the detections a detector would
return frame by frame (objects moving across a fixed camera), and an analyzer that hands
them out in the order the frames are analysed (one camera, frames sent in seq order)."""

from __future__ import annotations

import threading
import time

from polc.cloud.analyzer import AnalysisResult
from polc.shared.results import Detection

#: track id -> (label, first seq, last seq, start x, y, x step per frame)
TRACKS = {
    1: ("car", 0, 19, 0.0, 10.0, 3.0),
    2: ("car", 2, 14, 60.0, 40.0, -2.5),
    3: ("person", 5, 12, 30.0, 5.0, 0.5),
    4: ("bus", 26, 33, 10.0, 30.0, 2.0),
}
CLIP_FRAMES = 34  # frames 20..25 are empty: the cars' events end there


def clip_detections(seq: int) -> list[Detection]:
    found = []
    for label, first, last, x0, y0, step in TRACKS.values():
        if first <= seq <= last:
            x = x0 + step * (seq - first)
            found.append(Detection(label, 0.6 + 0.01 * (seq % 7), (x, y0, x + 16, y0 + 12), 0))
    return found


class ClipAnalyzer:
    """Frame k analysed gets the clip's detections of seq k (see the module docstring)."""

    name = "clip-detector"

    def __init__(self) -> None:
        self.analysed = 0
        self._lock = threading.Lock()

    def analyze(self, frames: list) -> list[AnalysisResult]:
        with self._lock:
            first, self.analysed = self.analysed, self.analysed + len(frames)
        stamp = time.time_ns() // 1000
        return [
            AnalysisResult(self.name, [], clip_detections(first + i), stamp)
            for i in range(len(frames))
        ]
