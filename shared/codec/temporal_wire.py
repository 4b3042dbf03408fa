"""TemporalWireModel: P-frame symbols in and out (numpy), the temporal twin of WireModel.

A P-frame carries exactly the symbols of a key frame (ẑ_t and y_sym = round(v − μ_t)), so
the decoded ŷ_t = (y_sym + μ_t)/G_y(α) is bit for bit the key frame's. Only the entropy
model differs: both ends run the integer h_t on the reference's symbols
(``integer_temporal.py``) and code

    ẑ:  r_z = ẑ_t − ẑ_ref            with the Gaussian table of a fixed per-channel index
    ŷ:  r   = y_sym − round(μ_P)     with the Gaussian table of idx(σ_P) (h_s's thresholds)

params_crc covers the intra parameters (μ_t, idx_t) and the P-frame's (round(μ_P), idx_P);
latent_crc is the key frame's (CRC of y_sym). A P-frame decodes only against the reference
it names (seq, checksum; a P-frame in the full layout: also α and size; a compact one
inherits them): anything else raises :class:`ReferenceMismatch`.

Skip mode (lossy, ``encode_skip_symbols``): no ẑ is sent; the frame reuses the reference's
ẑ, hence its μ_ref and idx_ref, and codes y_sym = round(v − μ_ref) (same quantiser step as
intra, another rounding offset). Per latent position the encoder decides to *skip* — copy
the reference's decoded symbols (all M channels) — when max_c |v − μ_ref − y_ref| < τ
(quantiser steps); the skip map is coded in the ẑ section (``skip_map.py``), the other
positions as P-frames, where a value within min(SNAP_TAU, τ) steps of the prediction
round(μ_P) is coded as the prediction (residual 0). The decoder needs only the flags and the
residuals, never v. The prediction (μ_P, σ_P) comes from the skip-mode context model h_k
(``integer_temporal.IntegerSkipContext``: y_ref, idx_ref, this frame's coded map, the
reference's skip map) when the temporal model has one — the compact header's
FLAG_SKIP_CONTEXT says so — else from h_t run on (y_ref, μ_ref, idx_ref, μ_t = μ_ref,
idx_t = idx_ref), as before h_k existed. A decoder without h_k refuses a frame with the flag.
"""

from __future__ import annotations

import zlib

import numpy as np

from polc.shared.codec.compact_layout import SCALE_GAIN_ONE
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.entropy_coder import decode, encode
from polc.shared.codec.frame_spec import FrameGeometry, ReferenceLink, alpha_to_code
from polc.shared.codec.integer_hyper import A_FRAC, scale_indexes
from polc.shared.codec.integer_temporal import IntegerSkipContext, IntegerTemporalContext
from polc.shared.codec.reference import ReferenceState, latent_checksum
from polc.shared.codec.skip_map import decode_skip_map, encode_skip_map
from polc.shared.codec.wire import DecodedLatent, EntropyParameters, WireModel
from polc.shared.errors import BitstreamError, ModelError, ReferenceMismatch, ReferenceMissing

#: skip mode: a coded value within this many quantiser steps of h_t's prediction round(μ_P)
#: takes the prediction (residual 0; measured on ``polc bench video``: 0.6 beats 0.5 / 0.8)
SNAP_TAU = 0.6
#: the scale gains (σ multipliers in sixteenths) an encoder chooses from per P-frame
SCALE_GAINS = (12, 16, 20, 24, 28, 32, 40)


class TemporalWireModel:
    def __init__(self, state: dict, wire: WireModel):
        codec_fp = bytes(state["codec_fingerprint"])
        if codec_fp != wire.fingerprint:
            raise ModelError(
                f"temporal model was trained for codec {codec_fp.hex()[:12]}, this codec is "
                f"{wire.fingerprint.hex()[:12]} (retrain with `polc train temporal`)"
            )
        self.wire = wire
        #: the scale gains this encoder chooses from; (SCALE_GAIN_ONE,) codes as encoders that
        #: predate the field did (what the full P-frame layout, which cannot carry it, needs)
        self.scale_gains: tuple[int, ...] = SCALE_GAINS
        #: what frames coded with h_t name; ``skip_fingerprint`` (h_t and h_k): what skip-mode
        #: frames coded with h_k name
        self.fingerprint: bytes = bytes(state["fingerprint"])
        self.skip_fingerprint: bytes | None = (
            bytes(state["skip_fingerprint"]) if "skip_fingerprint" in state else None
        )
        self.context = IntegerTemporalContext(state["integer_ht"])
        #: h_k, the skip-mode context model (None: skip mode codes with h_t; an encoder may
        #: set it to None to write frames as temporal models without h_k did)
        self.skip_context: IntegerSkipContext | None = (
            IntegerSkipContext(state["integer_hk"]) if "integer_hk" in state else None
        )
        self.z_indexes = np.asarray(state["z_indexes"], np.int64)
        if (
            self.z_indexes.shape != (wire.N,)
            or self.z_indexes.min() < 0
            or self.z_indexes.max() >= len(wire.tables_y)
        ):
            raise ModelError("temporal model's ẑ scale indexes do not fit the codec")

    # ------------------------------------------------------------------ shared helpers
    def _z_table_ids(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(self.z_indexes[:, None, None], shape)

    def p_prediction(
        self, params: EntropyParameters, reference: ReferenceState
    ) -> tuple[np.ndarray, np.ndarray]:
        """h_t on ``reference`` for a frame with intra ``params``: (round(μ_P) int64,
        σ_P·2^A_FRAC int64)."""
        mu_t = np.round(params.means * 2**A_FRAC).astype(np.int64)
        return self.context(
            reference.y_symbols, reference.means_int, reference.indexes, mu_t, params.indexes
        )

    def skip_prediction(
        self, reference: ReferenceState, skip: np.ndarray, with_skip_context: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(round(μ_P) int64, σ_P·2^A_FRAC int64) of a skip-mode P-frame that skips ``skip``
        (bool (h, w)): h_k's when ``with_skip_context``, else h_t's on the reference's
        parameters."""
        if not with_skip_context:
            return self.p_prediction(self.reference_parameters(reference), reference)
        if self.skip_context is None:
            raise ModelError(
                "skip-mode P-frame was coded with a skip context model (h_k) and this "
                "temporal model has none (load the temporal weights it was coded with)"
            )
        return self.skip_context(
            reference.y_symbols, reference.indexes, ~skip, reference.skip_flags
        )

    def scale_indexes(self, sigma_int: np.ndarray, scale_gain: int) -> np.ndarray:
        """idx_P: the Gaussian table of σ_P·scale_gain/16 (exact integer arithmetic)."""
        return scale_indexes((sigma_int * scale_gain) >> 4, self.wire.thresholds)

    def p_parameters(
        self,
        params: EntropyParameters,
        reference: ReferenceState,
        scale_gain: int = SCALE_GAIN_ONE,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(round(μ_P) int64, idx_P int32) of a frame with intra ``params``."""
        mu_sym, sigma_int = self.p_prediction(params, reference)
        return mu_sym, self.scale_indexes(sigma_int, scale_gain)

    def best_scale_gain(self, residuals: np.ndarray, sigma_int: np.ndarray) -> int:
        """The scale gain (of ``scale_gains``) that codes ``residuals`` (r = y_sym − round(μ_P)
        of the coded elements, σ_P of the same elements) in the fewest estimated bits. h_t
        was trained on every position of lossless P-frames; the positions a skip-mode frame
        codes are the ones that changed, whose residuals are wider (×1.5–2 measured)."""
        if len(self.scale_gains) == 1:
            return self.scale_gains[0]
        tables = self.wire.tables_y
        bits = [
            tables.code_length(residuals, self.scale_indexes(sigma_int, g))
            for g in self.scale_gains
        ]
        return self.scale_gains[int(np.argmin(bits))]

    @staticmethod
    def params_crc(params: EntropyParameters, mu_sym: np.ndarray, idx_p: np.ndarray) -> int:
        return zlib.crc32(
            idx_p.astype("<u1").tobytes() + mu_sym.astype("<i8").tobytes(), params.crc()
        )

    # ---------------------------------------------------------------------- encoding
    def encode_symbols(
        self,
        geometry: FrameGeometry,
        alpha: float,
        z: np.ndarray,
        v: np.ndarray,
        reference: ReferenceState,
    ) -> tuple[FrameContainer, EntropyParameters, np.ndarray, np.ndarray]:
        """Like WireModel.encode_symbols, coded against ``reference``.

        Returns (container, intra params, y_sym, z_sym). Raises ValueError when the frame
        cannot be a P-frame of that reference (another α or size: send a key frame)."""
        wire = self.wire
        self._check_encodable(geometry, alpha, reference)
        z_sym = np.round(z).astype(np.int64)
        params = wire.entropy_parameters(z_sym)
        y_sym = np.round(v.astype(np.float64) - params.means).astype(np.int64)
        z_section = encode(
            z_sym - reference.z_symbols, self._z_table_ids(z_sym.shape), wire.tables_y
        )
        prediction = self.p_prediction(params, reference)
        container = self._p_container(
            geometry, alpha, reference, z_section, params, prediction, y_sym
        )
        return container, params, y_sym, z_sym

    def _p_container(
        self,
        geometry: FrameGeometry,
        alpha: float,
        reference: ReferenceState,
        z_section: tuple[bytes, np.ndarray],
        params: EntropyParameters,
        prediction: tuple[np.ndarray, np.ndarray],
        y_sym: np.ndarray,
        skip: np.ndarray | None = None,
        skip_context: bool = False,
    ) -> FrameContainer:
        """The container of a P-frame naming ``reference`` (compact layout): ŷ coded as the
        residuals y_sym − round(μ_P) under σ_P (``prediction``, of :meth:`p_prediction`)
        and the best scale gain, at every position (a conditional P-frame) or, in skip
        mode, at the positions ``skip`` leaves out."""
        mu_sym, sigma_int = prediction
        residuals, sigma = y_sym - mu_sym, sigma_int
        if skip is not None:
            coded = np.broadcast_to(~skip[None], y_sym.shape)
            residuals, sigma = residuals[coded], sigma_int[coded]
        gain = self.best_scale_gain(residuals, sigma)
        idx_p = self.scale_indexes(sigma_int, gain)
        y_pay, y_esc = encode(
            residuals, idx_p if skip is None else idx_p[coded], self.wire.tables_y
        )
        return FrameContainer(
            self.wire.frame_spec(geometry, alpha),
            *z_section,
            y_pay,
            y_esc,
            self.params_crc(params, mu_sym, idx_p),
            latent_checksum(y_sym),
            reference=ReferenceLink(
                reference.seq, reference.checksum, self.model_fingerprint(skip_context)
            ),
            skip_mode=skip is not None,
            compact=True,
            scale_gain=gain,
            skip_context=skip_context,
        )

    def reference_parameters(self, reference: ReferenceState) -> EntropyParameters:
        """The reference's μ and scale indexes: what a skip-mode P-frame reuses."""
        return EntropyParameters(reference.means, reference.indexes)

    def _check_encodable(
        self, geometry: FrameGeometry, alpha: float, reference: ReferenceState
    ) -> None:
        if alpha_to_code(alpha) != reference.alpha_code:
            raise ValueError(
                f"alpha {alpha} differs from the reference's "
                f"{reference.alpha_code / 65535:.4f}: α changes only at key frames"
            )
        if reference.y_symbols.shape != (self.wire.M, *geometry.latent_hw):
            raise ValueError("frame size differs from the reference's: send a key frame")

    def encode_skip_symbols(
        self,
        geometry: FrameGeometry,
        alpha: float,
        v: np.ndarray,
        reference: ReferenceState,
        tau: float,
        snap: float = SNAP_TAU,
        moved: np.ndarray | None = None,
    ) -> tuple[FrameContainer, EntropyParameters, np.ndarray, np.ndarray]:
        """A skip-mode P-frame of latent ``v`` against ``reference``, threshold ``tau``
        (values within min(``snap``, τ) steps of the prediction take it: residual 0);
        ``moved`` (bool (h, w), the motion gate's answer) also skips every position whose
        source block did not move.

        Returns (container, the reference's params, y_sym, skip flags (h, w) bool)."""
        self._check_encodable(geometry, alpha, reference)
        with_skip_context = self.skip_context is not None
        y_sym, skip, prediction = self.skip_symbols(
            v, reference, tau, snap, with_skip_context, moved
        )
        params = self.reference_parameters(reference)
        skip_map = (encode_skip_map(skip, reference.skip_flags), np.zeros(0, np.int64))
        container = self._p_container(
            geometry, alpha, reference, skip_map, params, prediction, y_sym, skip, with_skip_context
        )
        return container, params, y_sym, skip

    def skip_symbols(
        self,
        v: np.ndarray,
        reference: ReferenceState,
        tau: float,
        snap: float,
        with_skip_context: bool,
        moved: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """The decisions of a skip-mode P-frame (see :meth:`encode_skip_symbols`): its
        y_sym (int64 (M, h, w)), skip flags (bool (h, w)) and the prediction (round(μ_P),
        σ_P·2^A_FRAC) of h_k (``with_skip_context``) or h_t that the residuals are coded
        against."""
        if not (tau >= 0.0 and snap >= 0.0):
            raise ValueError(f"skip and snap thresholds must be >= 0, got {tau}, {snap}")
        shifted = v.astype(np.float64) - reference.means
        change = np.abs(shifted - reference.y_symbols).max(axis=0)
        skip = change < tau
        if moved is not None:
            if moved.shape != skip.shape:
                raise ValueError(f"motion gate {moved.shape} and latent {skip.shape} differ")
            skip |= ~moved
        mu_sym, sigma_int = self.skip_prediction(reference, skip, with_skip_context)
        y_sym = np.round(shifted).astype(np.int64)
        y_sym = np.where(np.abs(shifted - mu_sym) < min(tau, snap), mu_sym, y_sym)  # r = 0
        y_sym = np.where(skip[None], reference.y_symbols, y_sym)
        return y_sym, skip, (mu_sym, sigma_int)

    def model_fingerprint(self, skip_context: bool) -> bytes:
        """What a frame coded with h_k (``skip_context``) or with h_t names."""
        if not skip_context:
            return self.fingerprint
        if self.skip_fingerprint is None:
            raise ModelError(
                "P-frame was coded with a skip context model (h_k) and this temporal model "
                "has none (use the temporal weights of its encoder)"
            )
        return self.skip_fingerprint

    # ---------------------------------------------------------------------- decoding
    def check_reference(self, container: FrameContainer, reference: ReferenceState | None) -> None:
        """Refuse a P-frame unless ``reference`` is the one it names; a compact P-frame is
        then bound to it (it inherits the reference's model, α and size: those checks are
        structural)."""
        link = container.reference
        if link is None:
            raise BitstreamError("not a P-frame")
        expected = self.model_fingerprint(container.skip_context)
        if not link.names_temporal_model(expected):
            raise BitstreamError(
                f"P-frame was coded by temporal model {link.temporal_fingerprint.hex()[:12]}, "
                f"this decoder runs {expected.hex()[:12]}"
            )
        if reference is None:
            raise ReferenceMissing(
                f"P-frame refers to frame {link.seq} and no reference "
                "is held: a key frame is needed"
            )
        if link.seq != reference.seq or link.checksum != reference.checksum:
            raise ReferenceMismatch(
                f"P-frame refers to frame {link.seq} (checksum {link.checksum:08x}), the "
                f"reference held is frame {reference.seq} ({reference.checksum:08x})"
            )
        if container.compact:
            spec = reference.inherited_spec((self.wire.M, self.wire.N, self.wire.aux))
            if spec is None:
                raise ReferenceMismatch("the reference held carries no frame spec to inherit")
            container.bind(spec)
            return
        if container.alpha_code != reference.alpha_code:
            raise ReferenceMismatch("P-frame α differs from its reference's")
        if reference.y_symbols.shape != (self.wire.M, *container.geometry.latent_hw):
            raise ReferenceMismatch("P-frame size differs from its reference's")

    def decode_symbols(
        self, container: FrameContainer, reference: ReferenceState | None
    ) -> DecodedLatent:
        wire = self.wire
        if container.is_bound:
            wire.check_model(container)
        self.check_reference(container, reference)  # binds a compact P-frame
        assert reference is not None
        wire.check_model(container)
        skip = None
        if container.skip_mode:  # ẑ (hence μ, idx) of the reference; the skip map
            z_sym, params = reference.z_symbols, self.reference_parameters(reference)
            skip = decode_skip_map(
                container.z_payload, reference.y_symbols.shape[1:], reference.skip_flags
            )
            mu_sym, sigma_int = self.skip_prediction(reference, skip, container.skip_context)
            idx_p = self.scale_indexes(sigma_int, container.scale_gain)
        else:
            z_shape = reference.z_symbols.shape
            z_sym = reference.z_symbols + decode(
                container.z_payload, container.z_escapes, self._z_table_ids(z_shape), wire.tables_y
            ).reshape(z_shape)
            params = wire.entropy_parameters(z_sym)
            mu_sym, idx_p = self.p_parameters(params, reference, container.scale_gain)
        if self.params_crc(params, mu_sym, idx_p) != container.params_crc:
            raise BitstreamError(
                "P-frame entropy parameters differ from the encoder's (backend mismatch or "
                "corrupted data); refusing to decode"
            )
        if skip is not None:  # skipped positions copy the reference's symbols
            coded = np.broadcast_to(~skip[None], idx_p.shape)
            y_sym = reference.y_symbols.copy()
            y_sym[coded] = mu_sym[coded] + decode(
                container.y_payload, container.y_escapes, idx_p[coded], wire.tables_y
            )
        else:
            y_sym = mu_sym + decode(
                container.y_payload, container.y_escapes, idx_p, wire.tables_y
            ).reshape(idx_p.shape)
        if latent_checksum(y_sym) != container.latent_crc:
            raise BitstreamError("decoded latent checksum mismatch")
        s_sym = None
        if container.enhancement is not None:
            s_sym = wire.decode_enhancement(container, container.enhancement)
        return DecodedLatent(container, y_sym, params, s_sym, z_sym, skip)
