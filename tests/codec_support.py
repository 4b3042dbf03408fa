"""Helpers for the bitstream tests: forging containers the way a faulty or hostile edge
would (the payload CRC and, in format version 2, the header CRC recomputed after tampering;
a compact P-frame's frame CRC)."""

from __future__ import annotations

import struct
import zlib

from polc.shared.codec import compact_layout
from polc.shared.codec.header_checks import header_crc

BASE_HEADER_FMT = "<4sBBH16sHHHHHHIIIIIIIII"  # shared/codec/container.py: _BASE (version 2)
BASE_HEADER_V1_FMT = "<4sBBH16sHHHHHHIIIIIIII"  # version 1: no header CRC
_PAYLOAD_CRC_OFFSET = 52
_ENH_LEN_OFFSET = 64
_HEADER_CRC_OFFSET = 68  # version 2


def _lenient_varint(buf: bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf) and shift < 70:
        value |= (buf[pos] & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not buf[pos - 1] & 0x80:
            return value, pos
    return -1, len(buf) + 1


def fix_compact_crc(buf: bytearray) -> None:
    """Recompute a compact P-frame's frame_crc (header + base payload), in place (no-op if
    its header is beyond repair): shared/codec/compact_layout.py."""
    _, pos = _lenient_varint(buf, 4)
    pos += 4 + compact_layout.TAG_BYTES + 1  # ref_crc, tag, scale_gain
    lengths = []
    for _ in range(5 if len(buf) > 3 and buf[3] & compact_layout.FLAG_ENHANCEMENT else 4):
        value, pos = _lenient_varint(buf, pos)
        lengths.append(value)
    crc_at = pos + 8
    if min(lengths) < 0 or crc_at + 4 > len(buf):
        return
    z_words, z_esc, y_words, y_esc = lengths[:4]
    base_len = 4 * z_words + z_esc + 4 * y_words + y_esc
    if crc_at + 4 + base_len + (lengths[4] if len(lengths) == 5 else 0) != len(buf):
        return
    payload = bytes(buf[crc_at + 4 : crc_at + 4 + base_len])
    struct.pack_into("<I", buf, crc_at, zlib.crc32(payload, zlib.crc32(bytes(buf[:crc_at]))))


def fix_payload_crc(buf: bytearray) -> None:
    """Recompute the base payload CRC, then the header CRC (version 2), in place (no-op if
    the header is beyond repair); a compact P-frame: its frame_crc."""
    if compact_layout.is_compact(bytes(buf[:2])):
        fix_compact_crc(buf)
        return
    if len(buf) < struct.calcsize(BASE_HEADER_V1_FMT):
        return
    header = struct.unpack_from("<H", buf, 6)[0]
    enh_len = struct.unpack_from("<I", buf, _ENH_LEN_OFFSET)[0]
    if header > len(buf) or enh_len > len(buf):
        return
    crc = zlib.crc32(bytes(buf[header : len(buf) - enh_len]))
    struct.pack_into("<I", buf, _PAYLOAD_CRC_OFFSET, crc)
    if buf[4] == 2 and _HEADER_CRC_OFFSET + 4 <= header:
        struct.pack_into(
            "<I", buf, _HEADER_CRC_OFFSET, header_crc(bytes(buf), header, _HEADER_CRC_OFFSET)
        )
