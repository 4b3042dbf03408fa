"""LEB128 varints and zigzag-coded signed values: the compact P-frame's integer fields.

    unsigned v  ─► 7 bits per byte, least significant first, bit 7 set on every byte but
                   the last (LEB128)
    signed v    ─► u = 2v (v ≥ 0) or −2v − 1 (v < 0) (zigzag) ─► LEB128

Reading is strict, so that every value has exactly one encoding (a re-serialised frame is
byte for byte the one read): a varint longer than its bound, a multi-byte varint whose last
byte is 0 (non-canonical), a value above its bound or a truncated varint raises
:class:`BitstreamError`. Escape arrays are read and written vectorised (numpy).
"""

from __future__ import annotations

import numpy as np

from polc.shared.errors import BitstreamError

#: an escape is a latent value with |v| ≤ 2^30 (as in the i32 layout): zigzag ≤ 2^31, 5 bytes
MAX_ESCAPE = 2**30
_ESCAPE_BYTES = 5


def uvarint(value: int) -> bytes:
    """LEB128 of ``value`` ≥ 0."""
    if value < 0:
        raise ValueError(f"varint of a negative value {value}")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_uvarint(data: bytes, pos: int, max_value: int, what: str) -> tuple[int, int]:
    """(value, position after it) of the LEB128 at ``pos``; BitstreamError unless it is
    canonical, complete and ≤ ``max_value``."""
    value = shift = 0
    limit = pos + (max_value.bit_length() + 6) // 7
    while True:
        if pos >= len(data):
            raise BitstreamError(f"{what}: truncated varint")
        if pos >= limit:
            raise BitstreamError(f"{what}: varint longer than its bound")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and shift > 7:
                raise BitstreamError(f"{what}: non-canonical varint")
            break
    if value > max_value:
        raise BitstreamError(f"{what} {value} above its bound {max_value}")
    return value, pos


def zigzag_varints(values: np.ndarray) -> bytes:
    """Signed integers (|v| ≤ 2^30) as zigzag LEB128 varints, concatenated."""
    v = np.asarray(values, np.int64).ravel()
    if not v.size:
        return b""
    if np.any(np.abs(v) > MAX_ESCAPE):
        raise BitstreamError("latent value out of codable range (|v| > 2^30)")
    u = ((v << 1) ^ (v >> 63)).astype(np.uint64)
    nbytes = np.ones(v.size, np.int64)
    for k in range(1, _ESCAPE_BYTES):
        nbytes += u >= np.uint64(1 << (7 * k))
    starts = np.cumsum(nbytes) - nbytes
    out = np.empty(int(nbytes.sum()), np.uint8)
    for k in range(_ESCAPE_BYTES):
        sel = nbytes > k
        more = np.where(nbytes[sel] > k + 1, 0x80, 0).astype(np.uint64)
        out[starts[sel] + k] = ((u[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)) | more
    return out.tobytes()


def read_zigzag_varints(section: bytes, what: str) -> np.ndarray:
    """The signed values (int64) of a section that is exactly a run of zigzag varints."""
    if not section:
        return np.zeros(0, np.int64)
    raw = np.frombuffer(section, np.uint8)
    ends = np.flatnonzero(raw < 0x80)
    if not ends.size or ends[-1] != raw.size - 1:
        raise BitstreamError(f"{what}: truncated varint")
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > _ESCAPE_BYTES:
        raise BitstreamError(f"{what}: varint longer than its bound")
    if np.any((raw[ends] == 0) & (lengths > 1)):
        raise BitstreamError(f"{what}: non-canonical varint")
    u = np.zeros(ends.size, np.int64)
    for k in range(_ESCAPE_BYTES):
        sel = lengths > k
        u[sel] |= (raw[starts[sel] + k].astype(np.int64) & 0x7F) << (7 * k)
    if u.max() > 2 * MAX_ESCAPE:
        raise BitstreamError(f"{what}: value out of codable range (|v| > 2^30)")
    return (u >> 1) ^ -(u & 1)
