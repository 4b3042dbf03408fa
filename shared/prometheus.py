"""Declaring Prometheus metric families and serving a registry: what the edge and cloud share.

``MetricFamilies`` binds a registry, the help texts of a service's metrics (one table per
service: metric name -> help) and the labels every family carries (the cloud's ``site``; none
on the edge), so that each declaration is one call naming the metric and any extra label.
``serve_registry`` / ``stop_server`` run the ``/metrics`` HTTP endpoint of a registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from polc.shared.addresses import parse_host_port


class MetricFamilies:
    """Declares counters, gauges and histograms in one registry with common leading labels."""

    def __init__(
        self,
        registry: CollectorRegistry,
        help_texts: Mapping[str, str],
        labels: Sequence[str] = (),
    ):
        self.registry = registry
        self.help_texts = help_texts
        self.labels = tuple(labels)

    def counter(self, name: str, *extra_labels: str) -> Counter:
        labels = self.labels + extra_labels
        return Counter(name, self.help_texts[name], labels, registry=self.registry)

    def gauge(self, name: str, *extra_labels: str) -> Gauge:
        labels = self.labels + extra_labels
        return Gauge(name, self.help_texts[name], labels, registry=self.registry)

    def histogram(self, name: str, buckets: Sequence[float]) -> Histogram:
        doc = self.help_texts[name]
        return Histogram(name, doc, self.labels, buckets=buckets, registry=self.registry)


def serve_registry(registry: CollectorRegistry, listen: str, *, strip_brackets: bool) -> WSGIServer:
    """Start the ``/metrics`` HTTP server of ``registry`` on HOST:PORT (port 0 = a free port).

    ``strip_brackets`` binds an IPv6 literal given as ``[::1]`` without its brackets.
    """
    host, port = parse_host_port(listen, allow_port_zero=True, field="metrics_listen")
    server, _thread = start_http_server(
        port, host.strip("[]") if strip_brackets else host, registry=registry
    )
    return server


def stop_server(server: WSGIServer | None) -> None:
    """Shut a server from ``serve_registry`` down and close its socket (None: nothing to do)."""
    if server is not None:
        server.shutdown()
        server.server_close()
