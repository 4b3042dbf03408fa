"""ReferenceState: what both ends of the wire hold per camera to code / decode P-frames.

The encoder builds it from the symbols it just coded, the decoder from the frame it just
decoded; both hold the same integers (that is what ``checksum`` — the reference's
latent_crc — and the P-frame's params_crc / latent_crc verify). α is constant within a GOP:
a P-frame is only ever coded at its reference's α (the encoder refuses another α; the edge's
rate control changes α at key frames). A skip-mode P-frame's state keeps the reference's ẑ,
μ and scale indexes (the values it copied or coded are relative to them) and its skip map
(the context of the next map).

It also carries what a compact P-frame inherits from it (docs/bitstream.md): the codec
fingerprint, α code and size of the frame (the channel counts are the model's).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from polc.shared.codec.container import FrameContainer
from polc.shared.codec.frame_spec import FrameGeometry, FrameSpec
from polc.shared.codec.integer_hyper import A_FRAC
from polc.shared.codec.wire import DecodedLatent, EntropyParameters


def latent_checksum(y_symbols: np.ndarray) -> int:
    """CRC-32 of ŷ symbols as int32 little-endian: a container's ``latent_crc``."""
    return zlib.crc32(np.asarray(y_symbols).astype("<i4").tobytes())


@dataclass(frozen=True)
class ReferenceState:
    seq: int  # the frame's sequence number (per camera)
    alpha_code: int  # the frame's α code (a P-frame must carry the same)
    z_symbols: np.ndarray  # int64 (N, hh, hw)
    y_symbols: np.ndarray  # int64 (M, h, w)
    means: np.ndarray  # float64 (M, h, w): intra μ, exact multiples of 2^-A_FRAC
    indexes: np.ndarray  # int32 (M, h, w): intra scale indexes
    checksum: int  # latent_checksum(y_symbols) = the frame's latent_crc
    skip_flags: np.ndarray | None = None  # bool (h, w): a skip-mode P-frame's skip map
    # what a compact P-frame inherits (None only for states built without a container)
    fingerprint: bytes | None = None  # the codec that coded the frame
    geometry: FrameGeometry | None = None  # the frame's size
    # the encoder's alone (never on the wire, None on the decoder): the motion gate's anchor,
    # pooled source luma per cell (motion_gate.py); set when the encoder runs the gate
    motion_anchor: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        seq: int,
        container: FrameContainer,
        z_symbols: np.ndarray,
        y_symbols: np.ndarray,
        params: EntropyParameters,
        skip_flags: np.ndarray | None = None,
    ) -> ReferenceState:
        """The state after coding (or decoding) ``container`` as frame ``seq``."""
        return cls(
            int(seq),
            container.alpha_code,
            z_symbols,
            y_symbols,
            params.means,
            params.indexes,
            container.latent_crc,
            skip_flags,
            container.fingerprint,
            container.geometry,
        )

    @classmethod
    def from_decoded(cls, seq: int, latent: DecodedLatent) -> ReferenceState:
        """The decoder's state after decoding frame ``seq`` (key or P-frame)."""
        if latent.z_symbols is None:
            raise ValueError("this decoded latent carries no ẑ symbols")
        return cls.of(
            seq,
            latent.container,
            latent.z_symbols,
            latent.y_symbols,
            latent.params,
            latent.skip_flags,
        )

    def inherited_spec(self, channels: tuple[int, int, int]) -> FrameSpec | None:
        """The spec a compact P-frame of this reference inherits (``channels``: the
        model's M, N, aux); None when this state was built without a container."""
        if self.fingerprint is None or self.geometry is None:
            return None
        return FrameSpec(self.fingerprint, self.alpha_code, self.geometry, channels)

    @property
    def means_int(self) -> np.ndarray:
        """μ·2^A_FRAC as int64 (exact)."""
        return np.round(self.means * 2**A_FRAC).astype(np.int64)
