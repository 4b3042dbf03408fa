"""The local scale-out cluster: edges → nginx (L7 gRPC balancer) → 3 cloud replicas sharing
PostgreSQL and one blob directory; one replica is SIGKILLed mid-run.

    edge 0..N-1 ──┐                          ┌─► replica 0 ─┐
    (resend every ├─► nginx grpc_pass ───────┼─► replica 1 ─┼─► PostgreSQL (index, UNIQUE)
     unacked frame│   round robin per stream └─► replica 2 ─┘   blobs/segments (shared dir)
     on reconnect)┘                                ▲
                                       SIGKILL once `--kill-at` of the frames are acked

Each replica is a real `python -m polc.app.cli cloud serve` process (postgres backend,
small test codec + random-init teacher, so results exist without bundled weights); the
edges are in scaleout_edges.py. :func:`cluster_run` starts everything, streams every edge's
frames, and yields a :class:`ClusterRun` while the database schema and the blob directory
still exist; leaving it stops the processes and drops the schema. The benchmark
(scaleout.py) measures from it; tests/test_scaleout.py checks the store with it.

Needs `nginx` (Debian package) on PATH and a PostgreSQL server: ``--dsn`` or the environment
variable ``POLC_TEST_POSTGRES_DSN`` (a fresh schema is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import psycopg
import torch
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg.conninfo import make_conninfo

from polc.bench.scaleout_edges import Edge, UplinkEdge
from polc.shared.codec.export import export_codec
from polc.shared.codec.runtime import Codec
from polc.shared.data import CLASSES
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.vision.backbone import SmallResNet

DSN_ENV = "POLC_TEST_POSTGRES_DSN"


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """The run's shape: edges, frames, replicas, pacing, the kill, the PostgreSQL server."""
    p.add_argument("--edges", type=int, default=4, help="edge clients (cameras)")
    p.add_argument("--frames", type=int, default=100, help="frames per edge")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument(
        "--fps",
        type=float,
        default=0.0,
        help="capture rate per edge (0 = as fast as the window allows)",
    )
    p.add_argument(
        "--kill-at",
        type=float,
        default=0.4,
        help="SIGKILL the busiest replica once this fraction of frames is acked (0 = no kill)",
    )
    p.add_argument(
        "--restart-after",
        type=float,
        default=0.0,
        help="start the killed replica again this many seconds after the kill",
    )
    p.add_argument(
        "--max-connection-age",
        type=float,
        default=0.0,
        help="replicas' connection.max_connection_age_seconds (0 = off): streams "
        "end periodically and rebalance through nginx",
    )
    p.add_argument("--window", type=int, default=16, help="frames in flight per stream")
    p.add_argument("--size", default="128x96", help="frame size WxH")
    p.add_argument(
        "--client",
        choices=["stub", "uplink"],
        default="stub",
        help="stub: minimal client of the polc.v1 stubs; uplink: the edge node's "
        "Uplink + Spool (polc.edge)",
    )
    p.add_argument("--dsn", default=None, help=f"PostgreSQL DSN (default: ${DSN_ENV})")
    p.add_argument("--workdir", default=None, help="keep logs, configs and blobs here")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this long")


# -- fixtures: codec, teacher, frames --------------------------------------------------------
def make_small_codec(path: Path) -> Path:
    """A small untrained codec exported like the shipped one (as tests/fixtures/codec.py
    builds it): the bundled weights may not exist yet, and a small model keeps the run cheap."""
    torch.manual_seed(0)
    model = RDCCodec(ArchitectureConfig(N=16, M=24, aux_channels=8, levels=6, residual_channels=8))
    with torch.no_grad():
        model.gain_y.log_gain.copy_(torch.linspace(0.0, 4.0, 6)[:, None].repeat(1, 24))
    torch.save(export_codec(model, {"bench": "scaleout"}), path)
    return path


def make_small_teacher(path: Path) -> Path:
    """A random-init teacher in training/teacher.py's format (so every frame gets a result)."""
    widths = [8, 8, 16, 16]
    torch.manual_seed(1)
    model = SmallResNet(len(CLASSES), tuple(widths)).eval()
    torch.save(
        {
            "state_dict": model.state_dict(),
            "widths": widths,
            "classes": list(CLASSES),
            "held_out_top1": 0.0,
        },
        path,
    )
    return path


def encode_frames(codec_file: Path, size: str, n: int = 4) -> list[bytes]:
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
            text = (
                urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2)
                .read()
                .decode()
            )
        except OSError:
            return -1.0
        for line in text.splitlines():
            if line.startswith("polc_cloud_open_streams{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start_replica(
    index: int,
    workdir: Path,
    dsn: str,
    codec: Path,
    teacher: Path,
    window: int,
    max_age: float = 0.0,
    ports: tuple[int, int] | None = None,
) -> Replica:
    port, mport = ports or (free_port(), free_port())
    cfg = {
        "listen": f"127.0.0.1:{port}",
        "metrics_listen": f"127.0.0.1:{mport}",
        "site": "scaleout",
        "server_id": f"replica-{index}",
        "log_level": "warning",
        "codec": {"weights": str(codec), "torch_threads": 1},
        # the killed replica's unanalysed frames go to the others after 3 s
        "analyzer": {"kind": "pixel-teacher", "teacher_weights": str(teacher), "lease_seconds": 3},
        "store": {"backend": "postgres", "path": str(workdir / "blobs"), "postgres_pool_size": 4},
        "batching": {"max_batch_size": 16, "max_queue_delay_ms": 5},
        "ingest": {"window": window},
        "connection": {"shutdown_grace_seconds": 1},
    }
    if max_age > 0:  # streams end after this age (+ 2 s grace) and reconnect elsewhere
        cfg["connection"].update(
            max_connection_age_seconds=max_age, max_connection_age_grace_seconds=2
        )
    cfg_file = workdir / f"replica-{index}.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    env = {
        **os.environ,
        "POLC_CLOUD_STORE__POSTGRES_DSN": dsn,
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = workdir / f"replica-{index}.log"
    if log.exists():  # a restarted replica: keep the first one's log
        log = workdir / f"replica-{index}-{int(time.time())}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "polc.app.cli", "cloud", "serve", "--config", str(cfg_file)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    return Replica(index, port, mport, proc, log)


def wait_serving(replicas: list[Replica], timeout: float) -> None:
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
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        raise RuntimeError("nginx not found: apt-get install nginx")
    port = free_port()
    (workdir / "nginx-tmp").mkdir(exist_ok=True)
    servers = "\n".join(
        f"        server 127.0.0.1:{r.port} max_fails=1 fail_timeout=3s;" for r in replicas
    )
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=workdir, servers=servers, port=port))
    proc = subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(conf)],
        stdout=(workdir / "nginx.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                logs = [workdir / "nginx.log", workdir / "nginx-error.log"]
                raise RuntimeError(
                    "nginx did not start:\n"
                    + "".join(p.read_text()[-2000:] for p in logs if p.exists())
                ) from None
            time.sleep(0.1)


def nginx_available() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


def postgres_dsn(args: argparse.Namespace) -> str | None:
    """``--dsn``, else $POLC_TEST_POSTGRES_DSN, else None."""
    return args.dsn or os.environ.get(DSN_ENV)


@dataclass
class ClusterRun:
    """What one run streamed and observed, with its database and blob directory still up."""

    args: argparse.Namespace
    dsn: str  # the run's own schema
    workdir: Path
    cameras: list[str]
    frames: list[bytes]  # the encoded frames the edges cycle through (seq % len)
    edges: list[Edge | UplinkEdge]
    startup_seconds: float
    wall_seconds: float  # the streaming phase
    killed: dict = field(default_factory=dict)  # replica, streams, at, acked[, restarted...]
    samples: list[list[float]] = field(default_factory=list)  # open streams per replica

    @property
    def blobs(self) -> Path:
        return self.workdir / "blobs"


@contextlib.contextmanager
def cluster_run(
    args: argparse.Namespace, codec_file: Path | None = None, teacher_file: Path | None = None
) -> Iterator[ClusterRun]:
    """Start the replicas and nginx, stream every edge's frames (killing one replica), yield
    the run; stop everything and drop the schema on exit. RuntimeError without a DSN.

    The replicas load ``codec_file`` and ``teacher_file`` (the tests pass their small test
    codec and teacher); without them, small ones are built in the work directory."""
    base_dsn = postgres_dsn(args)
    if not base_dsn:
        raise RuntimeError(f"scaleout: needs PostgreSQL: --dsn or ${DSN_ENV}")
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="polc-scaleout-")
    workdir = Path(args.workdir or tmp.name).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    schema_cm = postgres_schema(base_dsn)
    dsn = schema_cm.__enter__()
    replicas: list[Replica] = []
    nginx = None
    try:
        codec = codec_file or make_small_codec(workdir / "codec.pt")
        teacher = teacher_file or make_small_teacher(workdir / "teacher.pt")
        frames = encode_frames(codec, args.size)
        t0 = time.monotonic()
        replicas = [
            start_replica(i, workdir, dsn, codec, teacher, args.window, args.max_connection_age)
            for i in range(args.replicas)
        ]
        wait_serving(replicas, 120)
        startup = time.monotonic() - t0
        nginx, port = start_nginx(workdir, replicas)
        cameras = [f"scaleout-cam-{i:02d}" for i in range(args.edges)]
        address = f"127.0.0.1:{port}"
        edges = (
            [
                UplinkEdge(
                    address, c, frames, args.frames, args.fps, args.window, workdir / "spools"
                )
                for c in cameras
            ]
            if args.client == "uplink"
            else [Edge(address, c, frames, args.frames, args.fps, args.window) for c in cameras]
        )
        killed: dict = {}

        async def killer() -> None:
            if args.kill_at <= 0:
                return
            total = args.edges * args.frames
            while sum(e.stats.acks for e in edges) < args.kill_at * total:
                await asyncio.sleep(0.01)
            victim = max(replicas, key=lambda r: r.open_streams())
            killed.update(
                replica=victim.index,
                streams=victim.open_streams(),
                at=time.time(),
                acked=sum(e.stats.acks for e in edges),
            )
            os.kill(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait()
            if args.restart_after > 0:
                await asyncio.sleep(args.restart_after)
                again = start_replica(
                    victim.index,
                    workdir,
                    dsn,
                    codec,
                    teacher,
                    args.window,
                    args.max_connection_age,
                    (victim.port, victim.metrics_port),
                )
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
        wait_analysed(dsn, cameras, args.timeout)  # results follow the acks
        yield ClusterRun(args, dsn, workdir, cameras, frames, edges, startup, wall, killed, samples)
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


def wait_analysed(dsn: str, cameras: list[str], timeout: float) -> None:
    """Until no frame of the run's cameras waits for its analysis (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn) as conn:
        while (
            time.monotonic() < deadline
            and conn.execute(
                "SELECT 1 FROM frames WHERE analysis_pending AND camera_id = ANY(%s) LIMIT 1",
                (cameras,),
            ).fetchone()
        ):
            time.sleep(0.2)


def stored_rows(dsn: str, cameras: list[str]) -> int:
    """Index rows of the run's cameras (what frames/s counts)."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM frames WHERE camera_id = ANY(%s)", (cameras,)
        ).fetchone()[0]
