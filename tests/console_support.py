"""A cloud with the HTTP console on for the console tests: auth on (camera, operator and
admin tokens), the synthetic clip of :mod:`search_clip` streamed by a fake edge that stays
connected and answers enhancement requests (β < 1 pulls the layer on demand), and a small
synchronous HTTP client."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from fixtures.cloud import make_config
from ingest_client import EdgeClient
from search_clip import ClipAnalyzer

from polc.cloud.server_thread import ServerThread
from polc.shared.codec.runtime import Codec

CAM_TOKEN = "camera-token-0123456789"
OP_TOKEN = "operator-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789ab"
CAMERA = "cam-clip"
TOKENS = [
    {"name": "edge", "token": CAM_TOKEN, "role": "camera", "cameras": ["*"]},
    {"name": "ops", "token": OP_TOKEN, "role": "operator"},
    {"name": "root", "token": ADMIN_TOKEN, "role": "admin"},
]


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Console:
    """The running cloud, its console port and the connected fake edge."""

    server: ServerThread
    edge: EdgeClient
    enhancement: bytes
    answered: list[int] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None

    @property
    def port(self) -> int:
        assert self.server.server.http_port is not None
        return self.server.server.http_port

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        cookie: str | None = None,
        timeout: float = 60.0,
    ) -> Reply:
        conn = (
            http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.ssl_context
            )
            if self.ssl_context
            else http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        )
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["Cookie"] = cookie
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path: str, token: str | None = OP_TOKEN, **kw: Any) -> Reply:
        return self.request("GET", path, token, **kw)

    def stream(self, seqs: range, frame: bytes, pace: float = 0.05) -> None:
        """Send frames of the clip and wait for their acks (the answering thread counts)."""
        for seq in seqs:
            self.edge.frame(seq, frame)
            if seq % 4 == 3:
                time.sleep(pace)  # let the analysis keep pace (batches in seq order)

    def wait_analysed(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = self.get(f"/api/cameras/{CAMERA}/frames?page_size=1000").json()["frames"]
            if sum(1 for f in frames if not f["analysis_pending"]) >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"fewer than {count} frames analysed in {timeout} s")


def _answer(console: Console) -> None:
    """The fake edge: answers every EnhancementRequest with the layer (acks are ignored)."""
    edge = console.edge
    while (msg := edge.recv(timeout=600)) is not None:
        if msg.HasField("enhancement_request"):
            req = msg.enhancement_request
            console.answered.append(req.seq)
            edge.send(
                enhancement_upload=dict(
                    request_id=req.request_id,
                    camera_id=req.camera_id,
                    seq=req.seq,
                    enhancement_layer=console.enhancement,
                )
            )


@contextmanager
def running_console(
    tmp_path: Path,
    codec: Codec,
    codec_file: Path,
    frames: dict[str, bytes],
    channel_credentials: grpc.ChannelCredentials | None = None,
    **overrides: Any,
) -> Iterator[Console]:
    """A cloud with the console on a free port (see the module docstring); nothing
    streamed yet (:meth:`Console.stream`). ``channel_credentials``: the edge's, under TLS."""
    cfg = make_config(
        tmp_path,
        codec_file,
        None,
        **{
            "auth.tokens": TOKENS,
            "http.listen": "127.0.0.1:0",
            "events.end_after_frames": 3,
            "events.end_after_seconds": 0.5,
            **overrides,
        },
    )
    with ServerThread(cfg, codec) as server:
        assert server.server.analysis is not None
        server.server.analysis.analyzer = ClipAnalyzer()
        channel = (
            grpc.secure_channel(server.address, channel_credentials)
            if channel_credentials is not None
            else None
        )
        edge = EdgeClient(server.address, CAMERA, token=CAM_TOKEN, on_demand=True, channel=channel)
        assert edge.recv().HasField("hello_ack")
        console = Console(server, edge, frames["enh"])
        helper = threading.Thread(target=_answer, args=(console,), daemon=True)
        helper.start()
        try:
            yield console
        finally:
            edge.half_close()
            helper.join(10)
            if channel is not None:
                channel.close()
