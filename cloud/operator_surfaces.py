"""What operators see of the analysis besides the gRPC query services: events, live
updates, MQTT, the search queries and the HTTP JSON API / web console.

    AnalysisWorker ─► LiveResults ─┬─► EventRecorder (tracker → events in the store)
      (on_results)                 └─► LiveHub ─► WatchResults, console /api/live, MQTT
    SearchQueries ─► SearchService, console     ConsoleServer (aiohttp, ``http.listen``)

Built before the analysis starts (its results go to :attr:`OperatorSurfaces.live`); the
console starts once gRPC serves. On shutdown the console stops first (with the gRPC server),
the live results and MQTT end after the analysis finished its last batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING

from polc.cloud.auth import Authenticator
from polc.cloud.config import CloudConfig
from polc.cloud.events.hub import LiveHub
from polc.cloud.events.live import LiveResults
from polc.cloud.events.metrics import ObservationMetrics
from polc.cloud.events.recorder import EventRecorder
from polc.cloud.ingest.session import EdgeRegistry
from polc.cloud.metrics import CloudMetrics
from polc.cloud.reconstructor import FrameReconstructor
from polc.cloud.search.queries import SearchQueries
from polc.cloud.store.interface import FrameStore

if TYPE_CHECKING:  # aiohttp and paho are imported only when configured
    from polc.cloud.events.mqtt import MqttPublisher
    from polc.cloud.http.app import ConsoleServer


class OperatorSurfaces:
    """Events, live updates, MQTT, search queries and the console of one replica."""

    def __init__(
        self,
        config: CloudConfig,
        store: FrameStore,
        metrics: CloudMetrics,
        io: concurrent.futures.Executor,
    ):
        self.config, self.store, self.cloud_metrics, self.io = config, store, metrics, io
        self.metrics = ObservationMetrics(metrics.registry, config.site)
        self.hub = LiveHub()
        ev = config.events
        recorder = EventRecorder(
            store,
            self.metrics,
            iou_threshold=ev.iou_threshold,
            min_score=ev.min_score,
            end_after_frames=ev.end_after_frames,
            end_after_s=ev.end_after_seconds,
            min_hits=ev.min_hits,
            track=ev.enabled,
        )
        self.live = LiveResults(recorder, self.hub, io)
        self.queries = SearchQueries(store, self.metrics)
        self.mqtt: MqttPublisher | None = None
        self.http: ConsoleServer | None = None

    def start(self) -> None:
        """The live results and, when configured, the MQTT publisher."""
        self.live.start()
        if self.config.mqtt.enabled:
            from polc.cloud.events.mqtt import MqttPublisher  # paho: only when configured

            self.mqtt = MqttPublisher(self.config.mqtt, self.config.server_id, self.metrics)
            self.mqtt.start()
            self.hub.subscribe(self.mqtt)

    async def start_console(
        self, registry: EdgeRegistry, reconstructor: FrameReconstructor, auth: Authenticator
    ) -> int:
        """The JSON API and web console (``http.listen``) in this event loop: its port
        (ConfigError when it cannot bind)."""
        from polc.cloud.http.app import ConsoleServer  # aiohttp: only when configured
        from polc.cloud.http.context import ConsoleContext

        self.http = ConsoleServer(
            ConsoleContext(
                config=self.config,
                store=self.store,
                queries=self.queries,
                hub=self.hub,
                registry=registry,
                reconstructor=reconstructor,
                auth=auth,
                metrics=self.cloud_metrics,
                io=self.io,
            )
        )
        return await self.http.start()

    async def stop_console(self) -> None:
        if self.http is not None:
            await self.http.stop()

    async def close(self) -> None:
        """End the live events (stored, watchers, MQTT), then the MQTT publisher."""
        await self.live.close()
        if self.mqtt is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.mqtt.close)
