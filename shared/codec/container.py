"""The .polc frame container: base layer (ẑ, ŷ) + optional enhancement layer (ŝ).

Specified in docs/bitstream.md. Parsing never trusts a length or a shape: every size is
checked against hard limits and against the bytes actually present *before* anything is
allocated or handed to the entropy decoder; every problem raises :class:`BitstreamError`.

Format version 2 (written) puts every header byte under a header CRC-32 (fields, flags,
reserved header bytes), so a corrupted α, geometry or flag is refused instead of being
decoded as another frame; version-1 containers (no header CRC) are still read.

P-frames (temporal coding) are version-2 containers with flag bit 1 set and a 28-byte
reference extension after the header CRC (reference seq, reference checksum, temporal model
fingerprint), still under the header CRC. Decoders that predate them refuse the flag bit.
Skip-mode P-frames (flag bit 2, only with bit 1) send no ẑ (the reference's is reused): their
ẑ section holds the coded skip map instead (no escapes).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from polc.shared.errors import BitstreamError

BASE_MAGIC = b"POLC"
ENH_MAGIC = b"POLE"
FORMAT_VERSION = 2  # written; READABLE_VERSIONS are parsed
READABLE_VERSIONS = (1, 2)
MAX_SIDE = 8192  # pixels; larger frames are rejected before any allocation
MIN_SIDE = 16
PAD = 64  # g_a/h_a downsample by 64 in total

FLAG_ENHANCEMENT = 1  # base flags bit 0
FLAG_P_FRAME = 2  # base flags bit 1 (version 2 only): a P-frame
FLAG_SKIP = 4  # base flags bit 2 (with bit 1 only): skip-mode P-frame; bits 3-7 reserved (0)

# magic, version, flags, header_size, fingerprint, alpha_code, width, height,
# M, N, aux, z_len, z_esc, y_len, y_esc, payload_crc, params_crc, latent_crc, enh_len
_BASE_V1 = struct.Struct("<4sBBH16sHHHHHHIIIIIIII")
# version 2: the same fields, then header_crc (CRC-32 of every other header byte)
_BASE = struct.Struct(_BASE_V1.format + "I")
# P-frame extension (after _BASE, under the header CRC): reference seq, reference checksum
# (the reference's latent_crc), temporal model fingerprint
_P_REF = struct.Struct("<QI16s")
# magic, version, flags, header_size, fingerprint, base_payload_crc, s_len, s_esc,
# payload_crc, enh_crc
_ENH_V1 = struct.Struct("<4sBBH16sIIIII")
_ENH = struct.Struct(_ENH_V1.format + "I")  # version 2: + header_crc


def header_crc(data: bytes, header_size: int, crc_offset: int) -> int:
    """CRC-32 of the header bytes ``[0, header_size)`` without the 4-byte CRC field at
    ``crc_offset``: every field, flag and reserved byte (docs/bitstream.md)."""
    return zlib.crc32(data[crc_offset + 4 : header_size], zlib.crc32(data[:crc_offset]))


def _seal(head: bytes, crc_offset: int | None = None) -> bytes:
    """Fill the header CRC at ``crc_offset`` (default: the last 4 bytes of the header)."""
    crc_offset = len(head) - 4 if crc_offset is None else crc_offset
    crc = struct.pack("<I", header_crc(head, len(head), crc_offset))
    return head[:crc_offset] + crc + head[crc_offset + 4 :]


def _layout(data: bytes, magic: bytes, v1: struct.Struct, v2: struct.Struct, what: str) -> tuple:
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


@dataclass(frozen=True)
class FrameGeometry:
    width: int
    height: int

    @property
    def padded(self) -> tuple[int, int]:
        return (-(-self.height // PAD) * PAD, -(-self.width // PAD) * PAD)

    @property
    def latent_hw(self) -> tuple[int, int]:
        h, w = self.padded
        return h // 16, w // 16

    @property
    def hyper_hw(self) -> tuple[int, int]:
        h, w = self.padded
        return h // 64, w // 64


@dataclass
class EnhancementLayer:
    fingerprint: bytes
    base_payload_crc: int
    s_payload: bytes
    s_escapes: np.ndarray
    enh_crc: int  # CRC-32 of the decoded ŝ symbols

    @property
    def nbytes(self) -> int:
        """Size of :meth:`to_bytes` without building it."""
        return _ENH.size + len(self.s_payload) + 4 * self.s_escapes.size

    def to_bytes(self) -> bytes:
        esc = self.s_escapes.astype("<i4").tobytes()
        payload = self.s_payload + esc
        head = _ENH.pack(
            ENH_MAGIC,
            FORMAT_VERSION,
            0,
            _ENH.size,
            self.fingerprint,
            self.base_payload_crc,
            len(self.s_payload),
            self.s_escapes.size,
            zlib.crc32(payload),
            self.enh_crc,
            0,
        )
        return _seal(head) + payload

    @classmethod
    def from_bytes(cls, data: bytes, max_symbols: int | None = None) -> EnhancementLayer:
        fields = _layout(data, ENH_MAGIC, _ENH_V1, _ENH, "enhancement layer")
        (_magic, _version, flags, header_size, fp, base_crc, s_len, s_esc, crc, enh_crc) = fields
        if flags:
            raise BitstreamError(f"enhancement layer flags {flags:#04x}: reserved bits set")
        if max_symbols is not None and s_esc > max_symbols:
            raise BitstreamError("enhancement escape count exceeds the latent size")
        payload = data[header_size:]
        if len(payload) != s_len + 4 * s_esc:
            raise BitstreamError(
                f"enhancement payload is {len(payload)} bytes, header says {s_len + 4 * s_esc}"
            )
        if zlib.crc32(payload) != crc:
            raise BitstreamError("enhancement payload CRC mismatch (corrupted in transit)")
        return cls(
            fp,
            base_crc,
            payload[:s_len],
            np.frombuffer(payload[s_len:], "<i4").astype(np.int64),
            enh_crc,
        )


@dataclass(frozen=True)
class ReferenceLink:
    """What a P-frame says about the reference it was coded against."""

    seq: int  # u64: the reference frame's sequence number (per camera)
    checksum: int  # u32: the reference's latent_crc (CRC-32 of its ŷ symbols)
    temporal_fingerprint: bytes  # 16 B: the temporal model that coded it


@dataclass
class FrameContainer:
    fingerprint: bytes
    alpha_code: int  # alpha = alpha_code / 65535
    geometry: FrameGeometry
    channels: tuple[int, int, int]  # M, N, aux
    z_payload: bytes
    z_escapes: np.ndarray
    y_payload: bytes
    y_escapes: np.ndarray
    params_crc: int  # CRC-32 of the entropy parameters (scale indexes + means) of ŷ
    latent_crc: int  # CRC-32 of the decoded ŷ symbols
    enhancement: EnhancementLayer | None = None
    reference: ReferenceLink | None = None  # set: a P-frame coded against that reference
    skip_mode: bool = False  # a skip-mode P-frame: z_payload is the skip map, ẑ is reused

    @property
    def is_p_frame(self) -> bool:
        return self.reference is not None

    @property
    def alpha(self) -> float:
        return self.alpha_code / 65535.0

    @cached_property
    def base_payload(self) -> bytes:
        """The base layer's payload (the layers never change once a container exists)."""
        return (
            self.z_payload
            + self.z_escapes.astype("<i4").tobytes()
            + self.y_payload
            + self.y_escapes.astype("<i4").tobytes()
        )

    @cached_property
    def payload_crc(self) -> int:
        """CRC-32 of :attr:`base_payload`: the header field and the enhancement layer's link."""
        return zlib.crc32(self.base_payload)

    @property
    def base_nbytes(self) -> int:
        """Size of :meth:`base_bytes` without building it."""
        return _BASE.size + (_P_REF.size if self.reference else 0) + len(self.base_payload)

    def base_bytes(self) -> bytes:
        """The base layer alone (what is always streamed)."""
        return self._pack(b"")

    def to_bytes(self) -> bytes:
        enh = self.enhancement.to_bytes() if self.enhancement is not None else b""
        return self._pack(enh)

    def _pack(self, enh: bytes) -> bytes:
        payload = self.base_payload
        g = self.geometry
        ref = self.reference
        flags = (
            (FLAG_ENHANCEMENT if enh else 0)
            | (FLAG_P_FRAME if ref else 0)
            | (FLAG_SKIP if ref and self.skip_mode else 0)
        )
        extension = _P_REF.pack(ref.seq, ref.checksum, ref.temporal_fingerprint) if ref else b""
        head = _BASE.pack(
            BASE_MAGIC,
            FORMAT_VERSION,
            flags,
            _BASE.size + len(extension),
            self.fingerprint,
            self.alpha_code,
            g.width,
            g.height,
            *self.channels,
            len(self.z_payload),
            self.z_escapes.size,
            len(self.y_payload),
            self.y_escapes.size,
            self.payload_crc,
            self.params_crc,
            self.latent_crc,
            len(enh),
            0,
        )
        return _seal(head + extension, _BASE_V1.size) + payload + enh

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> FrameContainer:
        data = bytes(data)
        fields = _layout(data, BASE_MAGIC, _BASE_V1, _BASE, "container")
        (
            _magic,
            _version,
            flags,
            header_size,
            fp,
            alpha_code,
            width,
            height,
            M,
            N,
            aux,
            z_len,
            z_esc,
            y_len,
            y_esc,
            crc,
            params_crc,
            latent_crc,
            enh_len,
        ) = fields
        allowed = FLAG_ENHANCEMENT | (FLAG_P_FRAME | FLAG_SKIP if data[4] >= 2 else 0)
        if flags & ~allowed:
            raise BitstreamError(f"container flags {flags:#04x}: reserved bits set")
        skip_mode = bool(flags & FLAG_SKIP)
        if skip_mode and not flags & FLAG_P_FRAME:
            raise BitstreamError("skip flag set on a key frame")
        if skip_mode and z_esc:
            raise BitstreamError("skip-mode P-frame with ẑ escapes")
        reference = None
        if flags & FLAG_P_FRAME:
            if header_size < _BASE.size + _P_REF.size:
                raise BitstreamError("P-frame header too short for its reference fields")
            ref_seq, ref_crc, temporal_fp = _P_REF.unpack_from(data, _BASE.size)
            reference = ReferenceLink(ref_seq, ref_crc, temporal_fp)
        if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
            raise BitstreamError(f"frame size {width}x{height} outside [{MIN_SIDE}, {MAX_SIDE}]")
        if not (1 <= M <= 4096 and 1 <= N <= 4096 and 1 <= aux <= 4096):
            raise BitstreamError("latent channel counts out of range")
        geometry = FrameGeometry(width, height)
        ph, pw = geometry.padded
        if y_esc > M * (ph // 16) * (pw // 16) or z_esc > N * (ph // 64) * (pw // 64):
            raise BitstreamError("escape count exceeds the latent size")
        if z_len % 4 or y_len % 4:
            raise BitstreamError("entropy-coded section length is not a multiple of 4")
        if bool(flags & FLAG_ENHANCEMENT) != (enh_len > 0):
            raise BitstreamError("enhancement flag and length disagree")
        base_len = z_len + 4 * z_esc + y_len + 4 * y_esc
        if len(data) != header_size + base_len + enh_len:
            raise BitstreamError(
                f"container is {len(data)} bytes, header says {header_size + base_len + enh_len}"
            )
        payload = data[header_size : header_size + base_len]
        if zlib.crc32(payload) != crc:
            raise BitstreamError("payload CRC mismatch (corrupted in transit)")
        o = 0
        z_payload = payload[o : o + z_len]
        o += z_len
        z_escapes = _escapes(payload[o : o + 4 * z_esc])
        o += 4 * z_esc
        y_payload = payload[o : o + y_len]
        o += y_len
        y_escapes = _escapes(payload[o : o + 4 * y_esc])
        enhancement = None
        if enh_len:
            enhancement = EnhancementLayer.from_bytes(
                data[header_size + base_len :], max_symbols=aux * (ph // 16) * (pw // 16)
            )
            if enhancement.base_payload_crc != crc:
                raise BitstreamError("enhancement layer belongs to another frame")
        container = cls(
            fp,
            alpha_code,
            geometry,
            (M, N, aux),
            z_payload,
            z_escapes,
            y_payload,
            y_escapes,
            params_crc,
            latent_crc,
            enhancement,
            reference,
            skip_mode,
        )
        container.__dict__.update(base_payload=payload, payload_crc=crc)  # already checked
        return container


_NO_ESCAPES = np.zeros(0, np.int64)
_NO_ESCAPES.flags.writeable = False


def _escapes(raw: bytes) -> np.ndarray:
    """Escaped symbol values (int32 little-endian on the wire). Most frames have none: the
    shared read-only empty array spares the ingest path two numpy calls per frame."""
    return np.frombuffer(raw, "<i4").astype(np.int64) if raw else _NO_ESCAPES


def alpha_to_code(alpha: float) -> int:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return int(round(alpha * 65535))
