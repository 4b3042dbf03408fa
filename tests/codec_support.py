"""Helpers for the bitstream tests: forging containers the way a faulty or hostile edge
would (the payload CRC and, in format version 2, the header CRC recomputed after tampering)."""

from __future__ import annotations

import struct
import zlib

from polc.shared.codec.container import header_crc

BASE_HEADER_FMT = "<4sBBH16sHHHHHHIIIIIIIII"  # shared/codec/container.py: _BASE (version 2)
BASE_HEADER_V1_FMT = "<4sBBH16sHHHHHHIIIIIIII"  # version 1: no header CRC
_PAYLOAD_CRC_OFFSET = 52
_ENH_LEN_OFFSET = 64
_HEADER_CRC_OFFSET = 68  # version 2


def fix_payload_crc(buf: bytearray) -> None:
    """Recompute the base payload CRC, then the header CRC (version 2), in place (no-op if
    the header is beyond repair)."""
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
