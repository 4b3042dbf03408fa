"""A synchronous Ingest client for the cloud tests that sends and receives interactively,
one message at a time, from the test thread (a fake edge)."""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc

from polc.v1 import ingest_pb2, ingest_pb2_grpc


class EdgeClient:
    """A bidi Ingest call driven from the test thread: send() and recv() one by one."""

    def __init__(
        self,
        address: str,
        camera_id: str = "cam-1",
        token: str | None = None,
        on_demand: bool = False,
        fingerprint: bytes = b"",
        channel: grpc.Channel | None = None,
        batched_acks: bool = False,
        hello: bool = True,
    ):
        self.channel = channel or grpc.insecure_channel(address)
        self._own_channel = channel is None
        self._out: queue.Queue = queue.Queue()
        self._in: queue.Queue = queue.Queue()
        self.camera_id = camera_id
        md = [("authorization", f"Bearer {token}")] if token else []
        self.call = ingest_pb2_grpc.IngestServiceStub(self.channel).Ingest(
            self._requests(), metadata=md
        )
        self.status: grpc.RpcError | None = None
        self.ended = False
        self._half_closed = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        if not hello:  # a stream that never says who it is (admission tests)
            return
        self.send(
            hello=ingest_pb2.Hello(
                camera_id=camera_id,
                model_fingerprint=fingerprint,
                capabilities=ingest_pb2.Capabilities(
                    enhancement_on_demand=on_demand, batched_acks=batched_acks
                ),
            )
        )

    def _requests(self):
        while (msg := self._out.get()) is not None:
            yield msg

    def _pump(self) -> None:
        try:
            for msg in self.call:
                self._in.put(msg)
        except grpc.RpcError as exc:
            self.status = exc
        self._in.put(None)

    def send(self, **kind: Any) -> None:
        self._out.put(ingest_pb2.IngestRequest(**kind))

    def frame(
        self,
        seq: int,
        base: bytes,
        enhancement: bytes | None = None,
        camera_id: str = "",
        capture_time: tuple[int, int] | None = None,
    ) -> None:
        """Send a frame; ``capture_time`` = (seconds, nanos) as sent, unchecked (default:
        40 ms per seq from 2023-11-14)."""
        f = ingest_pb2.Frame(camera_id=camera_id or self.camera_id, seq=seq, base_layer=base)
        if capture_time is None:
            f.capture_time.FromMicroseconds(1_700_000_000_000_000 + seq * 40_000)
        else:
            f.capture_time.seconds, f.capture_time.nanos = capture_time
        if enhancement is not None:
            f.enhancement_layer = enhancement
        self.send(frame=f)

    def recv(self, timeout: float = 30.0) -> ingest_pb2.IngestResponse | None:
        """Next message; None when the stream ended (then ``status`` holds the error)."""
        if self.ended:
            return None
        msg = self._in.get(timeout=timeout)
        self.ended = msg is None
        return msg

    def collect(self, n_frames: int, timeout: float = 30.0) -> dict[str, list]:
        """Receive until ``n_frames`` acks + errors arrived (results kept as they come; the
        acks of an AckBatch are listed one by one under "ack", the batch sizes under
        "batches")."""
        got: dict[str, list] = {"ack": [], "error": [], "result": [], "other": [], "batches": []}
        while len(got["ack"]) + len(got["error"]) < n_frames:
            msg = self.recv(timeout)
            if msg is None:
                raise AssertionError(f"stream ended early: {self.status}")
            kind = msg.WhichOneof("kind")
            if kind == "acks":
                got["ack"].extend(msg.acks.acks)
                got["batches"].append(len(msg.acks.acks))
                continue
            got[kind if kind in got else "other"].append(getattr(msg, kind))
        return got

    def half_close(self) -> None:
        """No more messages from the edge (the server then ends the stream)."""
        if not self._half_closed:
            self._half_closed = True
            self._out.put(None)

    def close(self, timeout: float = 10.0) -> list:
        """Half-close and drain the remaining messages."""
        self.half_close()
        rest = []
        while (msg := self.recv(timeout)) is not None:
            rest.append(msg)
        self._thread.join(timeout)
        if self._own_channel:
            self.channel.close()
        return rest
