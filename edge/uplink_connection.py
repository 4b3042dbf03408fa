"""The uplink's connection to the cloud: channel (keepalive, TLS / mutual TLS), call
metadata (bearer token), writing to the stream call and the reconnect backoff. The stream
session itself is ``uplink.py``'s."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import grpc

from polc.edge.config import UplinkSettings


@dataclass
class Backoff:
    """Exponential backoff with jitter: delay_n = min(max, initial·mult^n) · (1 ± jitter)."""

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * self.multiplier**self.attempt)
        self.attempt += 1
        return max(0.0, base * (1.0 + self.jitter * self.rng.uniform(-1.0, 1.0)))

    def reset(self) -> None:
        self.attempt = 0


def channel_credentials(settings: UplinkSettings) -> grpc.ChannelCredentials | None:
    """TLS / mutual-TLS channel credentials from config, None for plaintext."""
    tls = settings.tls
    if not tls.active:
        return None
    ca = tls.ca_file.read_bytes() if tls.ca_file else None
    key = tls.key_file.read_bytes() if tls.key_file else None
    cert = tls.cert_file.read_bytes() if tls.cert_file else None
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def open_channel(s: UplinkSettings) -> grpc.aio.Channel:
    """The stream's channel: keepalive, message limits, no gRPC-level retries, TLS if set."""
    options: list[tuple[str, str | int]]
    options = [
        ("grpc.keepalive_time_ms", int(s.keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", -1),
        ("grpc.enable_retries", 0),
        ("grpc.initial_reconnect_backoff_ms", 200),
    ]
    creds = channel_credentials(s)
    if creds is None:
        return grpc.aio.insecure_channel(s.server, options=options)
    if s.tls.server_name:
        options.append(("grpc.ssl_target_name_override", s.tls.server_name))
    return grpc.aio.secure_channel(s.server, creds, options=options)


def call_metadata(settings: UplinkSettings) -> tuple[tuple[str, str], ...]:
    """The bearer token as call metadata (none without a token)."""
    if settings.token:
        return (("authorization", f"Bearer {settings.token}"),)
    return ()


async def write_message(call, msg) -> None:
    """Write one message; a stream the server already ended raises its real status."""
    try:
        await call.write(msg)
    except asyncio.InvalidStateError:
        await raise_status(call, "stream ended by the server")


async def raise_status(call, what: str) -> None:
    """Raise the call's final status as AioRpcError (ConnectionError(what) if it was OK)."""
    code = await call.code()
    details = await call.details()
    if code == grpc.StatusCode.OK:
        raise ConnectionError(what)
    raise grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details, debug_error_string=None
    )
