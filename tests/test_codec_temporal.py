"""P-frames: exact decoding on every backend, ŷ equal to intra coding, typed reference
errors, header integrity, the temporal weights file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from temporal_support import clip, temporal_codec, write_temporal_file

from polc.shared.codec.compact_layout import SCALE_GAIN_ONE
from polc.shared.codec.container import _BASE_V1, FrameContainer
from polc.shared.codec.header_checks import seal_header
from polc.shared.codec.runtime import Codec, FrameEncoder, image_to_array
from polc.shared.codec.temporal import decode_clip, encode_clip_temporal
from polc.shared.codec.temporal_weights import build_temporal_wire, read_temporal_file
from polc.shared.codec.temporal_wire import SCALE_GAINS
from polc.shared.errors import BitstreamError, ModelError, ReferenceMismatch, ReferenceMissing


@pytest.fixture(scope="module")
def codec(small_codec_file, tmp_path_factory) -> Codec:
    path = tmp_path_factory.mktemp("temporal") / "temporal.pt"
    codec = temporal_codec(
        small_codec_file, write_temporal_file(Codec.load(small_codec_file), path)
    )
    assert codec.temporal.wire is codec.wire  # loaded: codec.encoder codes P-frames with it
    return codec


def _encode_with_states(
    encoder: FrameEncoder,
    frames,
    alpha: float,
    gop: int,
    skip_tau: float | None = None,
    compact: bool = True,
):
    """(bytes, reference state) per frame; ``compact`` False: P-frames in the full
    (100-byte header) layout older encoders wrote, for the backward-reading tests."""
    out, reference = [], None
    assert encoder.temporal is not None
    encoder.temporal.scale_gains = SCALE_GAINS if compact else (SCALE_GAIN_ONE,)
    try:
        for seq, image in enumerate(frames):
            container, reference = encoder.encode_frame(
                image, alpha, seq, None if seq % gop == 0 else reference, skip_tau=skip_tau
            )
            if container.is_p_frame and not compact:
                container = replace(container, compact=False)
            out.append((container.to_bytes(), reference))
    finally:
        encoder.temporal.scale_gains = SCALE_GAINS
    return out


def _assert_decodes_exactly(codec: Codec, encoded) -> None:
    frames = decode_clip(codec, [data for data, _ in encoded])
    for frame, (_, state) in zip(frames, encoded, strict=True):
        assert np.array_equal(frame.latent.y_symbols, state.y_symbols)
        assert np.array_equal(frame.latent.z_symbols, state.z_symbols)
        assert frame.container.latent_crc == state.checksum
        if state.skip_flags is None:
            assert frame.latent.skip_flags is None
        else:  # the decoder rebuilt the map from the coded flags alone (it never sees v)
            assert np.array_equal(frame.latent.skip_flags, state.skip_flags)


def test_fifty_p_frames_decode_to_exactly_the_intra_latent(codec):
    frames = clip(51)
    for alpha in (0.0, 1.0):
        blobs = encode_clip_temporal(codec, frames, alpha, gop=51)
        decoded = decode_clip(codec, blobs)
        assert sum(FrameContainer.from_bytes(b).is_p_frame for b in blobs) == 50
        assert blobs[0] == codec.encode(frames[0], alpha)  # key frame: intra byte for byte
        for image, frame in zip(frames, decoded, strict=True):
            intra = codec.decode(codec.encode(image, alpha))
            assert torch.equal(frame.y_hat, intra.y_hat)  # lossless conditional coding
            assert frame.container.latent_crc == intra.container.latent_crc


def test_gops_restart_with_key_frames(codec):
    blobs = encode_clip_temporal(codec, clip(7), 0.5, gop=3)
    assert [FrameContainer.from_bytes(b).is_p_frame for b in blobs] == [
        False,
        True,
        True,
        False,
        True,
        True,
        False,
    ]
    _assert_decodes_exactly(codec, _encode_with_states(codec.encoder, clip(7), 0.5, 3))


@pytest.mark.parametrize("skip_tau", [None, 1.5])
@pytest.mark.parametrize("threads", [1, 2])
def test_p_frames_encoded_with_n_threads_decode_exactly_with_one(codec, threads, skip_tau):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        encoded = _encode_with_states(codec.encoder, clip(12), 0.5, gop=12, skip_tau=skip_tau)
    finally:
        torch.set_num_threads(before)
    torch.set_num_threads(1)
    try:
        _assert_decodes_exactly(codec, encoded)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("skip_tau", [None, 1.5])
def test_p_frames_encoded_in_onnx_runtime_decode_exactly_in_torch(codec, tmp_path, skip_tau):
    from polc.shared.codec.onnx_backend import OrtTransforms, export_onnx

    export_onnx(codec.model, tmp_path)
    encoder = FrameEncoder(codec.wire, OrtTransforms(tmp_path, "cpu"), codec.temporal)
    _assert_decodes_exactly(
        codec, _encode_with_states(encoder, clip(12), 0.7, gop=12, skip_tau=skip_tau)
    )


def test_skip_mode_copies_the_reference_where_it_skips_and_reuses_its_z(codec):
    frames = clip(8)
    sizes = {}
    for tau in (0.0, 1.0, 3.0):
        encoded = _encode_with_states(codec.encoder, frames, 0.5, gop=8, skip_tau=tau)
        _assert_decodes_exactly(codec, encoded)
        key = encoded[0][1]
        skipped = 0
        for (data, state), (_, ref) in zip(encoded[1:], encoded[:-1], strict=True):
            container = FrameContainer.from_bytes(data)
            assert container.is_p_frame and container.skip_mode
            assert np.array_equal(state.z_symbols, key.z_symbols)  # no ẑ: the key frame's
            assert np.array_equal(state.means, key.means)
            flags = state.skip_flags
            assert np.array_equal(state.y_symbols[:, flags], ref.y_symbols[:, flags])
            skipped += int(flags.sum())
        if tau == 0.0:
            assert skipped == 0  # τ = 0: ẑ reuse only, every position coded
        sizes[tau] = (skipped, sum(len(d) for d, _ in encoded[1:]))
    assert sizes[0.0][0] < sizes[1.0][0] <= sizes[3.0][0]  # a larger τ skips more...
    assert sizes[0.0][1] > sizes[1.0][1] >= sizes[3.0][1]  # ...and costs fewer bytes


def test_skip_mode_stays_within_tau_of_the_encoders_latent(codec):
    """Every decoded value is within max(τ, ½) quantiser steps of the encoder's v."""
    frames = clip(6)
    alpha, tau = 0.5, 1.5
    encoded = _encode_with_states(codec.encoder, frames, alpha, gop=6, skip_tau=tau)
    for image, (_, state) in zip(frames[1:], encoded[1:], strict=True):
        v, _ = codec.encoder.transforms.latents(image_to_array(image)[0], codec.wire.gain_y(alpha))
        error = np.abs(state.y_symbols + state.means - v[0].astype(np.float64))
        assert error.max() <= tau + 1e-3


def test_skip_flag_on_a_key_frame_is_refused(codec):
    data = bytearray(codec.encode(clip(1)[0], 0.5))
    data[5] |= 4
    header_size = int.from_bytes(data[6:8], "little")
    head = seal_header(bytes(data[:header_size]), _BASE_V1.size)
    with pytest.raises(BitstreamError, match="skip flag set on a key frame"):
        FrameContainer.from_bytes(head + bytes(data[header_size:]))


def test_skip_mode_p_frame_against_a_wrong_reference_is_refused(codec):
    encoded = _encode_with_states(codec.encoder, clip(3), 0.5, gop=3, skip_tau=0.5)
    (_, ref0), (p1, ref1), (p2, _) = encoded
    assert ref0.checksum != ref1.checksum and 0 < ref1.skip_flags.sum() < ref1.skip_flags.size
    with pytest.raises(ReferenceMissing):
        codec.decode(p1)
    with pytest.raises(ReferenceMismatch):
        codec.decode(p2, ref0)
    with pytest.raises(ReferenceMismatch, match="checksum"):
        codec.decode(p1, replace(ref1, seq=0))
    right = codec.decode(p2, ref1).latent
    try:  # right seq and checksum, another skip-map context: refused or the same latent
        wrong = codec.decode(p2, replace(ref1, skip_flags=~ref1.skip_flags)).latent
        assert np.array_equal(wrong.y_symbols, right.y_symbols)  # the latent CRC held
    except BitstreamError:
        pass


@pytest.mark.parametrize("compact", [True, False])
def test_p_frame_without_its_reference_is_refused_with_typed_errors(codec, compact):
    frames = clip(4)
    encoded = _encode_with_states(codec.encoder, frames, 0.5, gop=4, compact=compact)
    (_, ref0), (p1, ref1), (p2, _) = encoded[0], encoded[1], encoded[2]
    with pytest.raises(ReferenceMissing):
        codec.decode(p1)
    with pytest.raises(ReferenceMismatch, match="refers to frame 0"):
        codec.decode(p1, ref1)  # another seq
    with pytest.raises(ReferenceMismatch):
        codec.decode(p2, ref0)
    with pytest.raises(ReferenceMismatch, match="checksum"):  # right seq, another latent
        codec.decode(p1, replace(ref1, seq=0))
    other_alpha = replace(ref0, alpha_code=ref0.alpha_code + 1)  # same latent, another α
    if compact:  # the compact layout carries no α: it is the reference's (structural)
        assert codec.decode(p1, other_alpha).container.alpha_code == ref0.alpha_code + 1
    else:
        with pytest.raises(ReferenceMismatch, match="α"):
            codec.decode(p1, other_alpha)
    assert codec.decode(p1, ref0).container.is_p_frame  # the right one decodes
    with pytest.raises(BitstreamError):  # the intra-only decoder path never guesses
        codec.wire.decode_symbols(FrameContainer.from_bytes(p1))


def test_encoder_refuses_a_p_frame_at_another_alpha(codec):
    _, ref = codec.encode_frame(clip(2)[0], 0.5, 0)
    with pytest.raises(ValueError, match="key frames"):
        codec.encode_frame(clip(2)[1], 0.6, 1, ref)


def _assert_every_bit_flip_is_refused(codec, data: bytes, n_bytes: int, reference) -> None:
    """Every one-bit change in the first ``n_bytes`` of P-frame ``data`` is refused."""
    for pos in range(n_bytes):
        for bit in range(8):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            with pytest.raises(BitstreamError):
                codec.decode(bytes(bad), reference)


@pytest.mark.parametrize("skip_tau", [None, 1.0])
def test_every_header_bit_flip_of_a_compact_p_frame_is_refused(codec, skip_tau):
    encoded = _encode_with_states(codec.encoder, clip(2), 0.5, gop=2, skip_tau=skip_tau)
    data, ref0 = encoded[1][0], encoded[0][1]
    container = FrameContainer.from_bytes(data)
    assert container.compact and not container.is_bound
    assert container.skip_mode == (skip_tau is not None)
    header_size = container.header_nbytes
    assert header_size <= 30
    _assert_every_bit_flip_is_refused(codec, data, header_size, ref0)


@pytest.mark.parametrize("skip_tau", [None, 1.0])
def test_every_header_bit_flip_of_a_p_frame_is_refused(codec, skip_tau):
    encoded = _encode_with_states(
        codec.encoder, clip(2), 0.5, gop=2, skip_tau=skip_tau, compact=False
    )
    data, ref0 = encoded[1][0], encoded[0][1]
    header_size = int.from_bytes(data[6:8], "little")
    assert header_size == 100 and data[5] & 2
    assert bool(data[5] & 4) == (skip_tau is not None)
    _assert_every_bit_flip_is_refused(codec, data, header_size, ref0)


def test_version_1_cannot_carry_a_p_frame(codec):
    encoded = _encode_with_states(codec.encoder, clip(2), 0.5, gop=2, compact=False)
    bad = bytearray(encoded[1][0])
    bad[4] = 1
    with pytest.raises(BitstreamError, match="reserved bits"):
        FrameContainer.from_bytes(bytes(bad))


def test_p_frame_enhancement_layer_decodes(codec):
    frames = clip(2)
    _, ref = codec.encode_frame(frames[0], 0.5, 0)
    data, _ = codec.encode_frame(frames[1], 0.5, 1, ref, enhancement=True)
    frame = codec.decode(data, ref)
    assert frame.has_enhancement
    assert codec.reconstruct(frame, 0.0).shape == (*frames[1].shape[:2], 3)


def test_temporal_file_for_another_codec_is_refused(codec, tmp_path):
    state = read_temporal_file(codec.temporal_path)
    assert state["format"] == "polc-temporal-2"
    other = Codec.load()  # the bundled codec: another fingerprint
    with pytest.raises(ModelError, match="trained for codec"):
        build_temporal_wire(state, other.wire)
    with pytest.raises(ModelError, match="not found"):
        read_temporal_file(tmp_path / "missing.pt")


def test_p_frame_of_another_temporal_model_is_refused(codec, small_codec_file, tmp_path):
    frames = clip(2)
    encoded = _encode_with_states(codec.encoder, frames, 0.5, gop=2)
    other = temporal_codec(small_codec_file, write_temporal_file(codec, tmp_path / "t.pt", seed=1))
    with pytest.raises(BitstreamError, match="temporal model"):
        other.decode(encoded[1][0], encoded[0][1])


@pytest.mark.slow
def test_thousand_p_frames_decode_without_error(codec):
    frames = clip(100)
    total = 0
    for alpha in (0.0, 0.5, 1.0):
        for rep in range(4):
            seq = frames if rep % 2 == 0 else frames[::-1]
            encoded = _encode_with_states(codec.encoder, seq, alpha, gop=len(seq))
            _assert_decodes_exactly(codec, encoded)
            total += len(encoded) - 1
    assert total >= 1000


def test_train_temporal_runs_resumes_and_ships(small_codec, tmp_path):
    from polc.training.temporal import train_temporal
    from polc.training.temporal_config import TemporalTrainConfig

    cfg = TemporalTrainConfig(
        hidden=8,
        clips=1,
        frames=3,
        eval_frames=2,
        size=(128, 96),
        alpha_steps=1,
        steps=2,
        batch_size=2,
        eval_every=2,
        warmup=0,
    )
    run = tmp_path / "run"
    out = train_temporal(small_codec, cfg, run)
    assert (run / "temporal_train_symbols.pt").is_file()
    resumed = train_temporal(small_codec, cfg.model_copy(update={"steps": 4}), run)
    state = read_temporal_file(resumed)
    assert out == resumed and state["meta"]["steps"] == 4
    assert state["meta"]["train_seeds"] == [1000]
    wire = build_temporal_wire(state, small_codec.wire)
    assert wire.z_indexes.shape == (small_codec.wire.N,)


def test_bundled_temporal_model_belongs_to_the_bundled_codec():
    bundled = Codec.load()
    assert bundled.temporal.wire is bundled.wire  # fingerprints match, else ModelError
    assert read_temporal_file()["meta"]["train_seeds"][0] >= 1000  # never the bench's seeds


@pytest.mark.parametrize("skip_tau", [None, 1.5])
def test_compact_p_frames_round_trip_and_full_layout_p_frames_still_decode(codec, skip_tau):
    frames = clip(5)
    compact = _encode_with_states(codec.encoder, frames, 0.5, gop=5, skip_tau=skip_tau)
    full = _encode_with_states(codec.encoder, frames, 0.5, gop=5, skip_tau=skip_tau, compact=False)
    _assert_decodes_exactly(codec, compact)
    _assert_decodes_exactly(codec, full)  # what older encoders stored still decodes
    for (c_data, _), (f_data, _) in zip(compact[1:], full[1:], strict=True):
        assert c_data[:2] == b"\x8aP" and f_data[:4] == b"POLC"
        assert len(f_data) - len(c_data) >= 70  # 100-byte header -> <= 30
    reference = compact[0][1]
    for data, state in compact[1:]:
        frame = codec.decode(data, reference)
        assert frame.container.to_bytes() == data  # one encoding per frame
        assert frame.container.is_bound and frame.container.header_nbytes <= 30
        reference = frame.reference(state.seq)


def test_compact_p_frame_is_unbound_until_decoded_against_its_reference(codec):
    encoded = _encode_with_states(codec.encoder, clip(2), 0.5, gop=2)
    (_, ref0), (p1, ref1) = encoded
    container = FrameContainer.from_bytes(p1)
    assert container.is_p_frame and container.compact and not container.is_bound
    assert (container.reference.seq, container.reference.checksum) == (0, ref0.checksum)
    assert container.latent_crc == ref1.checksum and container.enhancement is None
    with pytest.raises(BitstreamError, match="not bound"):
        _ = container.geometry
    with pytest.raises(ReferenceMissing):
        codec.decode(container)
    frame = codec.decode(container, ref0)
    assert container.is_bound and frame.container is container
    assert container.spec == codec.wire.frame_spec(ref0.geometry, 0.5)
    assert (ref1.fingerprint, ref1.geometry) == (ref0.fingerprint, ref0.geometry)
    assert codec.reconstruct(frame).shape == (*clip(1)[0].shape[:2], 3)


@pytest.mark.parametrize("skip_tau", [None, 1.0])
def test_every_truncation_of_a_compact_p_frame_is_refused(codec, skip_tau):
    _, ref = codec.encode_frame(clip(2)[0], 0.5, 0)
    data, _ = codec.encode_frame(clip(2)[1], 0.5, 1, ref, enhancement=True, skip_tau=skip_tau)
    assert FrameContainer.from_bytes(data).enhancement is not None
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            codec.decode(data[:n], ref)
    with pytest.raises(BitstreamError):
        codec.decode(data + b"\0", ref)
