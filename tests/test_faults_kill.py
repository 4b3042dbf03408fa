"""The fault suite, kill -9 cycles: a real `polc cloud serve` process and a real `polc edge run`
process (synthetic source, small test codec) talk TLS on loopback; one side is SIGKILLed at a
random moment mid-stream, restarted, and the stream goes on. Over both store backends (SQLite;
PostgreSQL when ``POLC_TEST_POSTGRES_DSN`` is set) and both sides (cloud, edge).

At the end every seq the edge gave out (its ``spool/state.json``) is in the store exactly
once — none lost, none twice — and every stored container decodes with its latent CRC
matching. (Frames the edge drops are counted in its metrics and need not be stored; with the
default 1 GiB spool budget none is dropped here.)

2 cycles of each in the normal suite; the acceptance run is 10::

    pytest tests/test_faults_kill.py --fault-cycles 10      (or POLC_FAULT_CYCLES=10)
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from fixtures.store import postgres_dsn_or_skip, postgres_schema
from temporal_support import decode_stored

from polc.bench.cloud_process import CloudProcess, TlsFiles, small_cloud_config
from polc.cloud.store.interface import FrameStore
from polc.cloud.store.postgres import PostgresFrameStore
from polc.cloud.store.sqlite import SQLiteFrameStore
from polc.shared.codec.runtime import Codec
from polc.v1 import query_pb2, query_pb2_grpc

CAMERA = "cam-fault"


class EdgeProcess:
    """`polc edge run` in a subprocess, TLS to the cloud, spool under ``workdir``."""

    def __init__(self, workdir: Path, cloud: CloudProcess, codec_file: Path):
        self.workdir, self.cloud, self.codec_file = workdir, cloud, codec_file
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "edge.log"

    @property
    def spool(self) -> Path:
        return self.workdir / "spool"

    def start(self, frames: int) -> None:
        assert self.cloud.tls is not None
        cfg = self.workdir / "edge.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "camera_id": CAMERA,
                    "metrics_listen": "",
                    "log_level": "warning",
                    "source": {
                        "kind": "synthetic",
                        "width": 128,
                        "height": 64,
                        "frames": frames,
                        "fps": 30,
                    },
                    "encoder": {"weights": str(self.codec_file), "threads": 1},
                    "enhancement": {"mode": "never"},
                    "spool": {"path": str(self.spool)},
                    "uplink": {
                        "server": self.cloud.address,
                        "backoff_initial_seconds": 0.1,
                        "backoff_max_seconds": 0.5,
                        "tls": {"ca_file": str(self.cloud.tls.ca)},
                    },
                }
            )
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "polc.app.cli", "edge", "run", "--config", str(cfg)],
                env={**os.environ, "OMP_NUM_THREADS": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM: capture stops, the un-acked frames stay in the spool."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def next_seq(self) -> int:
        return json.loads((self.spool / "state.json").read_text())["next_seq"]


def stored_count(cloud: CloudProcess) -> int:
    """Frames of CAMERA stored so far (QueryService over TLS); -1 while the cloud is down."""
    try:
        with cloud.channel() as ch:
            cams = (
                query_pb2_grpc.QueryServiceStub(ch)
                .ListCameras(query_pb2.ListCamerasRequest(), timeout=5)
                .cameras
            )
    except grpc.RpcError:
        return -1
    return next((int(c.frame_count) for c in cams if c.camera_id == CAMERA), 0)


def wait_progress(
    cloud: CloudProcess, edge: EdgeProcess, frames: int, timeout: float = 120.0
) -> None:
    """Until ``frames`` more frames than now are stored (the moment of the next kill)."""
    deadline = time.monotonic() + timeout
    start = max(stored_count(cloud), 0)
    while stored_count(cloud) < start + frames:
        assert edge.alive(), f"edge exited:\n{edge.log.read_text()[-3000:]}"
        assert cloud.alive(), f"cloud exited:\n{cloud.log_tail()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.1)


@contextlib.contextmanager
def backend_store(backend: str, store: Path) -> Iterator[tuple[dict, dict, object]]:
    """(cloud config overrides, cloud environment, opener of the store for the checks)."""
    if backend == "sqlite":
        yield {}, {}, lambda: SQLiteFrameStore(store)
        return
    with postgres_schema(postgres_dsn_or_skip()) as dsn:
        yield (
            {"backend": "postgres", "postgres_pool_size": 2},
            {"POLC_CLOUD_STORE__POSTGRES_DSN": dsn},
            lambda: PostgresFrameStore(store, dsn, pool_size=1),
        )


def check_store(store: FrameStore, produced: int, codec: Codec) -> None:
    """Every seq in [0, produced) stored exactly once; every container decodes (a P-frame
    against the reference it names, rebuilt from its key frame)."""
    records, after = [], -1
    while page := store.list_frames(CAMERA, after_seq=after, limit=1000):
        records += page
        after = page[-1].seq
    seqs = [r.seq for r in records]
    assert len(seqs) == len(set(seqs)), "a seq stored twice"
    missing = sorted(set(range(produced)) - set(seqs))
    extra = sorted(set(seqs) - set(range(produced)))
    assert not missing and not extra, f"lost {missing[:20]}, unexpected {extra[:20]}"
    assert store.stats().frames == produced  # no second row anywhere
    references: dict = {}
    p_frames = 0
    for seq in seqs:  # decode_symbols checks the latent CRC
        frame = decode_stored(codec, lambda s: store.read_base(CAMERA, s), seq, references)
        p_frames += frame.container.is_p_frame
    assert p_frames > 0  # temporal coding is the edge's default


@pytest.mark.parametrize("side", ["cloud", "edge"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill9_cycles(
    tmp_path: Path,
    backend: str,
    side: str,
    fault_cycles: int,
    pki: Path,
    small_codec_file: Path,
    small_codec: Codec,
) -> None:
    rng = random.Random(f"{backend}-{side}")
    tls = TlsFiles(pki / "server.pem", pki / "server.key", pki / "ca.pem")
    with backend_store(backend, tmp_path / "store") as (store_cfg, env, open_store):
        config = small_cloud_config(tmp_path / "store", small_codec_file, None)
        config["store"].update(store_cfg)
        config["ingest"] = {"window": 8}
        cloud = CloudProcess(config, tmp_path, tls=tls, env=env).start()
        edge = EdgeProcess(tmp_path, cloud, small_codec_file)
        kills = 0
        try:
            edge.start(frames=100_000)
            for _ in range(fault_cycles):
                wait_progress(cloud, edge, rng.randint(3, 25))
                time.sleep(rng.uniform(0, 0.3))  # anywhere between two acks
                if side == "cloud":
                    cloud.kill()
                    time.sleep(rng.uniform(0, 1.0))  # the edge spools on meanwhile
                    cloud.start()
                else:
                    edge.kill()
                    edge.start(frames=100_000)
                kills += 1
            wait_progress(cloud, edge, 3)  # the stream goes on after the last kill
            edge.stop()  # then: a short clip that ends, the node drains the spool and exits
            edge.start(frames=5)
            assert edge.proc is not None and edge.proc.wait(180) == 0, edge.log.read_text()[-3000:]
            assert cloud.stop() == 0, cloud.log_tail()
        finally:
            edge.kill()
            cloud.kill()
        assert kills == fault_cycles
        produced = edge.next_seq()
        store = open_store()
        try:
            check_store(store, produced, small_codec)
        finally:
            store.close()
