"""The compact P-frame layout (docs/bitstream.md "Compact P-frames"): ~28 bytes of header.

    0x8A 'P' │ version │ flags │ ref_seq* │ ref_crc │ tag │ scale_gain │ z_words* z_esc_len*
    y_words* y_esc_len* [enh_len*] │ params_crc │ latent_crc │ frame_crc
    ║ z │ z esc │ y │ y esc │ [enh]
    (* LEB128 varint; escapes are zigzag varints)

A P-frame's codec fingerprint, α, size and channel counts are its reference's (α changes only
at key frames), so this layout does not repeat them: :class:`FrameContainer` inherits them
when it is bound to its reference. The magic cannot be read as ``POLC`` / ``POLE``, so
decoders that predate it refuse it as "bad magic". One CRC (``frame_crc``) covers every
header byte before it and the base payload; it is checked as soon as the header's lengths
agree with the bytes present, before any escape is read. This module only packs and parses
bytes; :mod:`polc.shared.codec.container` turns them into a container.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from polc.shared.codec.varint import read_uvarint, read_zigzag_varints, uvarint, zigzag_varints
from polc.shared.errors import BitstreamError

COMPACT_MAGIC = b"\x8aP"  # never the start of POLC / POLE (0x50 0x4F)
COMPACT_VERSION = 1  # written and read; any other version is refused
TAG_BYTES = 2  # the temporal-model tag: the first bytes of its fingerprint
FLAG_ENHANCEMENT = 1  # an enhancement layer follows the base payload
FLAG_SKIP = 2  # skip-mode P-frame
FLAG_SKIP_CONTEXT = 4  # (with FLAG_SKIP) ŷ coded with the skip-mode context model h_k;
#                        bits 3-7 reserved (0)
SCALE_GAIN_ONE = 16  # scale_gain is σ's multiplier in sixteenths: 16 = ×1 (1 … 255)
MAX_SEQ = 2**63 - 1
MAX_SECTION = 2**32 - 1  # bytes: the bound of every length field (as the u32 layout's)

_U32 = struct.Struct("<I")
_CRCS = struct.Struct("<III")  # params_crc, latent_crc, frame_crc


@dataclass(frozen=True)
class CompactFrame:
    """The fields of a compact P-frame, as read (CRC-checked; nothing inherited yet)."""

    skip_mode: bool
    skip_context: bool  # ŷ coded with h_k (skip mode only), else with h_t
    ref_seq: int
    ref_crc: int
    tag: bytes  # TAG_BYTES of the temporal model's fingerprint
    scale_gain: int  # the ŷ scales' multiplier in sixteenths (σ_P·g/16)
    z_payload: bytes
    z_escapes: np.ndarray  # int64
    y_payload: bytes
    y_escapes: np.ndarray  # int64
    params_crc: int
    latent_crc: int
    base_payload: bytes
    enhancement: bytes  # the enhancement layer's container, b"": none
    header_size: int


def base_payload(z: bytes, z_escapes: np.ndarray, y: bytes, y_escapes: np.ndarray) -> bytes:
    """``z words | z escapes | y words | y escapes`` (escapes as zigzag varints)."""
    return z + zigzag_varints(z_escapes) + y + zigzag_varints(y_escapes)


def pack(
    skip_mode: bool,
    ref_seq: int,
    ref_crc: int,
    tag: bytes,
    scale_gain: int,
    sections: tuple[bytes, np.ndarray, bytes, np.ndarray],
    params_crc: int,
    latent_crc: int,
    enhancement: bytes,
    skip_context: bool = False,
) -> bytes:
    """The compact P-frame (``enhancement``: the layer's bytes, or b"")."""
    z, z_esc, y, y_esc = sections
    if len(tag) != TAG_BYTES:
        raise ValueError(f"temporal tag must be {TAG_BYTES} bytes")
    if len(z) % 4 or len(y) % 4:
        raise ValueError("entropy-coded sections are whole 4-byte words")
    if not 1 <= scale_gain <= 255:
        raise ValueError(f"scale_gain must be 1 … 255, got {scale_gain}")
    if skip_mode and z_esc.size:
        raise ValueError("a skip-mode P-frame has no ẑ escapes")
    if skip_context and not skip_mode:
        raise ValueError("only a skip-mode P-frame is coded with the skip context model")
    z_esc_bytes, y_esc_bytes = zigzag_varints(z_esc), zigzag_varints(y_esc)
    flags = (
        (FLAG_ENHANCEMENT if enhancement else 0)
        | (FLAG_SKIP if skip_mode else 0)
        | (FLAG_SKIP_CONTEXT if skip_context else 0)
    )
    head = b"".join(
        [
            COMPACT_MAGIC,
            bytes([COMPACT_VERSION, flags]),
            uvarint(ref_seq),
            _U32.pack(ref_crc),
            tag,
            bytes([scale_gain]),
            uvarint(len(z) // 4),
            uvarint(len(z_esc_bytes)),
            uvarint(len(y) // 4),
            uvarint(len(y_esc_bytes)),
            uvarint(len(enhancement)) if enhancement else b"",
            _CRCS.pack(params_crc, latent_crc, 0)[:8],
        ]
    )
    payload = z + z_esc_bytes + y + y_esc_bytes
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + _U32.pack(crc) + payload + enhancement


def is_compact(data: bytes) -> bool:
    return data[: len(COMPACT_MAGIC)] == COMPACT_MAGIC


def parse(data: bytes) -> CompactFrame:
    """Read a compact P-frame: magic, version, flags, the bounded header fields, lengths
    against the bytes present, frame_crc, then the escapes. BitstreamError otherwise."""
    what = "compact P-frame"
    if len(data) < 4 or not is_compact(data):
        raise BitstreamError(f"not a {what} (bad magic or truncated)")
    if data[2] != COMPACT_VERSION:
        raise BitstreamError(f"unsupported {what} version {data[2]}")
    flags = data[3]
    if flags & ~(FLAG_ENHANCEMENT | FLAG_SKIP | FLAG_SKIP_CONTEXT):
        raise BitstreamError(f"{what} flags {flags:#04x}: reserved bits set")
    if flags & FLAG_SKIP_CONTEXT and not flags & FLAG_SKIP:
        raise BitstreamError(f"{what} flags {flags:#04x}: skip context without skip mode")
    ref_seq, pos = read_uvarint(data, 4, MAX_SEQ, "reference seq")
    if len(data) < pos + 4 + TAG_BYTES + 1:
        raise BitstreamError(f"{what} truncated in its header")
    (ref_crc,) = _U32.unpack_from(data, pos)
    tag = data[pos + 4 : pos + 4 + TAG_BYTES]
    scale_gain = data[pos + 4 + TAG_BYTES]
    if scale_gain == 0:
        raise BitstreamError(f"{what} scale_gain 0 (must be 1 … 255)")
    pos += 4 + TAG_BYTES + 1
    lengths = []
    for name in ("z_words", "z_esc_len", "y_words", "y_esc_len"):
        value, pos = read_uvarint(data, pos, MAX_SECTION, name)
        lengths.append(value)
    enh_len = 0
    if flags & FLAG_ENHANCEMENT:
        enh_len, pos = read_uvarint(data, pos, MAX_SECTION, "enh_len")
        if enh_len == 0:
            raise BitstreamError("enhancement flag and length disagree")
    if len(data) < pos + _CRCS.size:
        raise BitstreamError(f"{what} truncated in its header")
    params_crc, latent_crc, frame_crc = _CRCS.unpack_from(data, pos)
    header_size = pos + _CRCS.size
    z_len, z_esc_len, y_len, y_esc_len = 4 * lengths[0], lengths[1], 4 * lengths[2], lengths[3]
    base_len = z_len + z_esc_len + y_len + y_esc_len
    if len(data) != header_size + base_len + enh_len:
        raise BitstreamError(
            f"{what} is {len(data)} bytes, header says {header_size + base_len + enh_len}"
        )
    payload = data[header_size : header_size + base_len]
    if zlib.crc32(payload, zlib.crc32(data[: header_size - 4])) != frame_crc:
        raise BitstreamError(f"{what} CRC mismatch (corrupted header or payload)")
    skip_mode = bool(flags & FLAG_SKIP)
    if skip_mode and z_esc_len:
        raise BitstreamError("skip-mode P-frame with ẑ escapes")
    o = 0
    z_payload = payload[o : o + z_len]
    o += z_len
    z_escapes = read_zigzag_varints(payload[o : o + z_esc_len], "ẑ escapes")
    o += z_esc_len
    y_payload = payload[o : o + y_len]
    o += y_len
    y_escapes = read_zigzag_varints(payload[o:], "ŷ escapes")
    return CompactFrame(
        skip_mode=skip_mode,
        skip_context=bool(flags & FLAG_SKIP_CONTEXT),
        ref_seq=ref_seq,
        ref_crc=ref_crc,
        tag=tag,
        scale_gain=scale_gain,
        z_payload=z_payload,
        z_escapes=z_escapes,
        y_payload=y_payload,
        y_escapes=y_escapes,
        params_crc=params_crc,
        latent_crc=latent_crc,
        base_payload=payload,
        enhancement=data[header_size + base_len :],
        header_size=header_size,
    )
