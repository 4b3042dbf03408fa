"""HOST:PORT network addresses, as written in configs and on command lines."""

from __future__ import annotations


def parse_host_port(
    value: str, *, allow_port_zero: bool, field: str = "address"
) -> tuple[str, int]:
    """Split ``HOST:PORT`` at its last colon into (host, port); the host is returned as
    written (an IPv6 host keeps its brackets). Port 0 ("any free port") only where
    ``allow_port_zero``. ValueError("<field> must be HOST:PORT, got '<value>'") otherwise."""
    host, sep, port = value.rpartition(":")
    lowest = 0 if allow_port_zero else 1
    if not sep or not host or not port.isdigit() or not lowest <= int(port) <= 65535:
        raise ValueError(f"{field} must be HOST:PORT, got {value!r}")
    return host, int(port)
