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

Encoders write P-frames in the **compact layout** (``compact_layout.py``, ~28-byte header):
it leaves out what a P-frame shares with its reference (:class:`FrameSpec` of
``frame_spec.py``: model fingerprint, α, size, channel counts). A compact container read
from bytes is *unbound* until :meth:`FrameContainer.bind` gives it its reference's spec;
what needs no spec (kind, reference link, sections, CRCs, enhancement layer) is there from
the start. The 100-byte P-frame layout above is still read (and written on request:
``compact=False``).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from polc.shared.codec import compact_layout
from polc.shared.codec.enhancement_layer import EnhancementLayer
from polc.shared.codec.frame_spec import (
    MAX_SIDE,
    MIN_SIDE,
    FrameGeometry,
    FrameSpec,
    ReferenceLink,
    check_escape_counts,
)
from polc.shared.codec.header_checks import FORMAT_VERSION, read_header, seal_header
from polc.shared.errors import BitstreamError

BASE_MAGIC = b"POLC"
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


@dataclass
class FrameContainer:
    spec: FrameSpec | None  # None: a compact P-frame not yet bound to its reference
    z_payload: bytes
    z_escapes: np.ndarray
    y_payload: bytes
    y_escapes: np.ndarray
    params_crc: int  # CRC-32 of the entropy parameters (scale indexes + means) of ŷ
    latent_crc: int  # CRC-32 of the decoded ŷ symbols
    enhancement: EnhancementLayer | None = None
    reference: ReferenceLink | None = None  # set: a P-frame coded against that reference
    skip_mode: bool = False  # a skip-mode P-frame: z_payload is the skip map, ẑ is reused
    compact: bool = False  # a P-frame in the compact layout (escapes as zigzag varints)
    # P-frames: ŷ's scales are σ_P·scale_gain/16 (the compact layout carries it; the full
    # layout has no field: 16, ×1)
    scale_gain: int = compact_layout.SCALE_GAIN_ONE
    skip_context: bool = False  # skip mode, compact layout: ŷ coded with h_k (not h_t)

    def __post_init__(self) -> None:
        if self.skip_context and not (self.compact and self.skip_mode):
            raise ValueError("only a compact skip-mode P-frame is coded with h_k")
        if self.compact and self.reference is None:
            raise ValueError("only P-frames have a compact layout")
        if not self.compact and self.scale_gain != compact_layout.SCALE_GAIN_ONE:
            raise ValueError("only a compact P-frame carries a scale gain")
        if self.spec is None and not self.compact:
            raise ValueError("only a compact P-frame inherits its frame spec")

    @property
    def is_p_frame(self) -> bool:
        return self.reference is not None

    @property
    def is_bound(self) -> bool:
        """Whether the frame spec is known (always, except a compact P-frame before
        :meth:`bind`)."""
        return self.spec is not None

    def _spec(self) -> FrameSpec:
        if self.spec is None:
            raise BitstreamError(
                "compact P-frame not bound to its reference: its model, α and size are the "
                "reference's (decode it against the reference first)"
            )
        return self.spec

    @property
    def fingerprint(self) -> bytes:
        return self._spec().fingerprint

    @property
    def alpha_code(self) -> int:
        return self._spec().alpha_code

    @property
    def geometry(self) -> FrameGeometry:
        return self._spec().geometry

    @property
    def channels(self) -> tuple[int, int, int]:
        return self._spec().channels

    @property
    def alpha(self) -> float:
        return self.alpha_code / 65535.0

    def bind(self, spec: FrameSpec) -> None:
        """Give a compact P-frame its reference's spec, checking what only the spec bounds
        (escape counts against the latent sizes). A frame that carries its own spec is
        never rebound."""
        if not self.compact:
            raise BitstreamError("only a compact P-frame inherits its reference's spec")
        check_escape_counts(spec, self.z_escapes.size, self.y_escapes.size, self.enhancement)
        self.spec = spec

    @cached_property
    def base_payload(self) -> bytes:
        """The base layer's payload (the layers never change once a container exists)."""
        if self.compact:
            return compact_layout.base_payload(
                self.z_payload, self.z_escapes, self.y_payload, self.y_escapes
            )
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
        return self.header_nbytes + len(self.base_payload)

    @property
    def header_nbytes(self) -> int:
        """Size of the base layer's header (what :meth:`base_bytes` holds besides the payload)."""
        if self.compact:
            return len(self._pack_compact(b"")) - len(self.base_payload)
        return _BASE.size + (_P_REF.size if self.reference else 0)

    def base_bytes(self) -> bytes:
        """The base layer alone (what is always streamed)."""
        return self._pack(b"")

    def to_bytes(self) -> bytes:
        enh = self.enhancement.to_bytes() if self.enhancement is not None else b""
        return self._pack(enh)

    def _pack_compact(self, enh: bytes) -> bytes:
        ref = self.reference
        assert ref is not None
        return compact_layout.pack(
            self.skip_mode,
            ref.seq,
            ref.checksum,
            ref.temporal_fingerprint[: compact_layout.TAG_BYTES],
            self.scale_gain,
            (self.z_payload, self.z_escapes, self.y_payload, self.y_escapes),
            self.params_crc,
            self.latent_crc,
            enh,
            self.skip_context,
        )

    def _pack(self, enh: bytes) -> bytes:
        if self.compact:
            return self._pack_compact(enh)
        payload = self.base_payload
        g = self.geometry
        ref = self.reference
        if ref is not None and len(ref.temporal_fingerprint) != 16:
            raise ValueError("the full P-frame layout needs the 16-byte temporal fingerprint")
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
        return seal_header(head + extension, _BASE_V1.size) + payload + enh

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> FrameContainer:
        """Parse a key frame or P-frame (either layout); a compact P-frame comes back unbound."""
        data = bytes(data)
        if compact_layout.is_compact(data):
            return cls._from_compact(data)
        fields = read_header(data, BASE_MAGIC, _BASE_V1, _BASE, "container")
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
        spec = FrameSpec(fp, alpha_code, FrameGeometry(width, height), (M, N, aux))
        check_escape_counts(spec, z_esc, y_esc, None)
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
                data[header_size + base_len :], max_symbols=aux * math.prod(spec.geometry.latent_hw)
            )
            if enhancement.base_payload_crc != crc:
                raise BitstreamError("enhancement layer belongs to another frame")
        container = cls(
            spec,
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

    @classmethod
    def _from_compact(cls, data: bytes) -> FrameContainer:
        frame = compact_layout.parse(data)
        enhancement = None
        if frame.enhancement:  # its escape count is bounded when the frame is bound
            enhancement = EnhancementLayer.from_bytes(frame.enhancement)
            if enhancement.base_payload_crc != zlib.crc32(frame.base_payload):
                raise BitstreamError("enhancement layer belongs to another frame")
        container = cls(
            None,
            frame.z_payload,
            frame.z_escapes,
            frame.y_payload,
            frame.y_escapes,
            frame.params_crc,
            frame.latent_crc,
            enhancement,
            ReferenceLink(frame.ref_seq, frame.ref_crc, frame.tag),
            frame.skip_mode,
            compact=True,
            scale_gain=frame.scale_gain,
            skip_context=frame.skip_context,
        )
        container.__dict__["base_payload"] = frame.base_payload  # already checked
        return container


_NO_ESCAPES = np.zeros(0, np.int64)
_NO_ESCAPES.flags.writeable = False


def _escapes(raw: bytes) -> np.ndarray:
    """Escaped symbol values (int32 little-endian on the wire). Most frames have none: the
    shared read-only empty array spares the ingest path two numpy calls per frame."""
    return np.frombuffer(raw, "<i4").astype(np.int64) if raw else _NO_ESCAPES
