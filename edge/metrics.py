"""Prometheus metrics of the edge node, in their own registry (served on ``metrics_listen``).

Naming follows Prometheus' rules: base units, ``_total`` counters, ``_seconds`` / ``_bytes``,
no per-camera labels (one edge process serves one camera).
"""

from __future__ import annotations

import time
from collections import deque
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from polc.shared.addresses import parse_host_port
from polc.shared.prometheus import MetricFamilies, serve_registry, stop_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Help text of every exported metric, by metric name.
HELP = {
    "polc_edge_frames_captured_total": "frames read from the source",
    "polc_edge_frames_encoded_total": "frames encoded and written to the spool",
    "polc_edge_key_frames_total": "encoded frames that are key frames (intra)",
    "polc_edge_frames_sent_total": "frames written to the uplink stream (resends included)",
    "polc_edge_frames_acked_total": "frames acknowledged by the cloud",
    "polc_edge_frames_dropped_total": "frames lost before the cloud stored them",
    "polc_edge_sent_bytes_total": "frame bytes written to the uplink stream",
    "polc_edge_uplink_reconnects_total": "uplink stream (re)connection attempts",
    "polc_edge_enhancement_uploads_total": "answers to the cloud's enhancement requests",
    "polc_edge_spool_frames": "frames in the spool (not acked)",
    "polc_edge_spool_bytes": "bytes of the spooled frames",
    "polc_edge_enhancement_kept_bytes": "bytes of enhancement layers kept for on-demand upload",
    "polc_edge_encode_latency_seconds": "time to encode one frame",
    "polc_edge_ack_latency_seconds": "capture to cloud acknowledgement",
    "polc_edge_uplink_bytes_per_second": "frame bytes sent over the last 10 s, per second",
    "polc_edge_alpha": "rate parameter α of the last encoded frame",
    "polc_edge_uplink_connected": "1 while the ingest stream is open",
}


class EdgeMetrics:
    """Every metric the edge exports; cheap to create (tests make one each)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        r = self.registry = registry or CollectorRegistry()
        m = MetricFamilies(r, HELP)
        self.captured = m.counter("polc_edge_frames_captured_total")
        self.encoded = m.counter("polc_edge_frames_encoded_total")
        self.key_frames = m.counter("polc_edge_key_frames_total")
        self.sent = m.counter("polc_edge_frames_sent_total")
        self.acked = m.counter("polc_edge_frames_acked_total")
        self.dropped = m.counter("polc_edge_frames_dropped_total", "reason")
        self.sent_bytes = m.counter("polc_edge_sent_bytes_total")
        self.reconnects = m.counter("polc_edge_uplink_reconnects_total")
        self.enhancement_uploads = m.counter("polc_edge_enhancement_uploads_total", "outcome")
        self.spool_frames = m.gauge("polc_edge_spool_frames")
        self.spool_bytes = m.gauge("polc_edge_spool_bytes")
        self.enhancement_bytes = m.gauge("polc_edge_enhancement_kept_bytes")
        self.encode_seconds = m.histogram("polc_edge_encode_latency_seconds", LATENCY_BUCKETS)
        self.ack_seconds = m.histogram("polc_edge_ack_latency_seconds", LATENCY_BUCKETS)
        self.bitrate = m.gauge("polc_edge_uplink_bytes_per_second")
        self.alpha = m.gauge("polc_edge_alpha")
        self.connected = m.gauge("polc_edge_uplink_connected")
        self._window: deque[tuple[float, int]] = deque()
        self._server: WSGIServer | None = None

    def observe_sent(self, nbytes: int, now: float | None = None) -> None:
        """Count a sent frame and update the sliding-window bitrate."""
        now = time.monotonic() if now is None else now
        self.sent.inc()
        self.sent_bytes.inc(nbytes)
        self._window.append((now, nbytes))
        while self._window and self._window[0][0] < now - 10.0:
            self._window.popleft()
        span = max(now - self._window[0][0], 1.0)
        self.bitrate.set(sum(b for _, b in self._window) / span)

    def observe_spool(self, spool) -> None:
        """Copy the spool's gauges (and its drop counters) into the registry."""
        self.spool_frames.set(spool.depth)
        self.spool_bytes.set(spool.bytes)
        self.enhancement_bytes.set(spool.enhancement_bytes)
        for reason, count in (
            ("spool_full", spool.dropped),  # over spool.max_bytes
            ("disk_full", spool.dropped_disk_full),
        ):  # no room on disk
            reported = self.dropped.labels(reason)._value.get()
            if count > reported:
                self.dropped.labels(reason).inc(count - reported)

    def serve(self, listen: str) -> str:
        """Start ``/metrics`` on HOST:PORT (port 0 = free port); returns the URL."""
        host, _port = parse_host_port(listen, allow_port_zero=True, field="metrics_listen")
        self._server = serve_registry(self.registry, listen, strip_brackets=False)
        return f"http://{host}:{self._server.server_port}/metrics"

    def close(self) -> None:
        stop_server(self._server)
        self._server = None
