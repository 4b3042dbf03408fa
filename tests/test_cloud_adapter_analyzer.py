"""The cloud's compressed-domain analyzer: the bundled POLC adapter classifies decoded ŷ in
batches (mixed sizes) and returns the same answer as frame-by-frame inference."""

from __future__ import annotations

import numpy as np
import pytest

from polc.cloud.analyzer import LatentAdapterAnalyzer, build_analyzer
from polc.shared.codec.runtime import Codec
from polc.shared.data import CLASSES, render_cls_crop
from polc.shared.errors import ConfigError
from polc.shared.models.weights_file import WEIGHTS_DIR, default_codec_path, default_teacher_path

pytestmark = pytest.mark.skipif(
    not (WEIGHTS_DIR / "adapter_cls.pt").is_file() or not default_codec_path().is_file(),
    reason="bundled weights not present",
)


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec.load()


def test_adapter_analyzer_beats_chance_on_crops_and_batches_consistently(codec):
    analyzer = build_analyzer("adapter", codec, None, 3)
    assert isinstance(analyzer, LatentAdapterAnalyzer)
    crops = [render_cls_crop(777, i) for i in range(27)]  # 3 of each class
    frames = [codec.decode(codec.encode(img, 0.5)) for img, _ in crops]
    big = codec.decode(codec.encode(np.zeros((96, 160, 3), np.uint8), 0.2))
    results = analyzer.analyze([*frames, big])
    assert all(len(r.classes) == 3 for r in results)
    correct = sum(
        r.classes[0].label == CLASSES[label] for r, (_, label) in zip(results, crops, strict=False)
    )
    assert correct / len(crops) > 0.5  # chance is 1/9
    single = analyzer.analyze([frames[4]])[0]
    assert single.classes[0].label == results[4].classes[0].label
    assert abs(single.classes[0].score - results[4].classes[0].score) < 1e-4


def test_adapter_analyzer_missing_weights_names_the_field(codec, tmp_path):
    with pytest.raises(ConfigError, match="analyzer.adapter_weights"):
        build_analyzer("adapter", codec, default_teacher_path(), 3, tmp_path / "none.pt")
