"""The motion gate of skip-mode P-frames: sensor noise keeps it shut, a real change opens it
(also a slow drift, summed since the position was last coded), and a gated clip still
decodes exactly to what the encoder coded, coding only where the pixels changed."""

from __future__ import annotations

import numpy as np
import pytest
from temporal_support import temporal_codec, write_temporal_file

from polc.shared.codec.motion_gate import moved_positions, pooled_luma, updated_anchor
from polc.shared.codec.runtime import Codec, image_to_array
from polc.shared.codec.temporal import decode_clip

SIZE = (128, 128)  # H, W: an 8 × 8 latent grid (no padding)


def _frame(background: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """``background`` (float, 0–255) plus fresh Gaussian luminance noise of ``sigma`` levels,
    as the camera's uint8."""
    noisy = background + rng.normal(0.0, sigma, background.shape[:2])[..., None]
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def _background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.uniform(40, 200, (SIZE[0] // 8, SIZE[1] // 8, 3))
    return np.kron(base, np.ones((8, 8, 1)))  # a blocky static scene


def _cells(image: np.ndarray) -> np.ndarray:
    return pooled_luma(image_to_array(image)[0])


def test_sensor_noise_keeps_the_gate_shut_and_a_changed_block_opens_it():
    rng = np.random.default_rng(1)
    bg = _background()
    anchor = _cells(_frame(bg, rng, 2.0))
    for _ in range(10):  # fresh noise every frame (σ = 2 levels): nothing moved
        assert not moved_positions(anchor, _cells(_frame(bg, rng, 2.0)), 4.0).any()
    changed = bg.copy()
    changed[36:44, 52:60] += 30.0  # an 8 × 8 patch inside position (2, 3)
    moved = moved_positions(anchor, _cells(_frame(changed, rng, 2.0)), 4.0)
    expected = np.zeros_like(moved)
    expected[2, 3] = True
    assert np.array_equal(moved, expected)


def test_a_slow_drift_adds_up_in_the_anchor_until_the_gate_opens():
    bg = _background()
    anchor = _cells(bg.astype(np.uint8))
    nothing = np.zeros((SIZE[0] // 16, SIZE[1] // 16), bool)
    opened_at = None
    for step in range(1, 12):  # +1 level per frame on the whole frame: each step is small
        cells = _cells((bg + step).astype(np.uint8))
        if moved_positions(anchor, cells, 4.0).all():
            opened_at = step
            break
        anchor = updated_anchor(anchor, cells, nothing)  # nothing coded: the anchor stays
    assert opened_at == 5  # 5 levels since the anchor > T = 4


def test_padding_cells_repeat_the_image_so_noise_does_not_open_them():
    rng = np.random.default_rng(4)
    bg = _background()[:100]  # 100 rows: padded to 128, cells 25.. wholly padding
    x0 = image_to_array(_frame(bg, rng, 2.0))[0]
    cells = pooled_luma(x0, (128, 100))
    assert np.array_equal(cells[25:], np.repeat(cells[24:25], 7, axis=0))
    for _ in range(10):
        x = image_to_array(_frame(bg, rng, 2.0))[0]
        assert not moved_positions(cells, pooled_luma(x, (128, 100)), 4.0).any()


def test_updated_anchor_takes_the_frame_exactly_where_positions_were_coded():
    anchor = np.zeros((24, 32), np.float32)
    cells = np.ones((24, 32), np.float32)
    coded = np.zeros((6, 8), bool)
    coded[1, 2] = True
    out = updated_anchor(anchor, cells, coded)
    assert out[4:8, 8:12].min() == 1.0 and out.sum() == 16.0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="padded"):
        pooled_luma(np.zeros((1, 3, 20, 32), np.float32))
    with pytest.raises(ValueError, match="differ"):
        moved_positions(np.zeros((8, 8)), np.zeros((8, 12)), 4.0)


@pytest.fixture(scope="module")
def codec(small_codec_file, tmp_path_factory) -> Codec:
    path = tmp_path_factory.mktemp("gate") / "temporal.pt"
    return temporal_codec(
        small_codec_file, write_temporal_file(Codec.load(small_codec_file), path, skip_hidden=8)
    )


def _clip(n: int) -> list[np.ndarray]:
    """A static noisy scene with a bright square moving right by 16 px per frame."""
    rng = np.random.default_rng(3)
    bg = _background()
    frames = []
    for t in range(n):
        scene = bg.copy()
        scene[32:64, 8 + 16 * t : 40 + 16 * t] = 235.0
        frames.append(_frame(scene, rng, 2.0))
    return frames


def _encode(codec: Codec, frames, tau: float, gate: float | None):
    out, reference = [], None
    for seq, image in enumerate(frames):
        data, reference = codec.encode_frame(
            image, 0.5, seq, reference, skip_tau=tau, motion_threshold=gate
        )
        out.append((data, reference))
    return out


def test_a_gated_clip_decodes_exactly_and_codes_only_where_pixels_moved(codec):
    frames = _clip(5)
    gated = _encode(codec, frames, 0.2, 4.0)
    plain = _encode(codec, frames, 0.2, None)
    decoded = decode_clip(codec, [data for data, _ in gated])
    for seq, (frame, (_, state)) in enumerate(zip(decoded, gated, strict=True)):
        assert np.array_equal(frame.latent.y_symbols, state.y_symbols)
        assert frame.container.latent_crc == state.checksum
        assert state.motion_anchor is not None and frame.reference(seq).motion_anchor is None
        if seq == 0:
            continue
        assert np.array_equal(frame.latent.skip_flags, state.skip_flags)
        anchor = gated[seq - 1][1].motion_anchor  # what the encoder compared against
        moved = moved_positions(anchor, _cells(frames[seq]), 4.0)
        assert (~state.skip_flags <= moved).all()
        assert moved.sum() <= 8  # the square's old and new blocks, not the noisy scene
    # τ = 0.2 alone codes the noise too; the gate codes only the moving square
    gated_bytes = sum(len(d) for d, _ in gated[1:])
    plain_bytes = sum(len(d) for d, _ in plain[1:])
    assert gated_bytes < plain_bytes
    plain_coded = sum((~s.skip_flags).sum() for _, s in plain[1:])
    gated_coded = sum((~s.skip_flags).sum() for _, s in gated[1:])
    assert gated_coded < plain_coded


def test_without_a_threshold_or_skip_mode_the_encoder_keeps_no_anchor(codec):
    (_, state), (_, p_state) = _encode(codec, _clip(2), 1.0, None)
    assert state.motion_anchor is None and p_state.motion_anchor is None
    reference = None
    for seq, image in enumerate(_clip(2)):  # lossless P-frames: the gate has no say
        _, reference = codec.encode_frame(image, 0.5, seq, reference, motion_threshold=4.0)
        assert reference.motion_anchor is None
