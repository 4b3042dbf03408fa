"""MQTT notifications (paho-mqtt): events and object counts for home-automation and
alerting systems, never in the way of ingest.

Topics (``<prefix>`` = ``mqtt.topic_prefix``, default ``polc``; QoS 1):

    <prefix>/available            "online" / "offline" (retained; "offline" is the last will)
    <prefix>/events               JSON {"type": "new" | "update" | "end", "event": {...}}
    <prefix>/<camera>/<class>     current number of <class> objects in the camera's latest
                                  analysed frame (retained; 0 once they are gone)
    <prefix>/<camera>/results     the frame's results as JSON (``mqtt.publish_results``)

    LiveHub.publish ─► offer(): bounded queue (full: dropped, counted) ─► publisher thread
        ─► paho client.publish (its own bounded queue) ─► paho network thread ─► broker

``offer`` runs on the event loop and never waits. The network thread reconnects by itself
(1 s … 30 s backoff); QoS-1 messages published while the broker is away wait in paho's
queue (at most ``queue_size``) and go out after the reconnect.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import ssl
import threading
from dataclasses import asdict

import paho.mqtt.client as paho

from polc.cloud.config import MqttSettings
from polc.cloud.events.hub import FrameUpdate, LiveUpdate
from polc.cloud.events.metrics import ObservationMetrics

log = logging.getLogger(__name__)
QOS = 1
_KIND = {"start": "new", "update": "update", "end": "end"}


class MqttPublisher:
    """A LiveHub subscriber that publishes to an MQTT broker (see the module docstring)."""

    cameras: frozenset[str] = frozenset()  # every camera

    def __init__(self, settings: MqttSettings, server_id: str, metrics: ObservationMetrics):
        self.settings, self.metrics = settings, metrics
        self.prefix = settings.topic_prefix.rstrip("/")
        self.available_topic = f"{self.prefix}/available"
        self._queue: queue.Queue[LiveUpdate | None] = queue.Queue(settings.queue_size)
        self._counts: dict[str, dict[str, int]] = {}  # camera -> class -> last count sent
        self.connected = threading.Event()
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id or f"polc-cloud-{server_id}",
            clean_session=True,
        )
        if settings.username:
            password = os.environ.get(settings.password_env) if settings.password_env else None
            client.username_pw_set(settings.username, password)
        if settings.tls:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.will_set(self.available_topic, "offline", qos=QOS, retain=True)
        client.max_queued_messages_set(settings.queue_size)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.client = client
        self._thread = threading.Thread(target=self._run, name="mqtt-publish", daemon=True)

    def start(self) -> None:
        s = self.settings
        self.client.connect_async(s.host, s.port, keepalive=s.keepalive_seconds)
        self.client.loop_start()  # the network thread: connects, reconnects, sends
        self._thread.start()

    # -- LiveHub subscriber -------------------------------------------------------------------
    def offer(self, update: LiveUpdate) -> bool:
        try:
            self._queue.put_nowait(update)
        except queue.Full:
            self.metrics.mqtt_dropped()
        return True  # never unsubscribed: a full queue drops messages, not the publisher

    def drop(self) -> None:  # (the hub never drops it: offer always accepts)
        pass

    # -- publishing ---------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason_code)
            return
        log.info("MQTT connected to %s:%d", self.settings.host, self.settings.port)
        client.publish(self.available_topic, "online", qos=QOS, retain=True)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if reason_code != 0:
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _publish(self, topic: str, payload: str, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            self.metrics.mqtt_published()  # NO_CONN: queued, sent after the reconnect
        else:
            self.metrics.mqtt_dropped()

    def _run(self) -> None:
        while True:
            update = self._queue.get()
            if update is None:
                return
            try:
                if isinstance(update, FrameUpdate):
                    self._frame(update)
                else:
                    payload = {"type": _KIND[update.kind], "event": update.event.to_dict()}
                    self._publish(f"{self.prefix}/events", json.dumps(payload))
            except Exception:
                log.exception("publishing to MQTT failed")

    def _frame(self, update: FrameUpdate) -> None:
        counts: dict[str, int] = {}
        for d in update.result.detections:
            counts[d.label] = counts.get(d.label, 0) + 1
        last = self._counts.setdefault(update.camera_id, {})
        for label in sorted(set(counts) | set(last)):
            n = counts.get(label, 0)
            if last.get(label) != n:
                self._publish(f"{self.prefix}/{update.camera_id}/{label}", str(n), retain=True)
                last[label] = n
        if self.settings.publish_results:
            body = {"seq": update.seq, "capture_time_us": update.capture_time_us}
            body.update(asdict(update.result))
            self._publish(f"{self.prefix}/{update.camera_id}/results", json.dumps(body))

    def close(self, timeout: float = 5.0) -> None:
        """Publish what is queued (waiting up to ``timeout`` for the broker), go offline."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self.connected.is_set():
            self.client.publish(self.available_topic, "offline", qos=QOS, retain=True)
            waited = 0.0
            while self.client.want_write() and waited < timeout:
                threading.Event().wait(0.05)
                waited += 0.05
        self.client.disconnect()
        self.client.loop_stop()
