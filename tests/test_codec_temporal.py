"""P-frames: exact decoding on every backend, ŷ equal to intra coding, typed reference
errors, header integrity, the temporal weights file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from temporal_support import clip, temporal_codec, write_temporal_file

from polc.shared.codec.container import FrameContainer
from polc.shared.codec.runtime import Codec, FrameEncoder
from polc.shared.codec.temporal import decode_clip, encode_clip_temporal
from polc.shared.codec.temporal_weights import build_temporal_wire, read_temporal_file
from polc.shared.errors import BitstreamError, ModelError, ReferenceMismatch, ReferenceMissing


@pytest.fixture(scope="module")
def codec(small_codec_file, tmp_path_factory) -> Codec:
    path = tmp_path_factory.mktemp("temporal") / "temporal.pt"
    return temporal_codec(small_codec_file, write_temporal_file(Codec.load(small_codec_file),
                                                                path))


def _encode_with_states(encoder: FrameEncoder, frames, alpha: float, gop: int):
    out, reference = [], None
    for seq, image in enumerate(frames):
        container, reference = encoder.encode_frame(image, alpha, seq,
                                                    None if seq % gop == 0 else reference)
        out.append((container.to_bytes(), reference))
    return out


def _assert_decodes_exactly(codec: Codec, encoded) -> None:
    frames = decode_clip(codec, [data for data, _ in encoded])
    for frame, (_, state) in zip(frames, encoded, strict=True):
        assert np.array_equal(frame.latent.y_symbols, state.y_symbols)
        assert np.array_equal(frame.latent.z_symbols, state.z_symbols)
        assert frame.container.latent_crc == state.checksum


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
        False, True, True, False, True, True, False]
    _assert_decodes_exactly(codec, _encode_with_states(codec.encoder, clip(7), 0.5, 3))


@pytest.mark.parametrize("threads", [1, 2])
def test_p_frames_encoded_with_n_threads_decode_exactly_with_one(codec, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        encoded = _encode_with_states(codec.encoder, clip(12), 0.5, gop=12)
    finally:
        torch.set_num_threads(before)
    torch.set_num_threads(1)
    try:
        _assert_decodes_exactly(codec, encoded)
    finally:
        torch.set_num_threads(before)


def test_p_frames_encoded_in_onnx_runtime_decode_exactly_in_torch(codec, tmp_path):
    from polc.shared.codec.onnx_backend import OrtTransforms, export_onnx

    export_onnx(codec.model, tmp_path)
    encoder = FrameEncoder(codec.wire, OrtTransforms(tmp_path, "cpu"), codec.temporal)
    _assert_decodes_exactly(codec, _encode_with_states(encoder, clip(12), 0.7, gop=12))


def test_p_frame_without_its_reference_is_refused_with_typed_errors(codec):
    frames = clip(4)
    encoded = _encode_with_states(codec.encoder, frames, 0.5, gop=4)
    (_, ref0), (p1, ref1), (p2, _) = encoded[0], encoded[1], encoded[2]
    with pytest.raises(ReferenceMissing):
        codec.decode(p1)
    with pytest.raises(ReferenceMismatch, match="refers to frame 0"):
        codec.decode(p1, ref1)  # another seq
    with pytest.raises(ReferenceMismatch):
        codec.decode(p2, ref0)
    with pytest.raises(ReferenceMismatch, match="checksum"):  # right seq, another latent
        codec.decode(p1, replace(ref1, seq=0))
    with pytest.raises(ReferenceMismatch, match="α"):  # same latent, another α
        codec.decode(p1, replace(ref0, alpha_code=ref0.alpha_code + 1))
    assert codec.decode(p1, ref0).container.is_p_frame  # the right one decodes
    with pytest.raises(BitstreamError):  # the intra-only decoder path never guesses
        codec.wire.decode_symbols(FrameContainer.from_bytes(p1))


def test_encoder_refuses_a_p_frame_at_another_alpha(codec):
    _, ref = codec.encode_frame(clip(2)[0], 0.5, 0)
    with pytest.raises(ValueError, match="key frames"):
        codec.encode_frame(clip(2)[1], 0.6, 1, ref)


def test_every_header_bit_flip_of_a_p_frame_is_refused(codec):
    encoded = _encode_with_states(codec.encoder, clip(2), 0.5, gop=2)
    data, ref0 = encoded[1][0], encoded[0][1]
    header_size = int.from_bytes(data[6:8], "little")
    assert header_size == 100 and data[5] & 2
    for pos in range(header_size):
        for bit in range(8):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            with pytest.raises(BitstreamError):
                codec.decode(bytes(bad), ref0)


def test_version_1_cannot_carry_a_p_frame(codec):
    encoded = _encode_with_states(codec.encoder, clip(2), 0.5, gop=2)
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
    assert state["format"] == "polc-temporal-1"
    other = Codec.load()  # the bundled codec: another fingerprint
    with pytest.raises(ModelError, match="trained for codec"):
        build_temporal_wire(state, other.wire)
    with pytest.raises(ModelError, match="not found"):
        read_temporal_file(tmp_path / "missing.pt")


def test_p_frame_of_another_temporal_model_is_refused(codec, small_codec_file, tmp_path):
    frames = clip(2)
    encoded = _encode_with_states(codec.encoder, frames, 0.5, gop=2)
    other = temporal_codec(small_codec_file,
                           write_temporal_file(codec, tmp_path / "t.pt", seed=1))
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

    cfg = TemporalTrainConfig(hidden=8, clips=1, frames=3, eval_frames=2, size=(128, 96),
                              alpha_steps=1, steps=2, batch_size=2, eval_every=2, warmup=0)
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
