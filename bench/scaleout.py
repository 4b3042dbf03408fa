"""Local scale-out test: edges → nginx (L7 gRPC balancer) → 3 cloud replicas sharing
PostgreSQL and one blob directory; one replica is SIGKILLed mid-run.

    edge 0..N-1 ──┐                          ┌─► replica 0 ─┐
    (resend every ├─► nginx grpc_pass ───────┼─► replica 1 ─┼─► PostgreSQL (index, UNIQUE)
     unacked frame│   round robin per stream └─► replica 2 ─┘   blobs/segments (shared dir)
     on reconnect)┘                                ▲
                                       SIGKILL once `--kill-at` of the frames are acked

Each replica is a real `python -m polc.shared.cli cloud serve` process (postgres backend,
small test codec + random-init teacher, so results exist without bundled weights). Each
edge is, by default (``--client stub``), a minimal client of the generated `polc.v1` stubs
that keeps every frame until it is acknowledged and resends the unacknowledged ones on a new
stream after an error; ``--client uplink`` runs the edge node's own `polc.edge.uplink.Uplink`
over a `polc.edge.spool.Spool` instead. At the end the database must hold every frame of
every edge exactly once, with an analyzer result, and each row's layer must read back
byte-identical from the blob directory.

Reports frames/s (unique frames stored ÷ wall time of the streaming phase), the reconnect
gap (last ack before a stream error → first ack on the new stream, p50 / max over every
reconnect) and how long after the kill the first reconnected edge was acked again.
``--restart-after S`` starts the killed replica again and ``--max-connection-age S`` makes
the replicas end streams periodically, so that the edges spread over the replicas again
(the open streams per replica are reported).

Needs `nginx` (Debian package) on PATH and a PostgreSQL server: ``--dsn`` or the environment
variable ``POLC_TEST_POSTGRES_DSN`` (a fresh schema is created and dropped). Short by default
(4 edges × 100 frames); acceptance: ``--edges 16 --frames 400``; rebalancing:
``--edges 16 --frames 240 --fps 8 --restart-after 2 --max-connection-age 5``.

    python -m polc.bench.scaleout [--edges 16 --frames 400] [--client uplink] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

DSN_ENV = "POLC_TEST_POSTGRES_DSN"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--edges", type=int, default=4, help="edge clients (cameras)")
    p.add_argument("--frames", type=int, default=100, help="frames per edge")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--fps", type=float, default=0.0,
                   help="capture rate per edge (0 = as fast as the window allows)")
    p.add_argument("--kill-at", type=float, default=0.4,
                   help="SIGKILL the busiest replica once this fraction of frames is acked "
                        "(0 = no kill)")
    p.add_argument("--restart-after", type=float, default=0.0,
                   help="start the killed replica again this many seconds after the kill")
    p.add_argument("--max-connection-age", type=float, default=0.0,
                   help="replicas' connection.max_connection_age_seconds (0 = off): streams "
                        "end periodically and rebalance through nginx")
    p.add_argument("--window", type=int, default=16, help="frames in flight per stream")
    p.add_argument("--size", default="128x96", help="frame size WxH")
    p.add_argument("--client", choices=["stub", "uplink"], default="stub",
                   help="stub: minimal client of the polc.v1 stubs; uplink: the edge node's "
                        "Uplink + Spool (polc.edge)")
    p.add_argument("--dsn", default=None, help=f"PostgreSQL DSN (default: ${DSN_ENV})")
    p.add_argument("--workdir", default=None, help="keep logs, configs and blobs here")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this long")
    p.add_argument("--json", default=None, help="write the results here")


# -- fixtures: codec, teacher, frames --------------------------------------------------------
def make_small_codec(path: Path) -> Path:
    """A small untrained codec exported like the shipped one (as in tests/conftest.py): the
    bundled weights may not exist yet, and a small model keeps the run cheap."""
    import torch

    from polc.shared.codec.config import ArchitectureConfig
    from polc.shared.codec.export import export_codec
    from polc.shared.models.codec.model import RDCCodec

    torch.manual_seed(0)
    model = RDCCodec(ArchitectureConfig(N=16, M=24, aux_channels=8, levels=6,
                                        residual_channels=8))
    with torch.no_grad():
        model.gain_y.log_gain.copy_(torch.linspace(0.0, 4.0, 6)[:, None].repeat(1, 24))
    torch.save(export_codec(model, {"bench": "scaleout"}), path)
    return path


def make_small_teacher(path: Path) -> Path:
    """A random-init teacher in training/teacher.py's format (so every frame gets a result)."""
    import torch

    from polc.shared.data import CLASSES
    from polc.shared.models.vision.backbone import SmallResNet

    widths = [8, 8, 16, 16]
    torch.manual_seed(1)
    model = SmallResNet(len(CLASSES), tuple(widths)).eval()
    torch.save({"state_dict": model.state_dict(), "widths": widths, "classes": list(CLASSES),
                "held_out_top1": 0.0}, path)
    return path


def encode_frames(codec_file: Path, size: str, n: int = 4) -> list[bytes]:
    from polc.shared.codec.runtime import Codec

    codec = Codec.load(codec_file)
    width, height = (int(v) for v in size.lower().split("x"))
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        img = np.stack([(xx * 2 + k * 9) % 256, (yy * 3) % 256, (xx + yy + k * 31) % 256], -1)
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        out.append(codec.encode(img, 0.5))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_schema(dsn: str):
    """A fresh schema on the server of ``dsn``, dropped afterwards; yields the DSN using it."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"polc_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield make_conninfo(dsn, options=f"-c search_path={schema}")
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


# -- processes: replicas and nginx -------------------------------------------------------------
@dataclass
class Replica:
    index: int
    port: int
    metrics_port: int
    proc: subprocess.Popen
    log: Path

    def open_streams(self) -> float:
        try:
            text = urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).read().decode()
        except OSError:
            return -1.0
        for line in text.splitlines():
            if line.startswith("polc_cloud_open_streams{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start_replica(index: int, workdir: Path, dsn: str, codec: Path, teacher: Path,
                  window: int, max_age: float = 0.0, ports: tuple[int, int] | None = None
                  ) -> Replica:
    import yaml

    port, mport = ports or (free_port(), free_port())
    cfg = {"listen": f"127.0.0.1:{port}", "metrics_listen": f"127.0.0.1:{mport}",
           "site": "scaleout", "server_id": f"replica-{index}", "log_level": "warning",
           "codec": {"weights": str(codec), "torch_threads": 1},
           "analyzer": {"kind": "pixel-teacher", "teacher_weights": str(teacher)},
           "store": {"backend": "postgres", "path": str(workdir / "blobs"),
                     "postgres_pool_size": 4},
           "batching": {"max_batch_size": 16, "max_queue_delay_ms": 5},
           "ingest": {"window": window},
           "connection": {"shutdown_grace_seconds": 1}}
    if max_age > 0:  # streams end after this age (+ 2 s grace) and reconnect elsewhere
        cfg["connection"].update(max_connection_age_seconds=max_age,
                                 max_connection_age_grace_seconds=2)
    cfg_file = workdir / f"replica-{index}.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "POLC_CLOUD_STORE__POSTGRES_DSN": dsn, "OMP_NUM_THREADS": "1",
           "PYTHONUNBUFFERED": "1"}
    log = workdir / f"replica-{index}.log"
    if log.exists():  # a restarted replica: keep the first one's log
        log = workdir / f"replica-{index}-{int(time.time())}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "polc.shared.cli", "cloud", "serve", "--config", str(cfg_file)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return Replica(index, port, mport, proc, log)


def wait_serving(replicas: list[Replica], timeout: float) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    for r in replicas:
        with grpc.insecure_channel(f"127.0.0.1:{r.port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while True:
                if r.proc.poll() is not None:
                    raise RuntimeError(f"replica {r.index} exited:\n{r.log.read_text()[-2000:]}")
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        break
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica {r.index} not serving after {timeout:.0f} s")
                time.sleep(0.2)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-tmp/body;
    proxy_temp_path {work}/nginx-tmp/proxy;
    fastcgi_temp_path {work}/nginx-tmp/fastcgi;
    uwsgi_temp_path {work}/nginx-tmp/uwsgi;
    scgi_temp_path {work}/nginx-tmp/scgi;
    upstream polc_cloud {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port} http2;
        client_max_body_size 0;          # a gRPC stream is one endless request body
        client_body_timeout 1h;
        keepalive_requests 1000000;      # streams per client connection
        location / {{
            grpc_pass grpc://polc_cloud;
            grpc_read_timeout 1h;
            grpc_send_timeout 1h;
            grpc_socket_keepalive on;
            grpc_next_upstream error timeout;  # a dead replica: try the next one
            grpc_next_upstream_tries 3;
        }}
    }}
}}
"""


def start_nginx(workdir: Path, replicas: list[Replica]) -> tuple[subprocess.Popen, int]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if nginx is None:
        raise RuntimeError("nginx not found: apt-get install nginx")
    port = free_port()
    (workdir / "nginx-tmp").mkdir(exist_ok=True)
    servers = "\n".join(f"        server 127.0.0.1:{r.port} max_fails=1 fail_timeout=3s;"
                        for r in replicas)
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=workdir, servers=servers, port=port))
    proc = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf)],
                            stdout=(workdir / "nginx.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                logs = [workdir / "nginx.log", workdir / "nginx-error.log"]
                raise RuntimeError("nginx did not start:\n" + "".join(
                    p.read_text()[-2000:] for p in logs if p.exists())) from None
            time.sleep(0.1)


# -- the edges -------------------------------------------------------------------------------
@dataclass
class EdgeStats:
    camera: str
    acks: int = 0
    duplicates: int = 0
    results: set[int] = field(default_factory=set)
    errors: int = 0
    sessions: int = 0
    stream_failures: list[str] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)  # last ack before a failure → next ack
    first_ack_after: list[float] = field(default_factory=list)  # wall time of those acks


class Edge:
    """Keeps every frame until acked; a new stream resends the unacked ones in seq order."""

    def __init__(self, address: str, camera: str, frames: list[bytes], n: int, fps: float,
                 window: int):
        self.address, self.camera, self.frames, self.n = address, camera, frames, n
        self.fps, self.window = fps, window
        self.unacked: dict[int, None] = {}  # the "spool": captured, not yet acked (ordered)
        self.captured = 0
        self.stats = EdgeStats(camera)
        self.wake = asyncio.Event()
        self.last_ack = 0.0
        self.failed_at_last_ack: float | None = None

    async def capture(self) -> None:
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        start = time.monotonic()
        for seq in range(self.n):
            if period:
                await asyncio.sleep(max(0.0, start + seq * period - time.monotonic()))
            self.unacked[seq] = None
            self.captured += 1
            self.wake.set()
            if not period and len(self.unacked) > 4 * self.window:
                while len(self.unacked) > 2 * self.window:  # unpaced: stay ahead, bounded
                    self.wake.clear()
                    await self.wake.wait()

    async def run(self, deadline: float) -> None:
        from polc.v1 import ingest_pb2_grpc

        capture = asyncio.create_task(self.capture())
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            while self.captured < self.n or self.unacked:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.camera}: {len(self.unacked)} frames unacked")
                try:
                    await self._session(stub)
                    if not (self.captured < self.n or self.unacked):
                        break
                    failure = "ended"  # the server closed the stream cleanly
                except grpc.aio.AioRpcError as exc:
                    failure = exc.code().name
                self.stats.stream_failures.append(failure)
                if self.failed_at_last_ack is None:
                    self.failed_at_last_ack = self.last_ack
                await asyncio.sleep(0.1)  # then reconnect through the balancer
        await capture

    async def _session(self, stub) -> None:
        from polc.v1 import ingest_pb2

        self.stats.sessions += 1
        call = stub.Ingest()
        await call.write(ingest_pb2.IngestRequest(hello=ingest_pb2.Hello(
            camera_id=self.camera, edge_id=f"bench-{self.camera}")))
        first = await call.read()
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "hello_ack":
            raise RuntimeError(f"{self.camera}: no HelloAck")
        window = min(self.window, first.hello_ack.window or self.window)
        inflight: set[int] = set()
        sent: set[int] = set()
        retry: deque[int] = deque()

        async def reader() -> None:
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    return
                kind = msg.WhichOneof("kind")
                if kind == "ack":
                    seq = msg.ack.seq
                    now = time.monotonic()
                    if self.failed_at_last_ack is not None:
                        self.stats.gaps.append(now - self.failed_at_last_ack)
                        self.stats.first_ack_after.append(time.time())
                        self.failed_at_last_ack = None
                    self.last_ack = now
                    self.stats.acks += 1
                    self.stats.duplicates += msg.ack.duplicate
                    self.unacked.pop(seq, None)
                    inflight.discard(seq)
                elif kind == "result":
                    self.stats.results.add(msg.result.seq)
                elif kind == "error":
                    self.stats.errors += 1
                    inflight.discard(msg.error.seq)
                    if msg.error.retryable:
                        retry.append(msg.error.seq)
                    else:  # not expected here: count it and drop the frame
                        self.unacked.pop(msg.error.seq, None)
                self.wake.set()

        read_task = asyncio.create_task(reader())
        try:
            while self.captured < self.n or self.unacked:
                if read_task.done():
                    break
                todo = [s for s in self.unacked if s not in sent] + list(retry)
                retry.clear()
                if not todo or len(inflight) >= window:
                    self.wake.clear()
                    waiter = asyncio.create_task(self.wake.wait())
                    await asyncio.wait({waiter, read_task}, return_when="FIRST_COMPLETED")
                    waiter.cancel()
                    continue
                for seq in todo[: window - len(inflight)]:
                    frame = ingest_pb2.Frame(camera_id=self.camera, seq=seq,
                                             base_layer=self.frames[seq % len(self.frames)])
                    frame.capture_time.FromMicroseconds(1_700_000_000_000_000 + seq * 40_000)
                    sent.add(seq)
                    inflight.add(seq)
                    try:
                        await call.write(ingest_pb2.IngestRequest(frame=frame))
                    except asyncio.InvalidStateError:  # the call ended: the reader has why
                        break
            if not read_task.done():
                with contextlib.suppress(asyncio.InvalidStateError):
                    await call.done_writing()
            await read_task  # raises AioRpcError when the stream failed
        finally:
            if not read_task.done():
                read_task.cancel()
                call.cancel()


class UplinkEdge:
    """The project's edge uplink (`polc.edge.uplink.Uplink` over a `polc.edge.spool.Spool`)
    instead of the minimal client: what a real edge node does, minus capture and encoding."""

    def __init__(self, address: str, camera: str, frames: list[bytes], n: int, fps: float,
                 window: int, spool_dir: Path):
        from polc.edge.config import UplinkSettings
        from polc.edge.spool import Spool
        from polc.edge.uplink import Uplink

        self.camera, self.frames, self.n, self.fps, self.window = camera, frames, n, fps, window
        self.spool = Spool(spool_dir / camera, camera, fsync=False)
        settings = UplinkSettings(server=address, max_window=window,
                                  backoff_initial_seconds=0.1, backoff_max_seconds=1.0)
        self.uplink = Uplink(settings, self.spool, edge_id=f"bench-{camera}",
                             on_ack=self._on_ack, on_result=self._on_result)
        self.stats = EdgeStats(camera)
        self.captured = 0
        self.last_ack = 0.0
        self._sessions_seen = 0.0

    def _on_ack(self, info) -> None:
        now = time.monotonic()
        sessions = self.uplink.metrics.reconnects._value.get()
        if self._sessions_seen and sessions > self._sessions_seen:  # first ack after a reconnect
            self.stats.gaps.append(now - self.last_ack)
            self.stats.first_ack_after.append(time.time())
            self.stats.stream_failures.append("reconnect")
        self._sessions_seen = sessions
        self.last_ack = now
        self.stats.acks += 1
        self.stats.duplicates += info.duplicate

    def _on_result(self, result) -> None:
        self.stats.results.add(result.seq)

    async def run(self, deadline: float) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(self.uplink.run(stop))
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        start = time.monotonic()
        for k in range(self.n):
            if period:
                await asyncio.sleep(max(0.0, start + k * period - time.monotonic()))
            while not period and self.spool.depth > 2 * self.window:
                await asyncio.sleep(0.005)
            seq = self.spool.next_seq
            self.spool.append(time.time_ns(), 0.5, self.frames[seq % len(self.frames)])
            self.captured += 1
        while self.spool.depth and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.01)
        stop.set()
        await task
        if self.spool.depth:
            raise TimeoutError(f"{self.camera}: {self.spool.depth} frames unacked")


# -- verification ----------------------------------------------------------------------------
def verify(dsn: str, blobs: Path, cameras: list[str], n: int, frames: list[bytes]) -> dict:
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT camera_id, seq, result_json IS NOT NULL, base_segment, base_offset, "
            "base_bytes FROM frames WHERE camera_id = ANY(%s)", (cameras,)).fetchall()
    per: dict[tuple[str, int], int] = {}
    missing_result, corrupt = 0, 0
    for cam, seq, has_result, seg, off, length in rows:
        per[(cam, seq)] = per.get((cam, seq), 0) + 1
        missing_result += not has_result
        with open(blobs / "segments" / seg, "rb") as f:
            f.seek(off)
            corrupt += f.read(length) != frames[seq % len(frames)]
    expected = {(c, s) for c in cameras for s in range(n)}
    return {"rows": len(rows), "expected": len(expected),
            "lost": len(expected - per.keys()),
            "duplicated": sum(c - 1 for c in per.values() if c > 1),
            "unexpected": len(per.keys() - expected),
            "without_result": missing_result, "corrupt_layers": corrupt}


# -- the run ---------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    base_dsn = args.dsn or os.environ.get(DSN_ENV)
    if not base_dsn:
        print(f"scaleout: needs PostgreSQL: --dsn or ${DSN_ENV}", file=sys.stderr)
        return 2
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="polc-scaleout-")
    workdir = Path(args.workdir or tmp.name).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    schema_cm = postgres_schema(base_dsn)
    dsn = schema_cm.__enter__()
    replicas: list[Replica] = []
    nginx = None
    try:
        codec = make_small_codec(workdir / "codec.pt")
        teacher = make_small_teacher(workdir / "teacher.pt")
        frames = encode_frames(codec, args.size)
        t0 = time.monotonic()
        replicas = [start_replica(i, workdir, dsn, codec, teacher, args.window,
                                  args.max_connection_age) for i in range(args.replicas)]
        wait_serving(replicas, 120)
        startup = time.monotonic() - t0
        nginx, port = start_nginx(workdir, replicas)
        cameras = [f"scaleout-cam-{i:02d}" for i in range(args.edges)]
        address = f"127.0.0.1:{port}"
        edges = ([UplinkEdge(address, c, frames, args.frames, args.fps, args.window,
                             workdir / "spools") for c in cameras] if args.client == "uplink"
                 else [Edge(address, c, frames, args.frames, args.fps, args.window)
                       for c in cameras])
        killed: dict = {}

        async def killer() -> None:
            if args.kill_at <= 0:
                return
            total = args.edges * args.frames
            while sum(e.stats.acks for e in edges) < args.kill_at * total:
                await asyncio.sleep(0.01)
            victim = max(replicas, key=lambda r: r.open_streams())
            killed.update(replica=victim.index, streams=victim.open_streams(),
                          at=time.time(), acked=sum(e.stats.acks for e in edges))
            os.kill(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait()
            if args.restart_after > 0:
                await asyncio.sleep(args.restart_after)
                again = start_replica(victim.index, workdir, dsn, codec, teacher, args.window,
                                      args.max_connection_age,
                                      (victim.port, victim.metrics_port))
                await asyncio.to_thread(wait_serving, [again], 120)
                replicas[replicas.index(victim)] = again
                killed["restarted_after_s"] = round(time.time() - killed["at"], 2)

        samples: list[list[float]] = []
        finished: list[str] = []

        async def sampler() -> None:  # open streams per replica while every edge streams
            while not finished:
                sample = await asyncio.to_thread(lambda: [r.open_streams() for r in replicas])
                if not finished:
                    samples.append(sample)
                await asyncio.sleep(0.5)

        async def edge_run(edge, deadline: float) -> None:
            await edge.run(deadline)
            finished.append(edge.camera)

        async def main() -> float:
            start = time.monotonic()
            deadline = start + args.timeout
            kill_task = asyncio.create_task(killer())
            sample_task = asyncio.create_task(sampler())
            await asyncio.gather(*(edge_run(e, deadline) for e in edges))
            kill_task.cancel()
            sample_task.cancel()
            return time.monotonic() - start

        wall = asyncio.run(main())
        check = verify(dsn, workdir / "blobs", cameras, args.frames, frames)
        gaps = [g for e in edges for g in e.stats.gaps]
        after_kill = [t - killed["at"] for e in edges for t in e.stats.first_ack_after
                      if t >= killed["at"]] if killed else []
        result = {
            "client": args.client,
            "edges": args.edges, "frames_per_edge": args.frames, "replicas": args.replicas,
            "fps_per_edge": args.fps, "window": args.window, "size": args.size,
            "frame_bytes": len(frames[0]), "replica_startup_seconds": round(startup, 2),
            "wall_seconds": round(wall, 3),
            "frames_per_second": round(check["rows"] / wall, 1),
            "killed": {k: v for k, v in killed.items() if k != "at"} or None,
            "max_connection_age_s": args.max_connection_age or None,
            "streams_per_replica_last": samples[-1] if samples else None,
            "reconnected_edges": sum(bool(e.stats.stream_failures) for e in edges),
            "reconnects": sum(len(e.stats.gaps) for e in edges),
            "stream_failures": sorted({c for e in edges for c in e.stats.stream_failures}),
            "reconnect_gap_p50_s": round(statistics.median(gaps), 3) if gaps else None,
            "reconnect_gap_max_s": round(max(gaps), 3) if gaps else None,
            "first_ack_after_kill_s": round(min(after_kill), 3) if after_kill else None,
            "acks": sum(e.stats.acks for e in edges),
            "duplicate_acks": sum(e.stats.duplicates for e in edges),
            # a resend acked as duplicate gets no FrameResult (the result is in the store)
            "edge_results_not_received": sum(args.frames - len(e.stats.results)
                                             for e in edges),
            "frame_errors": sum(e.stats.errors for e in edges),
            **{f"store_{k}": v for k, v in check.items()},
        }
        ok = (check["lost"] == 0 and check["duplicated"] == 0 and check["unexpected"] == 0
              and check["without_result"] == 0 and check["corrupt_layers"] == 0
              and check["rows"] == check["expected"])
        result["ok"] = ok
        print(f"scale-out: {args.edges} edges ({args.client} client) × {args.frames} frames "
              f"through nginx → {args.replicas} replicas (PostgreSQL + shared blobs)")
        if killed:
            print(f"  SIGKILL replica {killed['replica']} ({killed['streams']:.0f} open "
                  f"streams) after {killed['acked']} acks"
                  + (f", restarted after {killed['restarted_after_s']} s"
                     if "restarted_after_s" in killed else ""))
        if samples:
            print(f"  open streams per replica before the first edge finished: {samples[-1]} "
                  "(-1 = down)")
        print(f"  {check['rows']} frames stored in {wall:.2f} s = "
              f"{result['frames_per_second']:.1f} frames/s; {result['reconnected_edges']} edges "
              f"reconnected ({', '.join(result['stream_failures']) or '-'}), reconnect gap "
              f"p50 {result['reconnect_gap_p50_s']} s, max {result['reconnect_gap_max_s']} s")
        print(f"  lost {check['lost']}, duplicated {check['duplicated']}, without result "
              f"{check['without_result']}, corrupt {check['corrupt_layers']}; "
              f"{result['duplicate_acks']} resends acked as duplicates -> "
              f"{'OK' if ok else 'FAILED'}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        return 0 if ok else 1
    finally:
        for proc in [r.proc for r in replicas] + ([nginx] if nginx else []):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [r.proc for r in replicas] + ([nginx] if nginx else []):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        schema_cm.__exit__(None, None, None)
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
