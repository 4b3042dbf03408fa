"""The enhancement layer container (ŝ, needed for β < 1): self-describing, so it can travel
later and separately from its base frame (the on-demand path). docs/bitstream.md.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from polc.shared.codec.header_checks import FORMAT_VERSION, read_header, seal_header
from polc.shared.errors import BitstreamError

ENH_MAGIC = b"POLE"
# magic, version, flags, header_size, fingerprint, base_payload_crc, s_len, s_esc,
# payload_crc, enh_crc
_ENH_V1 = struct.Struct("<4sBBH16sIIIII")
_ENH = struct.Struct(_ENH_V1.format + "I")  # version 2: + header_crc


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
        return seal_header(head) + payload

    @classmethod
    def from_bytes(cls, data: bytes, max_symbols: int | None = None) -> EnhancementLayer:
        fields = read_header(data, ENH_MAGIC, _ENH_V1, _ENH, "enhancement layer")
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
