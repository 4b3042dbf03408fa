"""Prometheus metrics of the edge node, in their own registry (served on ``metrics_listen``).

Naming follows Prometheus' rules: base units, ``_total`` counters, ``_seconds`` / ``_bytes``,
no per-camera labels (one edge process serves one camera).
"""

from __future__ import annotations

import time
from collections import deque
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from polc.shared.addresses import parse_host_port

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EdgeMetrics:
    """Every metric the edge exports; cheap to create (tests make one each)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        r = self.registry = registry or CollectorRegistry()
        self.captured = Counter(
            "polc_edge_frames_captured_total", "frames read from the source", registry=r
        )
        self.encoded = Counter(
            "polc_edge_frames_encoded_total", "frames encoded and written to the spool", registry=r
        )
        self.key_frames = Counter(
            "polc_edge_key_frames_total", "encoded frames that are key frames (intra)", registry=r
        )
        self.sent = Counter(
            "polc_edge_frames_sent_total",
            "frames written to the uplink stream (resends included)",
            registry=r,
        )
        self.acked = Counter(
            "polc_edge_frames_acked_total", "frames acknowledged by the cloud", registry=r
        )
        self.dropped = Counter(
            "polc_edge_frames_dropped_total",
            "frames lost before the cloud stored them",
            ["reason"],
            registry=r,
        )
        self.sent_bytes = Counter(
            "polc_edge_sent_bytes_total", "frame bytes written to the uplink stream", registry=r
        )
        self.reconnects = Counter(
            "polc_edge_uplink_reconnects_total", "uplink stream (re)connection attempts", registry=r
        )
        self.enhancement_uploads = Counter(
            "polc_edge_enhancement_uploads_total",
            "answers to the cloud's enhancement requests",
            ["outcome"],
            registry=r,
        )
        self.spool_frames = Gauge(
            "polc_edge_spool_frames", "frames in the spool (not acked)", registry=r
        )
        self.spool_bytes = Gauge("polc_edge_spool_bytes", "bytes of the spooled frames", registry=r)
        self.enhancement_bytes = Gauge(
            "polc_edge_enhancement_kept_bytes",
            "bytes of enhancement layers kept for on-demand upload",
            registry=r,
        )
        self.encode_seconds = Histogram(
            "polc_edge_encode_latency_seconds",
            "time to encode one frame",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ack_seconds = Histogram(
            "polc_edge_ack_latency_seconds",
            "capture to cloud acknowledgement",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bitrate = Gauge(
            "polc_edge_uplink_bytes_per_second",
            "frame bytes sent over the last 10 s, per second",
            registry=r,
        )
        self.alpha = Gauge(
            "polc_edge_alpha", "rate parameter α of the last encoded frame", registry=r
        )
        self.connected = Gauge(
            "polc_edge_uplink_connected", "1 while the ingest stream is open", registry=r
        )
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
        host, port = parse_host_port(listen, allow_port_zero=True, field="metrics_listen")
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return f"http://{host}:{server.server_port}/metrics"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
