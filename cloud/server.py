"""The cloud service process: wires config, codec, analyzer, store, batcher and gRPC.

    grpc.aio server ─ IngestService ─┐                      ┌─ FrameStore (SQLite + files)
     (TLS / mTLS,    ReconstructSvc ─┼─► servicers ─────────┤  or PostgreSQL + files
      max conn age)  QueryService ──┤   │                   ├─ OrderedDecoder, GroupCommitter
                     SearchService ─┘   │                   └─ AnalysisBacklog ─►
                     grpc.health.v1     └─ CloudMetrics        AnalysisWorker (analyzer) ─►
                     reflection            ─► /metrics         OperatorSurfaces: events,
                                                               live watchers, MQTT, console
                                                               (operator_surfaces.py)

Store full (no space for the layer files or the index): frames are refused with
RESOURCE_EXHAUSTED "store_full" (retryable), ``polc_cloud_store_full`` is 1 and the health
of ``polc.v1.IngestService`` is NOT_SERVING (the overall "" status and the query services
stay SERVING: stored frames can still be read). It is SERVING again as soon as a frame is
stored, or when the store's filesystem has space again (:mod:`polc.cloud.store_upkeep`,
which also runs the retention sweeps and the store gauges).

Shutdown (SIGTERM / SIGINT / :meth:`CloudServer.stop`): health NOT_SERVING, new RPCs
refused, ingest streams stop reading, finish their in-flight frames (acks go out) and end
with UNAVAILABLE; then the commits drain, the analysis worker finishes its batch and
releases the rest of its backlog (analysed after the next start, or by another replica),
and the store is flushed and closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import signal
from typing import TYPE_CHECKING

import grpc
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from polc.cloud.analysis.backlog import AnalysisBacklog
from polc.cloud.analysis.worker import AnalysisWorker
from polc.cloud.analyzer import build_analyzer
from polc.cloud.auth import Authenticator, server_credentials
from polc.cloud.commit import GroupCommitter
from polc.cloud.config import CloudConfig
from polc.cloud.ingest.decoding import OrderedDecoder
from polc.cloud.ingest.servicer import IngestServicer
from polc.cloud.ingest.session import EdgeRegistry
from polc.cloud.metrics import CloudMetrics
from polc.cloud.operator_surfaces import OperatorSurfaces
from polc.cloud.query_service import QueryServicer
from polc.cloud.reconstruct_service import ReconstructServicer
from polc.cloud.reconstructor import FrameReconstructor
from polc.cloud.reference_chain import ReferenceChain
from polc.cloud.search_service import SearchServicer
from polc.cloud.store import open_store
from polc.cloud.store.interface import FrameStore
from polc.cloud.store_upkeep import StoreUpkeep
from polc.shared.codec.runtime import Codec
from polc.shared.errors import ConfigError, ModelError
from polc.shared.models.weights_file import temporal_path_for
from polc.v1 import (
    ingest_pb2,
    ingest_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    reconstruct_pb2,
    reconstruct_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

if TYPE_CHECKING:  # aiohttp and paho are imported only when configured
    from polc.cloud.events.mqtt import MqttPublisher
    from polc.cloud.http.app import ConsoleServer

log = logging.getLogger(__name__)
INGEST_SERVICE = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
SERVICE_NAMES = (
    INGEST_SERVICE,
    reconstruct_pb2.DESCRIPTOR.services_by_name["ReconstructService"].full_name,
    query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
    search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name,
)


def grpc_options(config: CloudConfig) -> list[tuple[str, int]]:
    conn = config.connection
    options = [
        ("grpc.max_receive_message_length", config.ingest.transport_limit),
        ("grpc.max_send_message_length", 256 << 20),
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_time_ms", int(conn.keepalive_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 5000),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    if conn.max_connection_age_seconds is not None:
        options += [
            ("grpc.max_connection_age_ms", int(conn.max_connection_age_seconds * 1000)),
            ("grpc.max_connection_age_grace_ms", int(conn.max_connection_age_grace_seconds * 1000)),
        ]
    return options


class CloudServer:
    """One replica of the cloud service, run inside an asyncio event loop."""

    def __init__(self, config: CloudConfig, codec: Codec | None = None):
        self.config = config
        self.codec = codec
        self.port: int | None = None
        self.metrics_port: int | None = None
        self.http_port: int | None = None  # the console / JSON API (http.listen)
        self.metrics = CloudMetrics(config.site)
        self.store: FrameStore | None = None
        self.surfaces: OperatorSurfaces | None = None  # events, live, MQTT, console
        self.upkeep: StoreUpkeep | None = None  # retention, gauges, store-full state
        self._server: grpc.aio.Server | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        cfg = self.config
        torch.set_num_threads(cfg.codec.torch_threads)
        if self.codec is None:
            try:
                self.codec = Codec.load(
                    cfg.codec.weights,
                    cfg.codec.device,
                    cfg.codec.temporal_weights or temporal_path_for(cfg.codec.weights),
                )
            except (OSError, ModelError) as exc:
                raise ConfigError(f"config field 'codec.weights': {exc}") from exc
        codec = self.codec
        analyzer = build_analyzer(
            cfg.analyzer.kind,
            codec,
            cfg.analyzer.teacher_weights,
            cfg.analyzer.top_k,
            cfg.analyzer.adapter_weights,
            cfg.analyzer.detector_weights,
            cfg.analyzer.detector_adapter_weights,
            cfg.analyzer.detection,
        )
        auth = Authenticator(cfg.auth)
        if not auth.enabled:
            log.warning(
                "auth is OFF (no tokens configured): every caller may ingest, query and reconstruct"
            )
        if not cfg.tls.enabled:
            log.warning("TLS is off: traffic and tokens travel in plaintext")
        dsn = cfg.store.postgres_dsn
        self.store = open_store(
            cfg.store.path,
            cfg.store.synchronous,
            backend=cfg.store.backend,
            postgres_dsn=dsn.get_secret_value() if dsn else None,
            pool_size=cfg.store.postgres_pool_size,
        )
        self._io = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="store")
        self._codec_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="reconstruct"
        )
        b = cfg.batching
        store = self.store
        registry = EdgeRegistry()
        decoder = backlog = None
        self.analysis: AnalysisWorker | None = None
        # what the analysis saw: events (tracker), live watchers and MQTT, search queries
        surfaces = self.surfaces = OperatorSurfaces(cfg, store, self.metrics, self._io)
        surfaces.start()
        if cfg.analyzer.decode:
            self._decode_pool = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="decode"
            )
            decoder = OrderedDecoder(
                codec, self.metrics, self._decode_pool, ReferenceChain(codec, store)
            )
            backlog = AnalysisBacklog(
                store,
                self._io,
                capacity=b.max_queue_frames,
                lease_s=cfg.analyzer.lease_seconds,
                on_depth=self.metrics.queue_depth,
            )
            self.analysis = AnalysisWorker(
                codec=codec,
                analyzer=analyzer,
                store=store,
                backlog=backlog,
                current_stream=registry.sessions.get,
                metrics=self.metrics,
                io=self._io,
                max_batch_size=b.max_batch_size,
                max_queue_delay_s=b.max_queue_delay_ms / 1000,
                on_results=surfaces.live.results,
            )
            self.analysis.start()
        # bounded by the ack windows: every frame waiting here holds a window slot
        self.committer = GroupCommitter(store.put_many)
        self.ingest = IngestServicer(
            codec=codec,
            store=self.store,
            committer=self.committer,
            decoder=decoder,
            backlog=backlog,
            auth=auth,
            metrics=self.metrics,
            settings=cfg.ingest,
            registry=registry,
            server_id=cfg.server_id,
            io_executor=self._io,
            codec_executor=self._codec_pool,
        )
        self.registry = registry
        self.reconstructor = FrameReconstructor(
            codec=codec,
            store=self.store,
            metrics=self.metrics,
            registry=registry,
            settings=cfg.ingest,
            io_executor=self._io,
            codec_executor=self._codec_pool,
        )
        reconstruct = ReconstructServicer(
            reconstructor=self.reconstructor, auth=auth, metrics=self.metrics
        )
        query = QueryServicer(store=self.store, auth=auth, registry=registry, io_executor=self._io)
        search = SearchServicer(
            queries=surfaces.queries,
            hub=surfaces.hub,
            auth=auth,
            io_executor=self._io,
            metrics=surfaces.metrics,
            watch_queue=cfg.events.watch_queue,
        )
        server = grpc.aio.server(options=grpc_options(cfg))
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(self.ingest, server)
        reconstruct_pb2_grpc.add_ReconstructServiceServicer_to_server(reconstruct, server)
        query_pb2_grpc.add_QueryServiceServicer_to_server(query, server)
        search_pb2_grpc.add_SearchServiceServicer_to_server(search, server)
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        upkeep = self.upkeep = StoreUpkeep(
            cfg.store, store, self.metrics, self._io, self.ingest.frames, self._set_ingest_serving
        )
        reflection.enable_server_reflection(
            (
                *SERVICE_NAMES,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        creds = server_credentials(cfg.tls)
        try:
            port = (
                server.add_secure_port(cfg.listen, creds)
                if creds is not None
                else server.add_insecure_port(cfg.listen)
            )
        except RuntimeError as exc:
            raise ConfigError(f"config field 'listen': cannot bind {cfg.listen}: {exc}") from exc
        if not port:
            raise ConfigError(f"config field 'listen': cannot bind {cfg.listen}")
        self.port = port
        await server.start()
        self._server = server
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.metrics.init_series()
        upkeep.start()
        if cfg.metrics_listen:
            try:
                self.metrics_port = self.metrics.serve(cfg.metrics_listen)
            except OSError as exc:
                await self.stop(0)
                raise ConfigError(
                    f"config field 'metrics_listen': cannot bind "
                    f"{cfg.metrics_listen}: {exc.strerror}"
                ) from exc
        if cfg.http.listen:
            try:
                self.http_port = await surfaces.start_console(registry, self.reconstructor, auth)
            except ConfigError:
                await self.stop(0)
                raise
        # torch, the codec and the analyzer leave ~0.5 M long-lived objects behind; every
        # full collection would walk them all (~0.3 s each, under ingest load a few per
        # 10 s: a quarter of the event loop's time and its p99 latency). Frozen, they are
        # never scanned again; new garbage is collected as usual.
        gc.freeze()
        log.info(
            "polc cloud serving on %s (port %d, %s), metrics on %s, console on %s, store %s, "
            "model %s",
            cfg.listen,
            port,
            "TLS" if creds else "plaintext",
            cfg.metrics_listen or "off",
            cfg.http.listen or "off",
            cfg.store.path,
            codec.fingerprint,
        )

    @property
    def http(self) -> ConsoleServer | None:
        """The console / JSON API server (None: ``http.listen`` unset)."""
        return self.surfaces.http if self.surfaces is not None else None

    @property
    def mqtt(self) -> MqttPublisher | None:
        """The MQTT publisher (None: ``mqtt.enabled`` off)."""
        return self.surfaces.mqtt if self.surfaces is not None else None

    async def _set_ingest_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse
        await self.health.set(INGEST_SERVICE, status.SERVING if serving else status.NOT_SERVING)

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown (see the module docstring)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.config.connection.shutdown_grace_seconds if grace is None else grace
        log.info("shutting down (grace %.1f s)", grace)
        if self.upkeep is not None:
            self.upkeep.stop()
        if self.surfaces is not None:
            await self.surfaces.stop_console()
        if self._server is not None:
            await self.health.enter_graceful_shutdown()
            self.ingest.begin_shutdown()
            await self._server.stop(grace)
        if hasattr(self, "committer"):
            await self.committer.close()
        analysis = getattr(self, "analysis", None)
        if analysis is not None:
            await analysis.close()
        if self.surfaces is not None:
            await self.surfaces.close()  # ends the live events (stored, watchers, MQTT)
        if hasattr(self, "_decode_pool"):
            self._decode_pool.shutdown(wait=True)
        if hasattr(self, "_io"):
            self._io.shutdown(wait=True)
            self._codec_pool.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
        self.metrics.stop()
        log.info("shut down")

    async def wait(self) -> None:
        await self._stopped.wait()
        if self._server is not None:
            await self._server.wait_for_termination()


async def serve(config: CloudConfig) -> None:
    """Run until SIGINT / SIGTERM, then shut down gracefully."""
    server = CloudServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
