"""What a frame is, whatever its layout: its size (:class:`FrameGeometry`), what a decoder
must know of it besides the payload (:class:`FrameSpec`), the reference a P-frame names
(:class:`ReferenceLink`), and the bounds every layout checks them against.

The byte layouts are :mod:`polc.shared.codec.container` (key frames, P-frames in the full
layout) and :mod:`polc.shared.codec.compact_layout` (compact P-frames); docs/bitstream.md
specifies both.
"""

from __future__ import annotations

from dataclasses import dataclass

from polc.shared.codec import compact_layout
from polc.shared.codec.enhancement_layer import EnhancementLayer
from polc.shared.errors import BitstreamError

MAX_SIDE = 8192  # pixels; larger frames are rejected before any allocation
MIN_SIDE = 16
PAD = 64  # g_a/h_a downsample by 64 in total
LATENT_STRIDE = 16  # pixels per latent position (g_a downsamples by 16)


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
        return h // LATENT_STRIDE, w // LATENT_STRIDE

    @property
    def hyper_hw(self) -> tuple[int, int]:
        h, w = self.padded
        return h // 64, w // 64


@dataclass(frozen=True)
class ReferenceLink:
    """What a P-frame says about the reference it was coded against."""

    seq: int  # u64: the reference frame's sequence number (per camera)
    checksum: int  # u32: the reference's latent_crc (CRC-32 of its ŷ symbols)
    # the temporal model that coded it: its 16-byte fingerprint (full layout), or the first
    # compact_layout.TAG_BYTES of it (compact layout; params_crc is the definitive check)
    temporal_fingerprint: bytes

    def names_temporal_model(self, fingerprint: bytes) -> bool:
        """Whether the temporal model of ``fingerprint`` may have coded this frame."""
        tag = self.temporal_fingerprint
        return len(tag) in (compact_layout.TAG_BYTES, 16) and fingerprint[: len(tag)] == tag


@dataclass(frozen=True)
class FrameSpec:
    """What the decoder must know of a frame besides its payload. Key frames (and P-frames
    in the full layout) carry it; a compact P-frame inherits its reference's (α changes only
    at key frames, the size and the model never within a GOP)."""

    fingerprint: bytes  # BLAKE2b-128 of the codec weights
    alpha_code: int  # alpha = alpha_code / 65535
    geometry: FrameGeometry
    channels: tuple[int, int, int]  # M, N, aux


def check_escape_counts(
    spec: FrameSpec, z_esc: int, y_esc: int, enhancement: EnhancementLayer | None
) -> None:
    """Escape counts within the latent sizes of ``spec`` (BitstreamError otherwise)."""
    M, N, aux = spec.channels
    lh, lw = spec.geometry.latent_hw
    hh, hw = spec.geometry.hyper_hw
    if y_esc > M * lh * lw or z_esc > N * hh * hw:
        raise BitstreamError("escape count exceeds the latent size")
    if enhancement is not None and enhancement.s_escapes.size > aux * lh * lw:
        raise BitstreamError("enhancement escape count exceeds the latent size")


def alpha_to_code(alpha: float) -> int:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return int(round(alpha * 65535))
