"""One spooled frame on disk (and as the uplink sends it): the record format of the spool's
``frames/<seq>.frame`` files.

    magic "PESF" | version u8 | metadata length u32 | metadata JSON | base layer |
    enhancement layer (optional) | CRC-32 of everything before it

The metadata names the camera, seq, capture time, α, frame size and the two layers' lengths
(``enh_len`` −1: no enhancement layer sent with the frame).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"PESF"  # polc edge spool frame
VERSION = 1
_HEAD = struct.Struct("<4sBI")  # magic, version, metadata length
_CRC = struct.Struct("<I")


@dataclass
class SpooledFrame:
    """One frame as kept in the spool (and as sent on the wire)."""

    camera_id: str
    seq: int
    capture_time_ns: int
    alpha: float
    base: bytes
    enhancement: bytes | None = None  # sent together with the frame
    width: int = 0
    height: int = 0

    @property
    def nbytes(self) -> int:
        return len(self.base) + len(self.enhancement or b"")

    def to_bytes(self) -> bytes:
        meta = json.dumps(
            {
                "camera_id": self.camera_id,
                "seq": self.seq,
                "capture_time_ns": self.capture_time_ns,
                "alpha": self.alpha,
                "width": self.width,
                "height": self.height,
                "base_len": len(self.base),
                "enh_len": -1 if self.enhancement is None else len(self.enhancement),
            }
        ).encode()
        body = _HEAD.pack(MAGIC, VERSION, len(meta)) + meta + self.base + (self.enhancement or b"")
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> SpooledFrame:
        if len(data) < _HEAD.size + _CRC.size:
            raise ValueError("truncated spool file")
        magic, version, meta_len = _HEAD.unpack_from(data)
        if magic != MAGIC or version != VERSION:
            raise ValueError("not a spool frame")
        (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
        if zlib.crc32(data[: -_CRC.size]) != crc:
            raise ValueError("spool file CRC mismatch")
        off = _HEAD.size
        meta = json.loads(data[off : off + meta_len])
        off += meta_len
        base = data[off : off + meta["base_len"]]
        off += meta["base_len"]
        enh = None if meta["enh_len"] < 0 else data[off : off + meta["enh_len"]]
        return cls(
            meta["camera_id"],
            int(meta["seq"]),
            int(meta["capture_time_ns"]),
            float(meta["alpha"]),
            bytes(base),
            None if enh is None else bytes(enh),
            int(meta.get("width", 0)),
            int(meta.get("height", 0)),
        )
