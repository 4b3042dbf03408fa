"""Admission of an ingest stream: who may open one and with which Hello.

    token ─► role may ingest? ─► server not shutting down? ─► Hello within the timeout,
    valid ─► token may ingest that camera? ─► same model? ─► (the servicer: a slot of
    ``max_streams``)

Every refusal ends the stream with its status and is counted by reason
(``polc_cloud_streams_refused_total``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from polc.cloud.auth import Authenticator, AuthError, Principal, invocation_metadata
from polc.cloud.config import IngestSettings
from polc.cloud.ingest.validation import FrameRefused, check_hello
from polc.cloud.metrics import CloudMetrics
from polc.v1 import ingest_pb2

Code = grpc.StatusCode


class StreamAdmission:
    """The checks before a stream is served (see the module docstring)."""

    def __init__(
        self,
        auth: Authenticator,
        metrics: CloudMetrics,
        settings: IngestSettings,
        fingerprint: bytes,
        shutting_down: asyncio.Event,
    ):
        self.auth, self.metrics, self.settings = auth, metrics, settings
        self.fingerprint, self.shutting_down = fingerprint, shutting_down

    async def refuse(
        self, context: grpc.aio.ServicerContext, reason: str, code: grpc.StatusCode, message: str
    ) -> None:
        """End the stream before it is served (counted by reason)."""
        self.metrics.stream_refused(reason)
        await context.abort(code, message)

    async def _hello(
        self,
        request_iterator: AsyncIterator[ingest_pb2.IngestRequest],
        context: grpc.aio.ServicerContext,
    ) -> ingest_pb2.Hello | None:
        """The stream's Hello, within ``hello_timeout_seconds`` (None: the edge closed)."""
        timeout = self.settings.hello_timeout_seconds
        try:
            first = await asyncio.wait_for(request_iterator.__anext__(), timeout)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            await self.refuse(
                context,
                "hello_timeout",
                Code.DEADLINE_EXCEEDED,
                f"no Hello within {timeout:g} s "
                "(ingest.hello_timeout_seconds): a stream must start with one",
            )
        if first.WhichOneof("kind") != "hello":
            await self.refuse(
                context, "invalid_hello", Code.INVALID_ARGUMENT, "the first message must be a Hello"
            )
        try:
            check_hello(first.hello)
        except FrameRefused as exc:
            await self.refuse(context, "invalid_hello", Code.INVALID_ARGUMENT, exc.message)
        return first.hello

    async def admit(
        self,
        request_iterator: AsyncIterator[ingest_pb2.IngestRequest],
        context: grpc.aio.ServicerContext,
    ) -> tuple[Principal, ingest_pb2.Hello] | None:
        """(caller, Hello) of an admitted stream; None: the edge closed before its Hello.
        A refusal aborts the call."""
        try:
            principal = self.auth.authenticate(invocation_metadata(context))
        except AuthError as exc:
            await self.refuse(context, "unauthenticated", exc.code, str(exc))
        if not principal.may_ingest_any:
            await self.refuse(
                context,
                "permission_denied",
                Code.PERMISSION_DENIED,
                f"'{principal.name}' has role {principal.role}, which may not ingest",
            )
        if self.shutting_down.is_set():
            await self.refuse(
                context, "shutting_down", Code.UNAVAILABLE, "server is shutting down; reconnect"
            )
        hello = await self._hello(request_iterator, context)
        if hello is None:
            return None
        try:
            self.auth.require_ingest(principal, hello.camera_id)
        except AuthError as exc:
            await self.refuse(context, "permission_denied", exc.code, str(exc))
        if hello.model_fingerprint and hello.model_fingerprint != self.fingerprint:
            await self.refuse(
                context,
                "fingerprint",
                Code.FAILED_PRECONDITION,
                f"edge encodes with model {hello.model_fingerprint.hex()}, this server "
                f"decodes model {self.fingerprint.hex()}",
            )
        return principal, hello
