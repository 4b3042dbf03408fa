"""Crash safety: kill -9 the server started from the CLI in the middle of a stream, restart it
on the same store, resend from the first unacknowledged frame: every frame is stored exactly
once, with results, and nothing acknowledged is lost. Then a graceful SIGTERM stop."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ingest_client import EdgeClient

from polc.cloud.store.sqlite import SQLiteFrameStore

N_FRAMES = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(config: Path, address: str, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "polc.app.cli", "cloud", "serve", "--config", str(config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    with grpc.insecure_channel(address) as ch:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
            try:
                status = (
                    health_pb2_grpc.HealthStub(ch)
                    .Check(health_pb2.HealthCheckRequest(), timeout=1)
                    .status
                )
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return proc
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not become SERVING")


def test_kill9_restart_and_resend(tmp_path, small_codec_file, teacher_file, frames):
    address = f"127.0.0.1:{_free_port()}"
    config = tmp_path / "cloud.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "listen": address,
                "metrics_listen": "",
                "store": {"path": str(tmp_path / "store")},
                "codec": {"weights": str(small_codec_file), "torch_threads": 1},
                "analyzer": {"kind": "pixel-teacher", "teacher_weights": str(teacher_file)},
                "ingest": {"window": 16},
                "batching": {"max_queue_delay_ms": 2},
            }
        )
    )
    log = tmp_path / "server.log"
    server = _start(config, address, log)
    acked: set[int] = set()
    try:
        edge = EdgeClient(address, "cam-k")
        assert edge.recv(60).HasField("hello_ack")
        for seq in range(N_FRAMES):
            edge.frame(seq, frames["base"])
        while len(acked) < 100:
            msg = edge.recv(60)
            assert msg is not None, edge.status
            if msg.HasField("ack"):
                acked.add(msg.ack.seq)
        os.kill(server.pid, signal.SIGKILL)  # mid-stream, frames in flight
        server.wait(30)
        while (msg := edge.recv(30)) is not None:  # anything that got out before the kill
            if msg.HasField("ack"):
                acked.add(msg.ack.seq)
        assert edge.status is not None and edge.status.code() == grpc.StatusCode.UNAVAILABLE
        edge.close()
        assert len(acked) < N_FRAMES

        server = _start(config, address, log)
        first_unacked = min(set(range(N_FRAMES)) - acked)
        edge = EdgeClient(address, "cam-k")
        hello = edge.recv(60).hello_ack
        assert hello.has_stored and hello.last_stored_seq >= max(acked)
        for seq in range(first_unacked, N_FRAMES):
            edge.frame(seq, frames["base"])
        got = edge.collect(N_FRAMES - first_unacked, timeout=60)
        assert not got["error"]
        acked |= {a.seq for a in got["ack"]}
        assert acked == set(range(N_FRAMES))
        edge.close()
        server.send_signal(signal.SIGTERM)  # graceful: flush and exit 0
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    db = sqlite3.connect(tmp_path / "store" / "index.sqlite3")
    rows = db.execute("SELECT seq, result_json FROM frames WHERE camera_id = 'cam-k'").fetchall()
    db.close()
    assert sorted(r[0] for r in rows) == list(range(N_FRAMES))  # each exactly once
    assert all(r[1] and '"pixel-teacher"' in r[1] for r in rows)  # with results
    store = SQLiteFrameStore(tmp_path / "store")  # every stored layer reads back intact
    assert all(store.read_base("cam-k", seq) == frames["base"] for seq in range(N_FRAMES))
    store.close()
