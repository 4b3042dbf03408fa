"""Helpers for the bitstream tests: forging containers the way a faulty or hostile edge
would (the payload CRC recomputed after tampering)."""

from __future__ import annotations

import struct
import zlib

BASE_HEADER_FMT = "<4sBBH16sHHHHHHIIIIIIII"  # shared/codec/container.py: _BASE
_PAYLOAD_CRC_OFFSET = struct.calcsize(BASE_HEADER_FMT) - 16


def fix_payload_crc(buf: bytearray) -> None:
    """Recompute the base payload CRC in place (no-op if the header is beyond repair)."""
    fields = struct.unpack_from(BASE_HEADER_FMT, buf)
    header, enh_len = fields[3], fields[-1]
    if header > len(buf) or enh_len > len(buf):
        return
    crc = zlib.crc32(bytes(buf[header:len(buf) - enh_len]))
    struct.pack_into("<I", buf, _PAYLOAD_CRC_OFFSET, crc)
