"""The analyzer seam: batched pixel-teacher results, grouping by size, disabled fallback."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from polc.cloud.analyzer import AnalysisResult, NullAnalyzer, PixelTeacherAnalyzer, build_analyzer
from polc.shared.data import CLASSES
from polc.shared.errors import ConfigError


def test_batched_results_match_single_frames(small_codec, teacher_file, test_image):
    analyzer = build_analyzer("pixel-teacher", small_codec, teacher_file, 5)
    assert isinstance(analyzer, PixelTeacherAnalyzer)
    other = np.ascontiguousarray(test_image[:64, :80])  # a second size in the same batch
    frames = [
        small_codec.decode(small_codec.encode(img, a))
        for img, a in ((test_image, 0.3), (other, 0.6), (test_image, 0.9))
    ]
    batched = analyzer.analyze(frames)
    single = [analyzer.analyze([f])[0] for f in frames]
    assert len(batched) == 3
    for b, s in zip(batched, single, strict=True):
        assert b.analyzer == "pixel-teacher" and len(b.classes) == 5
        assert [c.label for c in b.classes] == [c.label for c in s.classes]
        assert all(c.label in CLASSES for c in b.classes)
        np.testing.assert_allclose(
            [c.score for c in b.classes], [c.score for c in s.classes], atol=1e-5
        )
        assert b.classes[0].score >= b.classes[-1].score
        assert AnalysisResult.from_dict(b.to_dict()) == b  # what the store keeps


def test_missing_teacher(small_codec, tmp_path, monkeypatch, caplog):
    with pytest.raises(ConfigError, match="analyzer.teacher_weights"):
        build_analyzer("pixel-teacher", small_codec, tmp_path / "nope.pt", 5)
    monkeypatch.setenv("POLC_TEACHER_WEIGHTS", str(tmp_path / "not-shipped.pt"))
    with caplog.at_level(logging.WARNING):
        analyzer = build_analyzer("pixel-teacher", small_codec, None, 5)
    assert isinstance(analyzer, NullAnalyzer)
    assert "analyzer is disabled" in caplog.text
    assert analyzer.analyze([None, None]) == [AnalysisResult(), AnalysisResult()]
