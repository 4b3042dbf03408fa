"""Procedural training images (shared/data/procedural): deterministic per seed, with the
statistics they are there for — a 1/f^slope spectrum, occlusion in dead-leaves images —
and the image pool training crops from (training/datasets.py)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from polc.shared.data.procedural import KINDS, render_procedural, spectral_noise
from polc.shared.data.procedural.dead_leaves import dead_leaves, power_law_radii
from polc.shared.data.procedural.noise import radial_frequency
from polc.training.datasets import ImagePool, MixedCropBatches


@pytest.mark.parametrize("kind", KINDS)
def test_render_is_deterministic_per_seed(kind):
    a = render_procedural(kind, 7, (96, 64))
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_procedural(kind, 7, (96, 64)))
    assert not np.array_equal(a, render_procedural(kind, 8, (96, 64)))
    assert a.std() > 5  # not a flat image


def test_families_differ_for_the_same_seed():
    assert not np.array_equal(
        render_procedural("dead_leaves", 3, (64, 64)), render_procedural("spectral", 3, (64, 64))
    )


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown procedural kind 'clouds'"):
        render_procedural("clouds", 0)


def _spectrum_slope(field: np.ndarray) -> float:
    """Least-squares slope of log power against log |f| (mid frequencies)."""
    power = np.abs(np.fft.rfft2(field)) ** 2
    f = radial_frequency(*field.shape)
    keep = (f > 0.02) & (f < 0.35)
    return float(np.polyfit(np.log(f[keep]), np.log(power[keep]), 1)[0])


@pytest.mark.parametrize("slope", [0.8, 1.0, 1.5])
def test_spectral_noise_has_the_requested_power_law(slope):
    field = spectral_noise(np.random.default_rng(0), 256, 256, slope)
    assert abs(field.mean()) < 1e-3 and abs(field.std() - 1) < 1e-3
    # amplitude ∝ 1/f^slope → power ∝ 1/f^(2·slope)
    assert _spectrum_slope(field) == pytest.approx(-2 * slope, abs=0.15)


def test_dead_leaves_spectrum_is_natural():
    """Occluding shapes with r⁻³ sizes give the ≈ 1/f² power spectrum of photographs."""
    img = dead_leaves(np.random.default_rng(1), 256, 256).mean(-1)
    assert -3.0 < _spectrum_slope(img - img.mean()) < -1.5


def test_power_law_radii_follow_r_to_the_minus_3():
    r = power_law_radii(np.random.default_rng(0), 200_000, 2.0, 200.0)
    assert r.min() >= 2.0 and r.max() <= 200.0
    # P(r > t) = (t⁻² − r_max⁻²) / (r_min⁻² − r_max⁻²)
    for t in (3.0, 6.0, 20.0):
        expected = (t**-2 - 200.0**-2) / (2.0**-2 - 200.0**-2)
        assert (r > t).mean() == pytest.approx(expected, rel=0.05)


def test_dead_leaves_first_shape_occludes_later_ones(monkeypatch):
    """Front to back: a pixel shows the first shape that covers it, never one behind."""
    module = importlib.import_module("polc.shared.data.procedural.dead_leaves")
    boxes: list[tuple[slice, slice]] = []

    def opaque(kind, theta, aspect, radius, ly, lx):  # every shape fills its box
        return np.full(np.broadcast_shapes(ly.shape, lx.shape), -10.0, np.float32)

    def numbered(self, spec, box, local):  # shape k painted with the value k / 1000
        boxes.append(box)
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        return np.full((h, w, 3), len(boxes) / 1000.0, np.float32)

    monkeypatch.setattr(module, "shape_distance", opaque)
    monkeypatch.setattr(module.TexturePalette, "fill", numbered)
    img = module.dead_leaves(np.random.default_rng(3), 64, 64, r_min=4.0, r_max=20.0)
    assert len(boxes) > 3
    expected = np.full((64, 64), np.nan)
    for k, (ys, xs) in enumerate(boxes, start=1):
        region = expected[ys, xs]
        region[np.isnan(region)] = k / 1000.0  # only where no earlier shape is
    covered = ~np.isnan(expected)
    assert covered.mean() > 0.9
    assert np.allclose(img[..., 0][covered], expected[covered], atol=1e-6)


def _counting_source(calls: list[int]):
    def render(index: int) -> np.ndarray:
        calls.append(index)
        return np.full((16, 16, 3), index % 256, np.uint8)

    return render


def test_image_pool_refreshes_and_resumes_to_the_same_content():
    calls: list[int] = []
    pool = ImagePool(_counting_source(calls), size=4, refresh_every=2, step=0, desc="t")
    assert calls == [0, 1, 2, 3]
    pool.advance(11)  # refreshes 0..4 → images 4..8 into slots 0,1,2,3,0
    assert calls[4:] == [4, 5, 6, 7, 8]
    resumed = ImagePool(_counting_source([]), size=4, refresh_every=2, step=11, desc="t")
    assert np.array_equal(resumed.images.numpy(), pool.images.numpy())
    assert sorted(resumed.images[:, 0, 0, 0].tolist()) == [5, 6, 7, 8]


def test_mixed_batches_draw_every_source_by_its_share():
    import torch

    zeros = torch.zeros((4, 3, 32, 32), dtype=torch.uint8)
    ones = torch.full((4, 3, 32, 32), 255, dtype=torch.uint8)
    batches = MixedCropBatches({"a": zeros, "b": ones}, {"a": 0.25, "b": 0.75}, 16, 400, seed=0)
    x = batches.next()
    assert x.shape == (400, 3, 16, 16)
    share_b = float((x.flatten(1).mean(1) == 1.0).float().mean())
    assert share_b == pytest.approx(0.75, abs=0.07)


def test_data_synth_writes_procedural_images(tmp_path):
    from PIL import Image

    from polc.app.cli import main

    assert (
        main(
            [
                "data",
                "synth",
                "--task",
                "spectral",
                "--n",
                "2",
                "--seed",
                "4",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["spectral_000004.png", "spectral_000005.png"]
    with Image.open(tmp_path / files[1]) as im:
        assert np.array_equal(np.asarray(im), render_procedural("spectral", 5, (256, 256)))
