"""The decode path of the ingest stream: the batch function the DynamicBatcher runs over
frames from every stream (entropy decode each frame, one analyzer call per batch), and the
index entry of a parsed frame."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from polc.cloud.analyzer import AnalysisResult, FrameAnalyzer
from polc.cloud.ingest.validation import FrameRefused, IncomingFrame
from polc.cloud.metrics import CloudMetrics
from polc.cloud.store.interface import FrameRecord
from polc.shared.codec.runtime import Codec
from polc.shared.errors import BitstreamError

log = logging.getLogger(__name__)
Code = grpc.StatusCode


@dataclass
class ProcessedFrame:
    record: FrameRecord
    result: AnalysisResult


class FrameProcessor:
    """The batch function: entropy decode each frame, then one analyzer call per batch."""

    def __init__(self, codec: Codec, analyzer: FrameAnalyzer, metrics: CloudMetrics,
                 decode: bool = True):
        self.codec, self.analyzer, self.metrics, self.decode = codec, analyzer, metrics, decode

    @staticmethod
    def record(item: IncomingFrame) -> FrameRecord:
        """The index entry of a parsed frame (without results)."""
        c = item.container
        return FrameRecord(item.camera_id, item.seq, item.capture_time_us, c.geometry.width,
                           c.geometry.height, c.alpha, c.fingerprint.hex(), len(item.base),
                           len(item.enhancement or b""))

    def __call__(self, items: Sequence[IncomingFrame]
                 ) -> list[ProcessedFrame | BaseException]:
        out: list[ProcessedFrame | BaseException] = []
        decoded, slots = [], []
        for item in items:
            out.append(ProcessedFrame(self.record(item), AnalysisResult()))
            c = item.container
            if not self.decode:
                continue
            t0 = time.perf_counter()
            try:
                decoded.append(self.codec.decode(c))
                slots.append(len(out) - 1)
            except BitstreamError as exc:
                reason = "enhancement" if "enhancement" in str(exc) else "malformed"
                out[-1] = FrameRefused(Code.INVALID_ARGUMENT, reason, str(exc))
            except Exception as exc:  # a decoder bug must not take the batch down
                log.exception("decoding %s/%d failed", item.camera_id, item.seq)
                out[-1] = FrameRefused(Code.INTERNAL, "internal", f"decoder failure: {exc}")
            self.metrics.decode_time(time.perf_counter() - t0)
        if decoded:
            t0 = time.perf_counter()
            results = self.analyzer.analyze(decoded)
            self.metrics.inference_time(time.perf_counter() - t0)
            for slot, result in zip(slots, results, strict=True):
                processed = out[slot]
                assert isinstance(processed, ProcessedFrame)
                processed.result = result
                processed.record.result = result.to_dict() if result.analyzer else None
        return out
