"""Runtime codec: encode frames to .polc containers and decode them back (torch transforms).

    encode:  image ─pad─► g_a ─► y ─×G_y(α)─► v ─► h_a ─► z ─┐
                                  WireModel.encode_symbols(z, v) ◄┘ ─► container (+ ŝ layer)
    decode:  container ─► WireModel.decode_symbols ─► ŷ = (sym + μ)/G_y ─► g_s / R ─► x̄(β)

P-frames (``encode_frame`` / ``decode(..., reference)``) code the same symbols against a
:class:`ReferenceState` with the TemporalWireModel; intra coding is the default and
unchanged. Both return / take the ReferenceState the next P-frame needs.

The transforms that run on the edge (g_a, h_a, T_enc) sit behind ``EncoderTransforms`` so
that ONNX Runtime (``onnx_backend.py``) can replace torch without touching the bitstream.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from polc.shared.codec.container import EnhancementLayer, FrameContainer
from polc.shared.codec.frame_spec import FrameGeometry, alpha_to_code
from polc.shared.codec.motion_gate import moved_positions, pooled_luma, updated_anchor
from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.temporal_weights import build_temporal_wire, read_temporal_file
from polc.shared.codec.temporal_wire import TemporalWireModel
from polc.shared.codec.weights import build_model, read_codec_file
from polc.shared.codec.wire import DecodedLatent, EntropyParameters, WireModel
from polc.shared.errors import BitstreamError, ModelError
from polc.shared.models.codec.model import RDCCodec


class EncoderTransforms(Protocol):
    """The float transforms of the edge: arrays in, arrays out (batch of one, NCHW)."""

    def latents(self, x: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """v = g_a(x)·G_y (float32) and z = h_a(v), in one call (one ORT session run)."""
        ...

    def analysis(self, x: np.ndarray) -> np.ndarray: ...  # g_a
    def hyper_analysis(self, v: np.ndarray) -> np.ndarray: ...  # h_a
    def scalable(self, residual: np.ndarray) -> np.ndarray: ...  # T_enc


class TorchTransforms:
    def __init__(self, model: RDCCodec, device: str = "cpu"):
        self.model, self.device = model, device

    def _input(self, a: np.ndarray) -> torch.Tensor:
        # channels-last activations: oneDNN convolves NHWC without reordering every layer
        # (g_a + h_a measured 1.2-2x faster on CPU than NCHW; the weights stay as they are)
        return torch.from_numpy(a).to(self.device).contiguous(memory_format=torch.channels_last)

    @staticmethod
    def _output(t: torch.Tensor) -> np.ndarray:
        return t.contiguous().cpu().numpy()

    @torch.inference_mode()
    def _run(self, module: torch.nn.Module, a: np.ndarray) -> np.ndarray:
        return self._output(module(self._input(a)))

    @torch.inference_mode()
    def latents(self, x: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = self.model.g_a(self._input(x))
        v *= torch.from_numpy(gain).to(self.device)[None, :, None, None]
        return self._output(v), self._output(self.model.h_a(v))

    def analysis(self, x: np.ndarray) -> np.ndarray:
        return self._run(self.model.g_a, x)

    def hyper_analysis(self, v: np.ndarray) -> np.ndarray:
        return self._run(self.model.h_a, v)

    def scalable(self, residual: np.ndarray) -> np.ndarray:
        return self._run(self.model.t_enc, residual)


def image_to_array(image: np.ndarray) -> tuple[np.ndarray, FrameGeometry]:
    """uint8 (H, W, 3) -> float32 (1, 3, Hp, Wp) in [0, 1], replicate-padded to PAD."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 HxWx3 image, got {image.dtype} {image.shape}")
    geometry = FrameGeometry(image.shape[1], image.shape[0])
    (ph, pw), (h, w) = geometry.padded, image.shape[:2]
    x = np.empty((1, 3, ph, pw), np.float32)
    # float32(u8) / float32(255) straight into place (the values of astype + / 255 + np.pad,
    # 5-9x faster); then replicate the last row and column into the padding
    np.divide(image.transpose(2, 0, 1), np.float32(255.0), out=x[0, :, :h, :w], dtype=np.float32)
    x[0, :, h:, :w] = x[0, :, h - 1 : h, :w]
    x[0, :, :, w:] = x[0, :, :, w - 1 : w]
    return x, geometry


class FrameEncoder:
    def __init__(
        self,
        wire: WireModel,
        transforms: EncoderTransforms,
        temporal: TemporalWireModel | None = None,
    ):
        self.wire, self.transforms, self.temporal = wire, transforms, temporal

    def encode(self, image: np.ndarray, alpha: float, enhancement: bool = False) -> FrameContainer:
        return self.encode_with_symbols(image, alpha, enhancement)[0]

    def encode_with_symbols(
        self, image: np.ndarray, alpha: float, enhancement: bool = False
    ) -> tuple[FrameContainer, np.ndarray]:
        """Like :meth:`encode`, also returning the ŷ symbols the encoder coded."""
        x, geometry = image_to_array(image)
        v, z = self.transforms.latents(x, self.wire.gain_y(alpha))
        container, params, y_sym = self.wire.encode_symbols(geometry, alpha, z[0], v[0])
        if enhancement:
            self._attach_enhancement(container, alpha, v[0], y_sym, params)
        return container, y_sym

    def encode_frame(
        self,
        image: np.ndarray,
        alpha: float,
        seq: int,
        reference: ReferenceState | None = None,
        enhancement: bool = False,
        skip_tau: float | None = None,
        motion_threshold: float | None = None,
    ) -> tuple[FrameContainer, ReferenceState]:
        """Frame ``seq``: a key frame without ``reference`` (byte for byte :meth:`encode`),
        else a P-frame coded against it (same ŷ; α must be the reference's, else
        ValueError: α changes only at key frames). ``skip_tau`` None: a lossless
        conditional P-frame; a number τ ≥ 0: a skip-mode P-frame (ẑ reused, positions whose
        latent moved less than τ quantiser steps copy the reference; lossy).
        ``motion_threshold`` T (luma levels) runs the motion gate of skip mode
        (``motion_gate.py``): a skip-mode P-frame then also copies every position whose
        source block changed by T or less since it was last coded; with ``skip_tau`` the
        returned state carries the gate's anchor.
        Returns the container and the reference state for the next frame."""
        x, geometry = image_to_array(image)
        gated = motion_threshold is not None and skip_tau is not None  # lossless: no gate
        cells = pooled_luma(x, (geometry.width, geometry.height)) if gated else None
        if reference is None:
            v, z = self.transforms.latents(x, self.wire.gain_y(alpha))
            container, params, y_sym = self.wire.encode_symbols(geometry, alpha, z[0], v[0])
            z_sym, skip = np.round(z[0]).astype(np.int64), None
        else:
            if self.temporal is None:
                raise ModelError("P-frames need a temporal model (FrameEncoder(temporal=...))")
            if alpha_to_code(alpha) != reference.alpha_code:  # before any transform runs
                raise ValueError(
                    f"alpha {alpha} differs from the reference's: α changes only at key frames"
                )
            if skip_tau is not None:
                v, _ = self.transforms.latents(x, self.wire.gain_y(alpha))  # ẑ is not sent
                moved, anchor = None, reference.motion_anchor
                if motion_threshold is not None and cells is not None and anchor is not None:
                    moved = moved_positions(anchor, cells, motion_threshold)
                container, params, y_sym, skip = self.temporal.encode_skip_symbols(
                    geometry, alpha, v[0], reference, skip_tau, moved=moved
                )
                z_sym = reference.z_symbols
            else:
                v, z = self.transforms.latents(x, self.wire.gain_y(alpha))
                container, params, y_sym, z_sym = self.temporal.encode_symbols(
                    geometry, alpha, z[0], v[0], reference
                )
                skip = None
        if enhancement:
            self._attach_enhancement(container, alpha, v[0], y_sym, params)
        state = ReferenceState.of(seq, container, z_sym, y_sym, params, skip)
        if cells is not None:  # the gate's anchor: this frame's cells where it coded
            anchor = None if reference is None else reference.motion_anchor
            coded = None if skip is None else ~skip
            state = replace(state, motion_anchor=updated_anchor(anchor, cells, coded))
        return container, state

    def _attach_enhancement(
        self,
        container: FrameContainer,
        alpha: float,
        v: np.ndarray,
        y_sym: np.ndarray,
        params: EntropyParameters,
    ) -> None:
        v_hat = y_sym + params.means  # float64
        residual = (v.astype(np.float64) - v_hat).astype(np.float32)[None]
        s = self.transforms.scalable(residual)[0] * self.wire.gain_s(alpha)[:, None, None]
        self.wire.encode_enhancement(container, s)


@dataclass
class DecodedFrame:
    latent: DecodedLatent
    y_hat: torch.Tensor  # (1, M, h, w) float32

    def reference(self, seq: int) -> ReferenceState:
        """This frame as the reference of the next P-frame (it is frame ``seq``)."""
        return ReferenceState.from_decoded(seq, self.latent)

    @property
    def container(self) -> FrameContainer:
        return self.latent.container

    @property
    def has_enhancement(self) -> bool:
        return self.latent.s_symbols is not None


class Codec:
    """The full codec on one machine: torch transforms + the shared WireModel (+ the
    TemporalWireModel for P-frames, loaded on first use from the bundled / given file)."""

    def __init__(
        self,
        model: RDCCodec,
        wire: WireModel,
        device: str = "cpu",
        meta: dict | None = None,
        temporal_path: str | Path | None = None,
    ):
        self.model, self.wire, self.device = model, wire, device
        self.meta = meta or {}
        self.temporal_path = Path(temporal_path) if temporal_path else None
        self.encoder = FrameEncoder(wire, TorchTransforms(model, device))

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str = "cpu",
        temporal_path: str | Path | None = None,
    ) -> Codec:
        state = read_codec_file(Path(path) if path else None)
        model, wire = build_model(state, device)
        return cls(model, wire, device, state.get("meta"), temporal_path)

    @property
    def temporal(self) -> TemporalWireModel:
        """The P-frame wire model (ModelError when missing or trained for another codec)."""
        if self.encoder.temporal is None:
            self.encoder.temporal = build_temporal_wire(
                read_temporal_file(self.temporal_path), self.wire
            )
        return self.encoder.temporal

    def encode_frame(
        self,
        image: np.ndarray,
        alpha: float,
        seq: int,
        reference: ReferenceState | None = None,
        enhancement: bool = False,
        skip_tau: float | None = None,
        motion_threshold: float | None = None,
    ) -> tuple[bytes, ReferenceState]:
        """Key frame (``reference`` None) or P-frame; see :meth:`FrameEncoder.encode_frame`."""
        if reference is not None:
            _ = self.temporal
        container, state = self.encoder.encode_frame(
            image, alpha, seq, reference, enhancement, skip_tau, motion_threshold
        )
        return container.to_bytes(), state

    @property
    def fingerprint(self) -> str:
        return self.wire.fingerprint.hex()

    def encode(self, image: np.ndarray, alpha: float, enhancement: bool = False) -> bytes:
        return self.encoder.encode(image, alpha, enhancement).to_bytes()

    def decode(
        self, data: bytes | FrameContainer, reference: ReferenceState | None = None
    ) -> DecodedFrame:
        """Decode a key frame, or a P-frame against ``reference`` (ReferenceMissing /
        ReferenceMismatch when it is not the one the P-frame names)."""
        container = data if isinstance(data, FrameContainer) else FrameContainer.from_bytes(data)
        if container.is_p_frame:
            latent = self.temporal.decode_symbols(container, reference)
        else:
            latent = self.wire.decode_symbols(container)
        gain = torch.from_numpy(self.wire.gain_y(container.alpha))[None, :, None, None]
        v_hat = torch.from_numpy(latent.y_symbols + latent.params.means).float()[None]
        return DecodedFrame(latent, (v_hat / gain).to(self.device))

    def attach_enhancement(self, frame: DecodedFrame, layer_bytes: bytes) -> DecodedFrame:
        layer = EnhancementLayer.from_bytes(layer_bytes)
        frame.latent.s_symbols = self.wire.decode_enhancement(frame.container, layer)
        frame.container.enhancement = layer
        return frame

    @torch.no_grad()
    def reconstruct(self, frame: DecodedFrame, beta: float = 1.0) -> np.ndarray:
        """x̄(β) = x̂₁ + (1 − β)·r as uint8 (H, W, 3). β < 1 needs the enhancement layer."""
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        x1, feats = self.model.g_s(frame.y_hat)
        x = x1
        if beta < 1.0:
            if frame.latent.s_symbols is None:
                raise BitstreamError(
                    f"beta={beta} needs the enhancement layer, and this frame has none "
                    "(encode with --enhancement, or fetch it from the edge)"
                )
            alpha = frame.container.alpha
            gs = torch.from_numpy(self.wire.gain_s(alpha))[None, :, None, None].to(self.device)
            s_hat = torch.from_numpy(frame.latent.s_symbols).float()[None].to(self.device) / gs
            y2 = frame.y_hat + self.model.t_dec(s_hat)
            x = x1 + (1.0 - beta) * self.model.residual(y2, feats)
        g = frame.container.geometry
        x = x[0, :, : g.height, : g.width].clamp(0, 1)
        return (x * 255.0 + 0.5).byte().permute(1, 2, 0).cpu().numpy()

    def bits_per_pixel(self, frame: DecodedFrame) -> tuple[float, float]:
        """(base bpp, enhancement bpp) of a decoded frame."""
        c = frame.container
        px = c.geometry.width * c.geometry.height
        base = c.base_nbytes * 8 / px
        enh = c.enhancement.nbytes * 8 / px if c.enhancement is not None else 0.0
        return base, enh
