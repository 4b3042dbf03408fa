"""WireModel: the numpy-only half of the codec that both ends of the wire must share exactly.

It holds the gain tables, the integer h_s, the scale thresholds and the integer entropy
tables, and turns latents into symbols (and back) with no float computation on the
entropy-parameter path. The edge (torch or ONNX Runtime transforms) and the cloud (torch)
both run this same code.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

from polc.shared.codec.container import EnhancementLayer, FrameContainer
from polc.shared.codec.entropy_coder import CategoricalTables, decode, encode
from polc.shared.codec.frame_spec import FrameGeometry, FrameSpec, alpha_to_code
from polc.shared.codec.integer_hyper import A_FRAC, IntegerHyperSynthesis, scale_indexes
from polc.shared.errors import BitstreamError


def interpolate_gain(log_gain: np.ndarray, alpha: float) -> np.ndarray:
    """G(α) = G_l^(1−t)·G_{l+1}^t (log-linear) from an (L, C) table of log-gains."""
    levels = log_gain.shape[0]
    pos = min(max(alpha, 0.0), 1.0) * (levels - 1)
    low = min(int(np.floor(pos)), levels - 2)
    t = pos - low
    return np.exp(log_gain[low] * (1 - t) + log_gain[low + 1] * t).astype(np.float32)


@dataclass
class EntropyParameters:
    means: np.ndarray  # float64 (M, h, w), exact multiples of 2^-A_FRAC
    indexes: np.ndarray  # int32 (M, h, w)

    def crc(self) -> int:
        mu_int = np.round(self.means * 2**A_FRAC).astype("<i4")
        return zlib.crc32(self.indexes.astype("<u1").tobytes() + mu_int.tobytes())


@dataclass
class DecodedLatent:
    container: FrameContainer
    y_symbols: np.ndarray  # int64 (M, h, w): v̂ − round... = round(v − μ)
    params: EntropyParameters
    s_symbols: np.ndarray | None  # int64 (aux, h, w) or None
    z_symbols: np.ndarray | None = None  # int64 (N, hh, hw): ẑ (what a P-frame refers to)
    skip_flags: np.ndarray | None = None  # bool (h, w): a skip-mode P-frame's skip map


class WireModel:
    def __init__(self, state: dict):
        self.fingerprint: bytes = bytes(state["fingerprint"])
        self.log_gain_y = np.asarray(state["log_gain_y"], np.float64)
        self.log_gain_s = np.asarray(state["log_gain_s"], np.float64)
        self.hyper = IntegerHyperSynthesis(state["integer_hs"])
        self.thresholds = np.asarray(state["thresholds"], np.int64)
        self.tables_y = CategoricalTables.from_state(state["tables_y"])
        self.tables_z = CategoricalTables.from_state(state["tables_z"])
        self.tables_s = CategoricalTables.from_state(state["tables_s"])
        self.M, self.N, self.aux = (int(c) for c in state["channels"])

    # ------------------------------------------------------------------ shared helpers
    def gain_y(self, alpha: float) -> np.ndarray:
        return interpolate_gain(self.log_gain_y, alpha)

    def gain_s(self, alpha: float) -> np.ndarray:
        return interpolate_gain(self.log_gain_s, alpha)

    def entropy_parameters(self, z_symbols: np.ndarray) -> EntropyParameters:
        mu_int, sigma_int = self.hyper(z_symbols)
        return EntropyParameters(
            mu_int.astype(np.float64) / 2**A_FRAC, scale_indexes(sigma_int, self.thresholds)
        )

    def frame_spec(self, geometry: FrameGeometry, alpha: float) -> FrameSpec:
        """The spec of a frame of this model at ``alpha``."""
        return FrameSpec(
            self.fingerprint, alpha_to_code(alpha), geometry, (self.M, self.N, self.aux)
        )

    @staticmethod
    def _channel_ids(shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(np.arange(shape[0])[:, None, None], shape)

    # ---------------------------------------------------------------------- encoding
    def encode_symbols(
        self, geometry: FrameGeometry, alpha: float, z: np.ndarray, v: np.ndarray
    ) -> tuple[FrameContainer, EntropyParameters, np.ndarray]:
        """z: h_a output (N,hh,hw) float; v = y·G_y(α) (M,lh,lw) float -> container."""
        z_sym = np.round(z).astype(np.int64)
        params = self.entropy_parameters(z_sym)
        y_sym = np.round(v.astype(np.float64) - params.means).astype(np.int64)
        z_pay, z_esc = encode(z_sym, self._channel_ids(z_sym.shape), self.tables_z)
        y_pay, y_esc = encode(y_sym, params.indexes, self.tables_y)
        container = FrameContainer(
            self.frame_spec(geometry, alpha),
            z_pay,
            z_esc,
            y_pay,
            y_esc,
            params.crc(),
            zlib.crc32(y_sym.astype("<i4").tobytes()),
        )
        return container, params, y_sym

    def encode_enhancement(self, container: FrameContainer, s: np.ndarray) -> None:
        """s = T_enc(...)·G_s (aux, lh, lw) float -> attaches the enhancement layer."""
        s_sym = np.round(s).astype(np.int64)
        pay, esc = encode(s_sym, self._channel_ids(s_sym.shape), self.tables_s)
        container.enhancement = EnhancementLayer(
            self.fingerprint,
            container.payload_crc,
            pay,
            esc,
            zlib.crc32(s_sym.astype("<i4").tobytes()),
        )

    # ---------------------------------------------------------------------- decoding
    def check_model(self, container: FrameContainer) -> None:
        if container.fingerprint != self.fingerprint:
            raise BitstreamError(
                f"frame was encoded by model {container.fingerprint.hex()[:12]}, "
                f"this decoder runs {self.fingerprint.hex()[:12]}"
            )
        if container.channels != (self.M, self.N, self.aux):
            raise BitstreamError("latent channel counts do not match the model")

    def decode_symbols(self, container: FrameContainer) -> DecodedLatent:
        self.check_model(container)
        if container.is_p_frame:
            raise BitstreamError(
                "this is a P-frame: decode it with its reference (polc.shared.codec.temporal_wire)"
            )
        g = container.geometry
        z_shape = (self.N, *g.hyper_hw)
        z_sym = decode(
            container.z_payload, container.z_escapes, self._channel_ids(z_shape), self.tables_z
        ).reshape(z_shape)
        params = self.entropy_parameters(z_sym)
        if params.crc() != container.params_crc:
            raise BitstreamError(
                "entropy parameters differ from the encoder's (backend mismatch or "
                "corrupted hyper-latent); refusing to decode"
            )
        y_sym = decode(
            container.y_payload, container.y_escapes, params.indexes, self.tables_y
        ).reshape(params.indexes.shape)
        if zlib.crc32(y_sym.astype("<i4").tobytes()) != container.latent_crc:
            raise BitstreamError("decoded latent checksum mismatch")
        s_sym = None
        if container.enhancement is not None:
            s_sym = self.decode_enhancement(container, container.enhancement)
        return DecodedLatent(container, y_sym, params, s_sym, z_sym)

    def decode_enhancement(self, container: FrameContainer, layer: EnhancementLayer) -> np.ndarray:
        if layer.fingerprint != self.fingerprint:
            raise BitstreamError("enhancement layer was encoded by another model")
        if layer.base_payload_crc != container.payload_crc:
            raise BitstreamError("enhancement layer belongs to another frame")
        shape = (self.aux, *container.geometry.latent_hw)
        s_sym = decode(
            layer.s_payload, layer.s_escapes, self._channel_ids(shape), self.tables_s
        ).reshape(shape)
        if zlib.crc32(s_sym.astype("<i4").tobytes()) != layer.enh_crc:
            raise BitstreamError("decoded enhancement checksum mismatch")
        return s_sym


def fingerprint_of(state_dict: dict) -> bytes:
    """BLAKE2b-128 over the weights (names, dtypes, shapes, bytes) in a fixed order."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(state_dict):
        t = state_dict[name]
        arr = t.detach().cpu().contiguous().numpy() if hasattr(t, "detach") else np.asarray(t)
        h.update(name.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.digest()
