"""One real `polc cloud serve` process for the long runs and the fault suite: written config,
optional TLS, started as ``python -m polc.app.cli cloud serve --config FILE`` on a free
loopback port, waited for until health says SERVING, SIGKILLed and started again on the same
port and store, its resident memory read with psutil.

The fuzz and soak benches (fuzz_wire.py, soak.py) and tests/test_faults_*.py use it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polc.bench.scaleout_cluster import free_port


@dataclass
class TlsFiles:
    """The server's certificate and key and the CA that signed it (clients trust the CA)."""

    cert: Path
    key: Path
    ca: Path

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes())


def small_cloud_config(store: Path, codec: Path, teacher: Path | None) -> dict[str, Any]:
    """A cloud configuration of the small test models: store under ``store``, pixel teacher
    when given (so every frame gets a result), one torch thread, short shutdown grace."""
    return {
        "metrics_listen": "",
        "log_level": "warning",
        "store": {"path": str(store)},
        "codec": {"weights": str(codec), "torch_threads": 1},
        "analyzer": (
            {"kind": "pixel-teacher", "teacher_weights": str(teacher)}
            if teacher
            else {"kind": "none"}
        ),
        "batching": {"max_queue_delay_ms": 2},
        "connection": {"shutdown_grace_seconds": 1},
    }


@dataclass
class CloudProcess:
    """`polc cloud serve` in a subprocess with ``config`` (``listen`` is set here); the
    environment ``env`` is added to this process's (e.g. the PostgreSQL DSN)."""

    config: dict[str, Any]
    workdir: Path
    tls: TlsFiles | None = None
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "cloud.log"

    def channel(self) -> grpc.Channel:
        if self.tls:
            return grpc.secure_channel(self.address, self.tls.channel_credentials())
        return grpc.insecure_channel(self.address)

    def aio_channel(self, options: list | None = None) -> grpc.aio.Channel:
        if self.tls:
            return grpc.aio.secure_channel(
                self.address, self.tls.channel_credentials(), options=options
            )
        return grpc.aio.insecure_channel(self.address, options=options)

    def start(self, timeout: float = 120.0) -> CloudProcess:
        """Start (or restart) the server and wait until it is SERVING."""
        cfg = {**self.config, "listen": self.address}
        if self.tls:
            cfg["tls"] = {"cert_file": str(self.tls.cert), "key_file": str(self.tls.key)}
        cfg_file = self.workdir / "cloud.yaml"
        cfg_file.write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "polc.app.cli", "cloud", "serve", "--config", str(cfg_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.starts += 1
        self.wait_serving(timeout)
        return self

    def wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.channel() as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"cloud exited:\n{self.log_tail()}")
                try:
                    if (
                        stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                        == health_pb2.HealthCheckResponse.SERVING
                    ):
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        self.kill()
        raise TimeoutError(f"cloud not SERVING after {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> int:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss

    def kill(self) -> None:
        """SIGKILL (kill -9) and reap."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful SIGTERM; SIGKILL when it does not exit in time. The exit code."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.proc is None else self.proc.returncode

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> CloudProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(10)
