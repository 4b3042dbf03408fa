"""One open ingest stream and the registry of open streams by camera.

A :class:`StreamSession` queues the stream's answers; bare FrameAcks queued together leave
as one AckBatch; FrameResults follow later, when the analysis behind the ack finished. The
:class:`EdgeRegistry` is how other requests (Reconstruct at β < 1) reach a camera's edge:
it asks for an enhancement layer on the camera's open stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from polc.v1 import ingest_pb2

#: an outbound item: (message, window slot to release or None); None ends the stream
OutboundItem = tuple[Any, Any]


class EnhancementUnavailable(Exception):
    """The enhancement layer cannot be obtained from the edge (message says why).

    ``outcome`` is the metric label: no_edge, unavailable or timeout.
    """

    def __init__(self, message: str, outcome: str = "unavailable"):
        super().__init__(message)
        self.outcome = outcome


@dataclass
class StreamSession:
    """One open ingest stream (what other requests need to reach the edge)."""

    camera_id: str
    capabilities: ingest_pb2.Capabilities
    outbound: asyncio.Queue[OutboundItem | None]
    pending: dict[str, tuple[int, asyncio.Future]] = field(default_factory=dict)
    committing: int = 0  # frames in the group commit without a task of their own
    closed: bool = False  # the end marker is queued: nothing more is sent
    #: seqs this stream stored whose FrameResult has not been sent yet
    results_due: set[int] = field(default_factory=set)
    _drained: asyncio.Future | None = None
    _results_sent: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, msg: ingest_pb2.IngestResponse) -> None:
        """Queue an answer (outbound items: (message, window slot to release or None); a
        bare FrameAck, queued only for edges with ``batched_acks``, may join an AckBatch).
        Dropped once the stream is closed."""
        if not self.closed:
            self.outbound.put_nowait((msg, None))

    def close(self) -> None:
        """Queue the end marker: the stream ends once everything before it is written."""
        if not self.closed:
            self.closed = True
            self.outbound.put_nowait(None)

    def result_done(self, seq: int) -> None:
        """The analysis of a frame this stream stored is finished (its result was sent)."""
        self.results_due.discard(seq)
        if not self.results_due:
            self._results_sent.set()

    async def results_sent(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until every frame this stream stored has had its
        FrameResult sent."""
        if self.results_due:
            self._results_sent.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._results_sent.wait(), timeout)

    async def answers(self) -> AsyncIterator[tuple[ingest_pb2.IngestResponse, list]]:
        """(message to write, window slots to release once written) until the end marker.

        Bare FrameAcks queued together (one group commit's) leave as one AckBatch: at
        thousands of frames per second a gRPC message per ack costs the server more than
        storing the frame does. Nothing waits to fill a batch, so an ack is never delayed.
        """
        carried: list[OutboundItem | None] = []  # at most one item read ahead
        while True:
            item = carried.pop() if carried else await self.outbound.get()
            if item is None:
                return
            answer, slot = item
            if type(answer) is not ingest_pb2.FrameAck:
                yield answer, [slot]
                continue
            acks, slots = [answer], [slot]
            while not self.outbound.empty():
                nxt = self.outbound.get_nowait()
                if nxt is None or type(nxt[0]) is not ingest_pb2.FrameAck:
                    carried.append(nxt)
                    break
                acks.append(nxt[0])
                slots.append(nxt[1])
            if len(acks) == 1:
                yield ingest_pb2.IngestResponse(ack=answer), slots
            else:
                yield ingest_pb2.IngestResponse(acks=ingest_pb2.AckBatch(acks=acks)), slots

    def commit_done(self) -> None:
        self.committing -= 1
        if not self.committing and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def drained(self) -> asyncio.Future:
        """Done once none of this stream's frames is in the group commit any more."""
        self._drained = asyncio.get_running_loop().create_future()
        if not self.committing:
            self._drained.set_result(None)
        return self._drained


class EdgeRegistry:
    """camera id -> its open stream (the newest one wins after a reconnect)."""

    def __init__(self) -> None:
        self.sessions: dict[str, StreamSession] = {}

    def attach(self, session: StreamSession) -> None:
        self.sessions[session.camera_id] = session

    def detach(self, session: StreamSession) -> None:
        if self.sessions.get(session.camera_id) is session:
            del self.sessions[session.camera_id]
        for _, fut in session.pending.values():
            if not fut.done():
                fut.set_exception(
                    EnhancementUnavailable(
                        f"the edge of camera {session.camera_id!r} disconnected before "
                        "uploading the enhancement layer"
                    )
                )

    def connected(self, camera_id: str) -> bool:
        return camera_id in self.sessions

    async def request_enhancement(self, camera_id: str, seq: int, timeout: float) -> None:
        """Ask the camera's edge to upload frame ``seq``'s enhancement layer and wait until
        it is stored; raises EnhancementUnavailable otherwise."""
        session = self.sessions.get(camera_id)
        if session is None:
            raise EnhancementUnavailable(
                f"frame {seq} of camera {camera_id!r} was stored without its enhancement "
                "layer and the camera's edge is not connected to fetch it from",
                "no_edge",
            )
        if not session.capabilities.enhancement_on_demand:
            raise EnhancementUnavailable(
                f"frame {seq} of camera {camera_id!r} was stored without its enhancement "
                "layer and the camera's edge does not serve enhancement layers on demand",
                "no_edge",
            )
        request_id = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        session.pending[request_id] = (seq, fut)
        session.send(
            ingest_pb2.IngestResponse(
                enhancement_request=ingest_pb2.EnhancementRequest(
                    request_id=request_id, camera_id=camera_id, seq=seq
                )
            )
        )
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise EnhancementUnavailable(
                f"the edge of camera {camera_id!r} did not upload the enhancement layer of "
                f"frame {seq} within {timeout:g} s",
                "timeout",
            ) from None
        finally:
            session.pending.pop(request_id, None)
