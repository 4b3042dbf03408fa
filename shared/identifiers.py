"""Identifiers both ends agree on: the camera id rule (what an edge may call itself and
what the cloud accepts on the wire, in tokens and in queries)."""

from __future__ import annotations

import re

#: a camera id: 1-128 characters of [A-Za-z0-9._:-]
CAMERA_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def is_camera_id(value: str) -> bool:
    """True if ``value`` follows the camera id rule."""
    return CAMERA_ID_RE.match(value) is not None


def check_camera_id(value: str) -> str:
    """``value`` if it is a valid camera id; ValueError (message quotes at most 140
    characters of it) otherwise."""
    if not is_camera_id(value):
        raise ValueError(f"camera id {value[:140]!r} must be 1-128 chars of [A-Za-z0-9._:-]")
    return value
