"""Prometheus series of search, events and notifications, on the service's registry
(:class:`~polc.cloud.metrics.CloudMetrics` owns it; the same ``site`` label)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from polc.cloud.metrics import LATENCY_BUCKETS

SEARCH_QUERIES = ("frames", "events", "event")


class ObservationMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, site: str = ""):
        r = registry if registry is not None else CollectorRegistry()
        s = ["site"]
        self._opened = Counter(
            "polc_cloud_events_opened", "Events (tracked objects) started", s, registry=r
        ).labels(site)
        self._closed = Counter(
            "polc_cloud_events_closed", "Events (tracked objects) ended", s, registry=r
        ).labels(site)
        search = Histogram(
            "polc_cloud_search_seconds",
            "Time to answer a search query (frames: SearchFrames, events: ListEvents, "
            "event: GetEvent)",
            [*s, "query"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._search = {q: search.labels(site, q) for q in SEARCH_QUERIES}
        self._watch_dropped = Counter(
            "polc_cloud_watch_dropped",
            "WatchResults subscribers dropped because they did not keep up",
            s,
            registry=r,
        ).labels(site)
        self._mqtt_published = Counter(
            "polc_cloud_mqtt_published",
            "MQTT messages handed to the broker connection",
            s,
            registry=r,
        ).labels(site)
        self._mqtt_dropped = Counter(
            "polc_cloud_mqtt_dropped",
            "MQTT messages dropped (publisher queue full or the client's queue full)",
            s,
            registry=r,
        ).labels(site)

    def events(self, opened: int, closed: int) -> None:
        self._opened.inc(opened)
        self._closed.inc(closed)

    def search_time(self, query: str, seconds: float) -> None:
        self._search[query].observe(seconds)

    def watch_dropped(self) -> None:
        self._watch_dropped.inc()

    def mqtt_published(self) -> None:
        self._mqtt_published.inc()

    def mqtt_dropped(self, n: int = 1) -> None:
        self._mqtt_dropped.inc(n)
