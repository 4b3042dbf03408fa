"""A minimal in-process IngestService implementing the contract, for the edge tests.

It keeps its "store" in the Python object, so it survives a server stop/start (an outage),
acks after a small delay (so that the edge's window is exercised), dedups resends like
the real cloud and records everything the tests assert on.
"""

from __future__ import annotations

import asyncio
import collections
import socket

import grpc

from polc.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeCloud(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        window: int = 4,
        ack_delay: float = 0.005,
        max_frames_per_stream: int | None = None,
        refuse: set[int] | None = None,
        token: str | None = None,
        enhancement_requests: list[int] | None = None,
        hang_streams: int = 0,
        max_frame_bytes: int = 0,
    ):
        self.window, self.ack_delay = window, ack_delay
        self.max_frames_per_stream = max_frames_per_stream
        self.refuse = refuse or set()
        self.token = token
        self.enhancement_requests = list(enhancement_requests or [])
        self.max_frame_bytes = max_frame_bytes
        self.hang_streams = hang_streams  # the first N streams never ack (a hung replica)
        self.failing = False  # while True, every frame is answered with failing_error
        # (code, reason) of that retryable FrameError: a server-side failure, or the cloud's
        # answer for its full disk (8 RESOURCE_EXHAUSTED, "store_full")
        self.failing_error = (13, "internal")
        self.failed: collections.Counter[int] = collections.Counter()
        self.stored: dict[int, bytes] = {}
        self.store_count: collections.Counter[int] = collections.Counter()
        self.received: collections.Counter[int] = collections.Counter()
        self.duplicates = 0
        self.max_inflight = 0
        self.streams = 0
        self.hellos: list[ingest_pb2.Hello] = []
        self.uploads: dict[int, ingest_pb2.EnhancementUpload] = {}
        self.enhancement_in_frame: dict[int, bytes] = {}
        self.server: grpc.aio.Server | None = None
        self.port = free_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = grpc.aio.server()
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(self, self.server)
        self.server.add_insecure_port(self.address)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)
            self.server = None

    async def Ingest(self, request_iterator, context):  # noqa: N802 (gRPC name)
        if self.token is not None:
            md = dict(context.invocation_metadata())
            if md.get("authorization") != f"Bearer {self.token}":
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first message not a Hello")
        self.hellos.append(first.hello)
        self.streams += 1
        camera = first.hello.camera_id
        await context.write(
            ingest_pb2.IngestResponse(
                hello_ack=ingest_pb2.HelloAck(
                    window=self.window,
                    server_id="fake",
                    max_frame_bytes=self.max_frame_bytes,
                    has_stored=bool(self.stored),
                    last_stored_seq=max(self.stored, default=0),
                )
            )
        )
        queue: asyncio.Queue = asyncio.Queue()
        inflight = [0]
        write_lock = asyncio.Lock()
        in_stream = [0]

        hung = self.streams <= self.hang_streams

        async def acker() -> None:
            while True:
                frame = await queue.get()
                if hung:
                    continue
                await asyncio.sleep(self.ack_delay)
                seq = frame.seq
                inflight[0] -= 1  # before the answer leaves: the edge may send the next one
                async with write_lock:
                    if self.failing:
                        self.failed[seq] += 1
                        await context.write(
                            ingest_pb2.IngestResponse(
                                error=ingest_pb2.FrameError(
                                    camera_id=camera,
                                    seq=seq,
                                    code=self.failing_error[0],
                                    reason=self.failing_error[1],
                                    message="store failed (disk full)",
                                    retryable=True,
                                )
                            )
                        )
                    elif seq in self.refuse:
                        await context.write(
                            ingest_pb2.IngestResponse(
                                error=ingest_pb2.FrameError(
                                    camera_id=camera,
                                    seq=seq,
                                    code=3,
                                    reason="malformed",
                                    message="refused by the test",
                                )
                            )
                        )
                    else:
                        dup = seq in self.stored
                        if dup:
                            self.duplicates += 1
                        else:
                            self.stored[seq] = frame.base_layer
                            self.store_count[seq] += 1
                            if frame.HasField("enhancement_layer"):
                                self.enhancement_in_frame[seq] = frame.enhancement_layer
                        await context.write(
                            ingest_pb2.IngestResponse(
                                ack=ingest_pb2.FrameAck(camera_id=camera, seq=seq, duplicate=dup)
                            )
                        )
                        if not dup:
                            await context.write(
                                ingest_pb2.IngestResponse(
                                    result=common_pb2.FrameResult(
                                        camera_id=camera,
                                        seq=seq,
                                        analyzer="fake",
                                        classes=[common_pb2.ClassScore(label="car", score=0.9)],
                                    )
                                )
                            )
                        if self.enhancement_requests and seq >= self.enhancement_requests[0]:
                            want = self.enhancement_requests.pop(0)
                            await context.write(
                                ingest_pb2.IngestResponse(
                                    enhancement_request=ingest_pb2.EnhancementRequest(
                                        request_id=f"r{want}", camera_id=camera, seq=want
                                    )
                                )
                            )

        task = asyncio.create_task(acker())
        try:
            while (req := await context.read()) is not grpc.aio.EOF:
                kind = req.WhichOneof("kind")
                if kind == "frame":
                    self.received[req.frame.seq] += 1
                    inflight[0] += 1
                    self.max_inflight = max(self.max_inflight, inflight[0])
                    in_stream[0] += 1
                    await queue.put(req.frame)
                    if (
                        self.max_frames_per_stream is not None
                        and in_stream[0] >= self.max_frames_per_stream
                    ):
                        # like max connection age: end the stream, frames in flight unacked
                        await asyncio.sleep(0.02)
                        await context.abort(
                            grpc.StatusCode.UNAVAILABLE, "maximum connection age reached"
                        )
                elif kind == "enhancement_upload":
                    self.uploads[req.enhancement_upload.seq] = req.enhancement_upload
        finally:
            task.cancel()
