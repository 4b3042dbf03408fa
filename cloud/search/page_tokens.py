"""Opaque page tokens of the search queries: the sort key of the last item of a page, in
an exact encoding (a token this service did not hand out is refused, never guessed at)."""

from __future__ import annotations

import base64
import binascii
import json

from polc.cloud.field_checks import InvalidField


def encode(kind: str, key: tuple) -> str:
    text = json.dumps([kind, *key], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode(token: str, kind: str, types: tuple[type, ...]) -> tuple:
    """The key in ``token``; InvalidField("page_token") unless it is exactly a token
    :func:`encode` made for ``kind`` with values of ``types``."""
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeError):
        value = None
    if (
        not isinstance(value, list)
        or len(value) != len(types) + 1
        or value[0] != kind
        or not all(type(v) is t for v, t in zip(value[1:], types, strict=True))
        or encode(kind, tuple(value[1:])) != token
    ):
        raise InvalidField("page_token", "not a token this service handed out for this query")
    return tuple(value[1:])
