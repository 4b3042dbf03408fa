"""Header checks shared by the base and enhancement layers (docs/bitstream.md): the format
versions, the header CRC of version 2 (every header byte but the CRC field itself), and the
first checks of a parse — magic, version, header size, header CRC — before any field is trusted.
"""

from __future__ import annotations

import struct
import zlib

from polc.shared.errors import BitstreamError

FORMAT_VERSION = 2  # written; READABLE_VERSIONS are parsed
READABLE_VERSIONS = (1, 2)


def header_crc(data: bytes, header_size: int, crc_offset: int) -> int:
    """CRC-32 of the header bytes ``[0, header_size)`` without the 4-byte CRC field at
    ``crc_offset``: every field, flag and reserved byte (docs/bitstream.md)."""
    return zlib.crc32(data[crc_offset + 4 : header_size], zlib.crc32(data[:crc_offset]))


def seal_header(head: bytes, crc_offset: int | None = None) -> bytes:
    """Fill the header CRC at ``crc_offset`` (default: the last 4 bytes of the header)."""
    crc_offset = len(head) - 4 if crc_offset is None else crc_offset
    crc = struct.pack("<I", header_crc(head, len(head), crc_offset))
    return head[:crc_offset] + crc + head[crc_offset + 4 :]


def read_header(
    data: bytes, magic: bytes, v1: struct.Struct, v2: struct.Struct, what: str
) -> tuple:
    """Check magic, version, header size and (version 2) the header CRC; unpack the fields.

    The fields come back in version 1's order (version 2's header CRC is dropped)."""
    if len(data) < v1.size:
        raise BitstreamError(f"{what} truncated: {len(data)} bytes < header {v1.size}")
    if data[:4] != magic:
        raise BitstreamError(f"not a polc {what} (bad magic)")
    version = data[4]
    if version not in READABLE_VERSIONS:
        raise BitstreamError(f"unsupported {what} format version {version}")
    layout = v1 if version == 1 else v2
    if len(data) < layout.size:
        raise BitstreamError(f"{what} truncated: {len(data)} bytes < header {layout.size}")
    fields = layout.unpack_from(data)
    header_size = fields[3]
    if header_size < layout.size or header_size > len(data):
        raise BitstreamError(f"{what} header size out of range")
    if layout is v2:
        if header_crc(data, header_size, v1.size) != fields[-1]:
            raise BitstreamError(f"{what} header CRC mismatch (corrupted header)")
        fields = fields[:-1]
    return fields
