"""Client-side helpers of the operator commands: channel, credentials, status -> error.

``connect(args)`` is what a command uses: the channel its connection flags describe, the
per-call options (deadline, bearer token) and a failed call turned into ``RemoteError``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from polc.shared.errors import PolcError


class RemoteError(PolcError):
    """A call to the cloud service failed (one line: status and message)."""


def set_seconds(field, seconds: float, flag: str) -> None:
    """Set a Timestamp / Duration field from a command-line number of seconds; PolcError
    (exit 2) when it is outside the field's range (Timestamp: 0001-01-01 .. 9999-12-31)."""
    try:
        field.FromNanoseconds(int(seconds * 1e9))
    except (ValueError, OverflowError):
        raise PolcError(f"{flag} {seconds} is out of range") from None


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        metavar="ADDR",
        default=os.environ.get("POLC_SERVER", "127.0.0.1:50051"),
        help="cloud address HOST:PORT (env POLC_SERVER)",
    )
    parser.add_argument(
        "--token",
        metavar="T",
        default=os.environ.get("POLC_TOKEN"),
        help="bearer token (env POLC_TOKEN)",
    )
    parser.add_argument("--ca", metavar="FILE", help="CA certificate: connect with TLS")
    parser.add_argument("--cert", metavar="FILE", help="client certificate (mutual TLS)")
    parser.add_argument("--key", metavar="FILE", help="client key (mutual TLS)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="call deadline in seconds"
    )


def open_channel(args: argparse.Namespace) -> grpc.Channel:
    options = [("grpc.max_receive_message_length", 256 << 20)]
    if args.ca:
        cert = Path(args.cert).read_bytes() if args.cert else None
        key = Path(args.key).read_bytes() if args.key else None
        creds = grpc.ssl_channel_credentials(Path(args.ca).read_bytes(), key, cert)
        return grpc.secure_channel(args.server, creds, options)
    return grpc.insecure_channel(args.server, options)


def call_metadata(args: argparse.Namespace) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {args.token}")] if args.token else []


def remote_error(exc: grpc.RpcError) -> RemoteError:
    code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return RemoteError(f"{code}: {details}")


@dataclass(frozen=True)
class Connection:
    """An open channel to the cloud and the keyword arguments every call on it takes."""

    channel: grpc.Channel
    call_options: dict[str, Any]


@contextlib.contextmanager
def connect(args: argparse.Namespace) -> Iterator[Connection]:
    """Open the channel of ``add_connection_args``' flags; a failed call raises RemoteError."""
    with open_channel(args) as channel:
        try:
            yield Connection(channel, {"timeout": args.timeout, "metadata": call_metadata(args)})
        except grpc.RpcError as exc:
            raise remote_error(exc) from None
