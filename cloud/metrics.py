"""Prometheus metrics of the cloud service (own registry, served on ``/metrics``).

Naming follows the Prometheus rules: base units (seconds, bytes), ``_total`` for counters,
histograms (they aggregate across replicas, summaries do not). No per-camera labels: the
only label on high-volume series is the bounded ``site`` (one value per deployment) plus
small fixed enums (``reason``, ``layer``, ``outcome``).
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from polc.shared.prometheus import MetricFamilies, serve_registry, stop_server

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
BPP_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0)

#: Reasons a frame is refused (the ``reason`` label of frames_failed_total).
FAIL_REASONS = (
    "malformed",
    "fingerprint",
    "out_of_range",
    "too_large",
    "camera_mismatch",
    "enhancement",
    "store_full",
    "internal",
)
#: Reasons an ingest stream is refused before it is served (streams_refused_total).
STREAM_REFUSALS = (
    "unauthenticated",
    "permission_denied",
    "hello_timeout",
    "invalid_hello",
    "fingerprint",
    "too_many_streams",
    "shutting_down",
)

#: Help text of every exported metric, by metric name.
HELP = {
    "polc_cloud_frames_received_total": "Frames received on ingest streams",
    "polc_cloud_frames_decoded_total": "Frames decoded and stored",
    "polc_cloud_frames_duplicate_total": (
        "Frames re-sent after being stored (re-acknowledged, not processed)"
    ),
    "polc_cloud_frames_failed_total": "Frames refused, by reason",
    "polc_cloud_received_bytes_total": "Layer bytes received, by layer",
    "polc_cloud_frame_bpp": "Bits per pixel of received base layers",
    "polc_cloud_decode_duration_seconds": "Entropy decoding time per frame",
    "polc_cloud_inference_duration_seconds": "Analyzer time per batch",
    "polc_cloud_batch_size": "Frames per decode/inference batch",
    "polc_cloud_batch_queue_frames": "Frames waiting in memory for an analysis batch",
    "polc_cloud_analysis_lag_seconds": (
        "Age (since it was stored) of the oldest frame "
        "this replica stored and has not analysed yet; 0 = none waiting"
    ),
    "polc_cloud_analysis_queue_frames": (
        "Frames this replica stored and has not analysed yet (in memory and in the store)"
    ),
    "polc_cloud_frames_analyzed_total": "Frames analysed (result stored)",
    "polc_cloud_analysis_skipped_total": (
        "Results not stored because the frame was analysed already or another replica took it over"
    ),
    "polc_cloud_open_streams": "Open ingest streams",
    "polc_cloud_streams_refused_total": "Ingest streams refused before being served, by reason",
    "polc_cloud_ack_latency_seconds": "Frame received to frame acknowledged",
    "polc_cloud_reconstruct_requests_total": "Reconstruct requests, by outcome",
    "polc_cloud_reconstruct_duration_seconds": "Reconstruct request latency",
    "polc_cloud_enhancement_requests_total": "Enhancement layers requested from edges, by outcome",
    "polc_cloud_store_size_bytes": "Layer bytes held by the store",
    "polc_cloud_store_limit_bytes": "store.max_bytes (0 = no size limit)",
    "polc_cloud_store_frames": "Frames held by the store",
    "polc_cloud_store_full": (
        "1 while the store's disk is full (frames are refused with store_full)"
    ),
    "polc_cloud_store_deleted_frames_total": "Frames deleted by retention",
}


class CloudMetrics:
    """Every metric the service exports, bound to one ``site`` label value."""

    def __init__(self, site: str = ""):
        self.registry = CollectorRegistry()
        r = self.registry
        self.site = site
        # process_* (memory, CPU, fds), python_gc_*, python_info: the usual process series
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        m = MetricFamilies(r, HELP, ["site"])
        self._frames_received = m.counter("polc_cloud_frames_received_total")
        self._frames_decoded = m.counter("polc_cloud_frames_decoded_total")
        self._frames_duplicate = m.counter("polc_cloud_frames_duplicate_total")
        self._frames_failed = m.counter("polc_cloud_frames_failed_total", "reason")
        self._bytes_received = m.counter("polc_cloud_received_bytes_total", "layer")
        self._bpp = m.histogram("polc_cloud_frame_bpp", BPP_BUCKETS)
        self._decode = m.histogram("polc_cloud_decode_duration_seconds", LATENCY_BUCKETS)
        self._inference = m.histogram("polc_cloud_inference_duration_seconds", LATENCY_BUCKETS)
        self._batch = m.histogram("polc_cloud_batch_size", BATCH_BUCKETS)
        self._queue = m.gauge("polc_cloud_batch_queue_frames")
        self._analysis_lag = m.gauge("polc_cloud_analysis_lag_seconds")
        self._analysis_queue = m.gauge("polc_cloud_analysis_queue_frames")
        self._analyzed = m.counter("polc_cloud_frames_analyzed_total")
        self._analysis_skipped = m.counter("polc_cloud_analysis_skipped_total")
        self._streams = m.gauge("polc_cloud_open_streams")
        self._streams_refused = m.counter("polc_cloud_streams_refused_total", "reason")
        self._ack = m.histogram("polc_cloud_ack_latency_seconds", LATENCY_BUCKETS)
        self._reconstruct = m.counter("polc_cloud_reconstruct_requests_total", "outcome")
        self._reconstruct_t = m.histogram(
            "polc_cloud_reconstruct_duration_seconds", LATENCY_BUCKETS
        )
        self._enh_requests = m.counter("polc_cloud_enhancement_requests_total", "outcome")
        self._store_bytes = m.gauge("polc_cloud_store_size_bytes")
        self._store_limit = m.gauge("polc_cloud_store_limit_bytes")
        self._store_frames = m.gauge("polc_cloud_store_frames")
        self._store_full = m.gauge("polc_cloud_store_full")
        self._retention = m.counter("polc_cloud_store_deleted_frames_total")
        self._server: WSGIServer | None = None

        # children of the per-frame series, resolved once (labels() takes a lock)
        self._received_c = self._frames_received.labels(site)
        self._base_bytes_c = self._bytes_received.labels(site, "base")
        self._enh_bytes_c = self._bytes_received.labels(site, "enhancement")
        self._decoded_c = self._frames_decoded.labels(site)
        self._bpp_c = self._bpp.labels(site)
        self._duplicate_c = self._frames_duplicate.labels(site)
        self._decode_c = self._decode.labels(site)
        self._ack_c = self._ack.labels(site)

    # one method per event keeps the label handling in one place
    def frame_received(self, base: int, enhancement: int) -> None:
        self._received_c.inc()
        self._base_bytes_c.inc(base)
        if enhancement:
            self._enh_bytes_c.inc(enhancement)

    def frame_stored(self, bpp: float) -> None:
        self._decoded_c.inc()
        self._bpp_c.observe(bpp)

    def frame_duplicate(self) -> None:
        self._duplicate_c.inc()

    def frame_failed(self, reason: str) -> None:
        self._frames_failed.labels(self.site, reason).inc()

    def enhancement_received(self, nbytes: int) -> None:
        self._bytes_received.labels(self.site, "enhancement").inc(nbytes)

    def decode_time(self, seconds: float) -> None:
        self._decode_c.observe(seconds)

    def inference_time(self, seconds: float) -> None:
        self._inference.labels(self.site).observe(seconds)

    def batch(self, size: int, _seconds: float) -> None:
        self._batch.labels(self.site).observe(size)

    def frame_analyzed(self) -> None:
        self._analyzed.labels(self.site).inc()

    def analysis_skipped(self) -> None:
        self._analysis_skipped.labels(self.site).inc()

    def analysis_backlog(self, frames: int, lag_seconds: float) -> None:
        self._analysis_queue.labels(self.site).set(frames)
        self._analysis_lag.labels(self.site).set(lag_seconds)

    def queue_depth(self, depth: int) -> None:
        self._queue.labels(self.site).set(depth)

    def streams(self, delta: int) -> None:
        self._streams.labels(self.site).inc(delta)

    def stream_refused(self, reason: str) -> None:
        self._streams_refused.labels(self.site, reason).inc()

    def store_full(self, full: bool) -> None:
        self._store_full.labels(self.site).set(1 if full else 0)

    def ack_latency(self, seconds: float) -> None:
        self._ack_c.observe(seconds)

    def reconstruct(self, outcome: str, seconds: float) -> None:
        self._reconstruct.labels(self.site, outcome).inc()
        self._reconstruct_t.labels(self.site).observe(seconds)

    def enhancement_request(self, outcome: str) -> None:
        self._enh_requests.labels(self.site, outcome).inc()

    def store(self, frames: int, nbytes: int, deleted: int = 0) -> None:
        self._store_frames.labels(self.site).set(frames)
        self._store_bytes.labels(self.site).set(nbytes)
        if deleted:
            self._retention.labels(self.site).inc(deleted)

    def store_limit(self, nbytes: int | None) -> None:
        self._store_limit.labels(self.site).set(nbytes or 0)

    def init_series(self) -> None:
        """Create every labelled series at zero so that dashboards see them from the start."""
        for reason in FAIL_REASONS:
            self._frames_failed.labels(self.site, reason)
        for reason in STREAM_REFUSALS:
            self._streams_refused.labels(self.site, reason)
        for layer in ("base", "enhancement"):
            self._bytes_received.labels(self.site, layer)
        for outcome in ("ok", "not_found", "invalid", "unavailable", "error"):
            self._reconstruct.labels(self.site, outcome)
        for outcome in ("uploaded", "unavailable", "timeout", "no_edge"):
            self._enh_requests.labels(self.site, outcome)
        for m in (
            self._frames_received,
            self._frames_decoded,
            self._frames_duplicate,
            self._bpp,
            self._decode,
            self._inference,
            self._batch,
            self._queue,
            self._streams,
            self._ack,
            self._reconstruct_t,
            self._store_bytes,
            self._store_limit,
            self._store_frames,
            self._store_full,
            self._retention,
            self._analysis_lag,
            self._analysis_queue,
            self._analyzed,
            self._analysis_skipped,
        ):
            m.labels(self.site)

    def serve(self, listen: str) -> int:
        """Start the ``/metrics`` HTTP server; returns the bound port."""
        self._server = serve_registry(self.registry, listen, strip_brackets=True)
        return self._server.server_port

    def stop(self) -> None:
        stop_server(self._server)
        self._server = None
