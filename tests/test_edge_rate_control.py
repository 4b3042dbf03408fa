"""Rate control: fixed α, and a target bitrate met within 10% over a 60 s synthetic clip."""

from __future__ import annotations

import numpy as np
import pytest

from polc.edge.config import RateSettings
from polc.edge.rate_control import RateController
from polc.shared.data import render_video_frames


def test_fixed_alpha() -> None:
    rc = RateController(RateSettings(alpha=0.3), fps=10)
    for n in (100, 1000, 10):
        assert rc.next_alpha() == 0.3
        rc.update(0.3, n)
    assert rc.achieved_kbps == pytest.approx(8 * 1110 / 3 * 10 / 1000)


def test_controller_on_a_synthetic_rate_curve() -> None:
    """A scene whose complexity doubles halfway: the controller follows with α."""
    rc = RateController(RateSettings(mode="target", target_kbps=40.0), fps=10)
    alphas = []
    for i in range(600):
        a = rc.next_alpha()
        complexity = 1.0 if i < 300 else 2.0
        rc.update(a, int(60 * complexity * np.exp(3.0 * a)))
        alphas.append(a)
    assert rc.achieved_kbps == pytest.approx(40.0, rel=0.05)
    assert np.mean(alphas[200:300]) > np.mean(alphas[500:600]) + 0.1  # harder scene: lower α


@pytest.mark.parametrize("fraction", [0.3, 0.7])
def test_target_bitrate_within_10_percent_over_60s_clip(small_codec, fraction: float) -> None:
    fps, seconds = 5, 60  # reduced frame rate and resolution keep the test fast
    frames = [img for img, _ in render_video_frames(fps * seconds, 11, (128, 64))]
    enc = small_codec.encoder

    def kbps(alpha: float) -> float:
        return 8 * len(enc.encode(frames[0], alpha).base_bytes()) * fps / 1000

    lo, hi = kbps(0.0), kbps(1.0)
    target = lo * (hi / lo) ** fraction  # inside the codec's range, in the log domain
    rc = RateController(RateSettings(mode="target", target_kbps=target), fps)
    bits = 0
    for image in frames:
        alpha = rc.next_alpha()
        n = len(enc.encode(image, alpha).base_bytes())
        rc.update(alpha, n)
        bits += 8 * n
    achieved = bits / seconds / 1000
    assert achieved == pytest.approx(target, rel=0.10)
    assert rc.achieved_kbps == pytest.approx(achieved)
