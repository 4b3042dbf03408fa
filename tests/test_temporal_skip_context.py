"""The skip-mode context model h_k: its integer twin, skip-mode P-frames coded with it
(FLAG_SKIP_CONTEXT), what decoders without it do, the polc-temporal-2 file and its training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from temporal_support import clip, temporal_codec, write_temporal_file

from polc.shared.codec import compact_layout
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.integer_hyper import A_FRAC
from polc.shared.codec.integer_temporal import IntegerSkipContext
from polc.shared.codec.runtime import Codec, FrameEncoder
from polc.shared.codec.temporal import decode_clip
from polc.shared.codec.temporal_weights import (
    build_skip_context,
    build_temporal_wire,
    read_temporal_file,
)
from polc.shared.codec.temporal_wire import TemporalWireModel
from polc.shared.errors import BitstreamError, ModelError
from polc.shared.models.codec.temporal_skip import SkipContext
from polc.shared.models.weights_file import save_torch_file


@pytest.fixture(scope="module")
def codec(small_codec_file, tmp_path_factory) -> Codec:
    """The small codec with a temporal model that has h_k."""
    path = tmp_path_factory.mktemp("skipctx") / "temporal.pt"
    written = write_temporal_file(Codec.load(small_codec_file), path, skip_hidden=8)
    codec = temporal_codec(small_codec_file, written)
    assert codec.temporal.skip_context is not None
    return codec


def _without_skip_context(temporal: TemporalWireModel) -> TemporalWireModel:
    """The same temporal model (same fingerprint) without h_k: codes as before h_k existed."""
    other = copy.copy(temporal)
    other.skip_context = None
    return other


def _encode(encoder: FrameEncoder, frames, alpha: float, tau: float):
    """(container, reference state) per frame of one skip-mode GOP."""
    out, reference = [], None
    for seq, image in enumerate(frames):
        container, reference = encoder.encode_frame(image, alpha, seq, reference, skip_tau=tau)
        out.append((container, reference))
    return out


def _inputs(m: int, h: int, w: int, seed: int):
    rng = np.random.default_rng(seed)
    y_ref = rng.integers(-12, 13, (m, h, w))
    idx_ref = rng.integers(0, 64, (m, h, w))
    coded = rng.random((h, w)) < 0.4
    skipped_ref = rng.random((h, w)) < 0.5
    return y_ref, idx_ref, coded, skipped_ref


def test_integer_h_k_matches_the_float_model_and_any_thread_count():
    torch.manual_seed(3)
    model = SkipContext(12, 16)
    half = {k: v.half().float() for k, v in model.state_dict().items()}
    model.load_state_dict(half)  # the fp16 weights that ship
    integer = IntegerSkipContext.from_float(model)
    y_ref, idx_ref, coded, skipped_ref = _inputs(12, 9, 11, 0)
    with torch.no_grad():
        mu_f, sigma_f = model(
            *(torch.from_numpy(np.asarray(a, np.float32))[None] for a in (y_ref, idx_ref)),
            *(torch.from_numpy(a.astype(np.float32))[None, None] for a in (coded, skipped_ref)),
        )
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(integer(y_ref, idx_ref, coded, skipped_ref))
    finally:
        torch.set_num_threads(before)
    (mu_1, sigma_1), (mu_2, sigma_2) = results
    assert np.array_equal(mu_1, mu_2) and np.array_equal(sigma_1, sigma_2)
    mu_f, sigma_f = mu_f[0].numpy(), sigma_f[0].numpy()
    assert np.abs(mu_1 - np.round(mu_f)).max() <= 1  # within rounding of the fixed point
    assert (mu_1 == np.round(mu_f)).mean() > 0.98
    assert np.abs(sigma_1 / 2**A_FRAC - sigma_f).max() < 0.05
    # no skip map on the reference (key frame) is the all-zero map
    none = integer(y_ref, idx_ref, coded, None)
    zeros = integer(y_ref, idx_ref, coded, np.zeros_like(skipped_ref))
    assert all(np.array_equal(a, b) for a, b in zip(none, zeros, strict=True))


@pytest.mark.parametrize("threads", [1, 2])
def test_skip_mode_with_h_k_decodes_to_the_encoders_latent(codec, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        encoded = _encode(codec.encoder, clip(8), 0.5, 1.0)
    finally:
        torch.set_num_threads(before)
    torch.set_num_threads(1)
    try:
        frames = decode_clip(codec, [c.to_bytes() for c, _ in encoded])
    finally:
        torch.set_num_threads(before)
    for frame, (container, state) in zip(frames, encoded, strict=True):
        assert np.array_equal(frame.latent.y_symbols, state.y_symbols)
        if container.is_p_frame:
            assert container.skip_context and frame.container.skip_context
            assert np.array_equal(frame.latent.skip_flags, state.skip_flags)
    lossless = codec.encoder.encode_frame(clip(2)[1], 0.5, 1, encoded[0][1])[0]
    assert not lossless.skip_context  # lossless P-frames code with h_t, as before


def test_skip_mode_frame_with_h_k_is_refused_by_a_decoder_without_it(codec):
    encoded = _encode(codec.encoder, clip(3), 0.5, 1.0)
    container, reference = encoded[1][0], encoded[0][1]
    assert container.skip_context
    without = _without_skip_context(codec.temporal)
    with pytest.raises(ModelError, match="skip context model"):
        without.decode_symbols(FrameContainer.from_bytes(container.to_bytes()), reference)


def test_skip_mode_frames_without_the_flag_still_decode_with_h_t(codec):
    old = FrameEncoder(codec.wire, codec.encoder.transforms, _without_skip_context(codec.temporal))
    encoded = _encode(old, clip(6), 0.5, 1.0)
    frames = decode_clip(codec, [c.to_bytes() for c, _ in encoded])  # the model with h_k
    for frame, (container, state) in zip(frames, encoded, strict=True):
        assert not container.skip_context
        assert np.array_equal(frame.latent.y_symbols, state.y_symbols)


def test_skip_context_flag_without_skip_mode_is_refused():
    sections = (b"", np.zeros(0, np.int64), b"\0\0\0\0", np.zeros(0, np.int64))
    args = (7, 0x1234, b"ab", 16, sections, 1, 2, b"")
    data = compact_layout.pack(True, *args, skip_context=True)
    assert compact_layout.parse(data).skip_context
    assert not compact_layout.parse(compact_layout.pack(True, *args)).skip_context
    with pytest.raises(ValueError, match="skip-mode"):
        compact_layout.pack(False, *args, skip_context=True)
    bad = bytearray(compact_layout.pack(False, *args))
    bad[3] |= compact_layout.FLAG_SKIP_CONTEXT  # (frame_crc would fail later anyway)
    with pytest.raises(BitstreamError, match="skip context without skip mode"):
        compact_layout.parse(bytes(bad))


def test_temporal_1_files_still_load_without_h_k(codec, small_codec, tmp_path):
    state = read_temporal_file(codec.temporal_path)
    assert state["format"] == "polc-temporal-2"
    assert isinstance(build_skip_context(state), SkipContext)
    old = {k: v for k, v in state.items() if k not in ("skip_state_dict",)}
    old["wire"] = {
        k: v for k, v in state["wire"].items() if k not in ("integer_hk", "skip_fingerprint")
    }
    old["format"] = "polc-temporal-1"
    save_torch_file(old, tmp_path / "t1.pt")
    legacy = read_temporal_file(tmp_path / "t1.pt")
    assert build_skip_context(legacy) is None
    wire = build_temporal_wire(legacy, small_codec.wire)
    assert wire.skip_context is None and wire.skip_fingerprint is None
    # frames coded with h_t name h_t's identity: the same with or without h_k beside it
    assert wire.fingerprint == codec.temporal.fingerprint != codec.temporal.skip_fingerprint
    old_encoder = FrameEncoder(small_codec.wire, small_codec.encoder.transforms, wire)
    encoded = _encode(old_encoder, clip(4), 0.5, 1.0)
    assert not encoded[1][0].skip_context
    encoded.append(old_encoder.encode_frame(clip(5)[4], 0.5, 4, encoded[-1][1]))  # lossless
    # what the polc-temporal-1 file coded decodes with the polc-temporal-2 one
    frames = decode_clip(codec, [c.to_bytes() for c, _ in encoded])
    for frame, (_, ref_state) in zip(frames, encoded, strict=True):
        assert np.array_equal(frame.latent.y_symbols, ref_state.y_symbols)


def test_train_temporal_with_a_skip_section_carries_h_t_and_trains_h_k(small_codec, tmp_path):
    from polc.training.temporal import train_temporal
    from polc.training.temporal_config import SkipContextTrainConfig, TemporalTrainConfig

    source = write_temporal_file(small_codec, tmp_path / "v1.pt")
    cfg = TemporalTrainConfig(
        ht_from=source,
        clips=1,
        frames=3,
        eval_frames=3,
        size=(128, 96),
        skip=SkipContextTrainConfig(
            hidden=8, taus=(1.0,), steps=2, batch_size=2, eval_every=2, warmup=0
        ),
    )
    run = tmp_path / "run"
    out = train_temporal(small_codec, cfg, run)
    assert (run / "temporal_skip_latents.pt").is_file()
    resumed = train_temporal(
        small_codec, cfg.model_copy(update={"skip": cfg.skip.model_copy(update={"steps": 4})}), run
    )
    state, carried = read_temporal_file(resumed), read_temporal_file(source)
    assert out == resumed and state["meta"]["skip_steps"] == 4
    assert state["meta"]["train_seeds"] == [1000]
    wire, before = (build_temporal_wire(s, small_codec.wire) for s in (state, carried))
    assert wire.skip_context is not None
    for new, old in zip(wire.context.layers, before.context.layers, strict=True):
        assert np.array_equal(new.weight, old.weight) and np.array_equal(new.bias, old.bias)
    assert np.array_equal(wire.z_indexes, before.z_indexes)
    assert wire.fingerprint == before.fingerprint  # h_t's identity: unchanged
    assert wire.skip_fingerprint not in (None, before.fingerprint)  # it covers h_k


@pytest.fixture(scope="module")
def shifted_hk_temporal(small_codec_file, tmp_path_factory) -> TemporalWireModel:
    """A temporal model whose h_k predicts y_ref + 0.8 (round: y_ref + 1) where h_t predicts
    about y_ref: snapping to one or the other codes different values."""
    from polc.shared.codec.temporal_weights import export_temporal
    from polc.shared.models.codec.temporal import TemporalContext

    small = Codec.load(small_codec_file)
    torch.manual_seed(0)
    hk = SkipContext(small.wire.M, 8)
    with torch.no_grad():
        hk.conv3.weight[: small.wire.M] = 0.0
        hk.conv3.bias[: small.wire.M] = 0.8
    z_indexes = np.arange(small.wire.N) % len(small.wire.tables_y)
    state = export_temporal(
        TemporalContext(small.wire.M, 16), z_indexes, small.wire.fingerprint, {}, hk
    )
    path = tmp_path_factory.mktemp("shifted_hk") / "temporal.pt"
    from polc.shared.models.weights_file import save_weights

    save_weights(path, "temporal", state)
    return temporal_codec(small_codec_file, path).temporal


#: codes some positions of clip(4) and snaps values 0.5-0.6 steps from the prediction
SNAP_TEST_TAU = 0.6


def _simulated_gop(codec: Codec, temporal: TemporalWireModel, snap_to_hk: bool):
    from polc.training.temporal_skip import clip_latents, simulate_skip_gops

    frames = clip(4)
    latents = clip_latents(codec, [7], len(frames), (frames[0].shape[1], frames[0].shape[0]))
    return frames, simulate_skip_gops(
        codec, temporal, latents, [0.5], (SNAP_TEST_TAU,), 1, snap_to_hk
    )


@pytest.mark.parametrize("snap_to_hk", [False, True], ids=["snap-to-h_t", "snap-to-h_k"])
def test_simulated_skip_gops_are_what_the_encoder_codes(codec, shifted_hk_temporal, snap_to_hk):
    temporal = shifted_hk_temporal if snap_to_hk else _without_skip_context(shifted_hk_temporal)
    frames, gops = _simulated_gop(codec, temporal, snap_to_hk)
    encoder = FrameEncoder(codec.wire, codec.encoder.transforms, temporal)
    for t, (container, state) in enumerate(_encode(encoder, frames, 0.5, SNAP_TEST_TAU)):
        assert container.skip_context == (snap_to_hk and t > 0)
        assert np.array_equal(gops.y[0, 0, 0, t], state.y_symbols)
        if t:
            assert np.array_equal(gops.skip[0, 0, 0, t], state.skip_flags)
    _, other = _simulated_gop(codec, shifted_hk_temporal, not snap_to_hk)
    assert not np.array_equal(other.y, gops.y)  # the snapping model matters


def test_snapping_to_h_k_needs_a_temporal_file_to_take_it_from():
    from polc.shared.errors import ConfigError
    from polc.training.temporal_config import load_temporal_config

    with pytest.raises(ConfigError, match="ht_from"):
        load_temporal_config(None, {"skip": {"snap_to": "hk"}})
    assert load_temporal_config(None, {"skip": {}}).skip.snap_to == "ht"
