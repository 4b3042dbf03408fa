"""The object oracle of ``polc bench video``: its P-frames code exactly the positions of the
ground-truth objects (this frame's and the previous one's) and decode like any skip-mode
P-frame."""

from __future__ import annotations

import numpy as np
import pytest
from temporal_support import CLIP_SIZE, temporal_codec, write_temporal_file

from polc.bench import video_oracle
from polc.bench.video_oracle import encode_clip_temporal, object_positions
from polc.bench.video_polc import code_temporal
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.runtime import Codec
from polc.shared.codec.temporal import decode_clip
from polc.shared.data.synth.video import render_video_frames


def test_object_positions_cover_every_latent_cell_a_box_touches():
    mask = object_positions([{"bbox": [20, 5, 20, 12]}, {"bbox": [100, 40, 4, 4]}], (4, 8))
    expected = np.zeros((4, 8), bool)
    expected[0:2, 1:3] = True  # x 20–40 → columns 1, 2; y 5–17 → rows 0, 1
    expected[2, 6] = True
    assert np.array_equal(mask, expected)


@pytest.fixture(scope="module")
def codec(small_codec_file, tmp_path_factory) -> Codec:
    path = tmp_path_factory.mktemp("oracle") / "temporal.pt"
    return temporal_codec(
        small_codec_file, write_temporal_file(Codec.load(small_codec_file), path, skip_hidden=8)
    )


def test_oracle_p_frames_code_exactly_the_objects(codec):
    rendered = list(render_video_frames(6, 3, CLIP_SIZE))
    frames = np.stack([image for image, _ in rendered])
    annotations = [anns for _, anns in rendered]
    blobs = encode_clip_temporal(codec, list(frames), 0.5, 6, annotations)
    decoded = decode_clip(codec, blobs)
    assert not FrameContainer.from_bytes(blobs[0]).is_p_frame
    coded_any = False
    for seq in range(1, 6):
        assert FrameContainer.from_bytes(blobs[seq]).skip_mode
        hw = decoded[seq].y_hat.shape[2:]
        objects = object_positions(annotations[seq], hw)
        objects |= object_positions(annotations[seq - 1], hw)
        assert np.array_equal(~decoded[seq].latent.skip_flags, objects)
        coded_any |= bool(objects.any())
    assert coded_any  # the clip has objects: the check above compared real maps
    timed = code_temporal(video_oracle, codec, frames, 0.5, 6, annotations=annotations)
    assert timed.bits == [len(b) * 8 for b in blobs]
    assert timed.key_frames == [True] + [False] * 5
