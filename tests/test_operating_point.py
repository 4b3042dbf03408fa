"""The detection operating point: per-class thresholds and NMS applied by the cloud's runner,
stored in the adapter file, overridden by the configuration, and chosen (max F1) by
``polc bench operating-point``'s chooser."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from polc.bench.operating_point_choice import (
    SHARED,
    ClassTable,
    choose_for_recall,
    choose_thresholds,
    evaluate,
    groups,
    uniform_choice,
)
from polc.cloud.analyzer import apply_detection_settings
from polc.cloud.config import load_config
from polc.cloud.latent_runners import DetectionRunner
from polc.shared.errors import ConfigError, ModelError
from polc.shared.models.adapters.adapter_file import AdapterFile
from polc.shared.models.adapters.detection import LatentDetector
from polc.shared.models.adapters.operating_point import (
    LEGACY_OPERATING_POINT,
    OperatingPoint,
    store_operating_point,
)
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.detector import PixelDetector
from polc.shared.models.vision.detector_file import detector_state
from polc.shared.models.weights_file import load_weights, save_weights

CLASSES = ["car", "person", "bus"]


class FixedDetections(nn.Module):
    """Returns the same detections for every latent of a batch."""

    def __init__(self, det: dict[str, torch.Tensor]):
        super().__init__()
        self.det = det

    def forward(self, batch: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        return [dict(self.det) for _ in range(batch.shape[0])]


def _runner() -> DetectionRunner:
    det = {
        "boxes": torch.tensor(
            [
                [0.0, 0.0, 20.0, 20.0],  # car 0.9
                [40.0, 0.0, 60.0, 20.0],  # car 0.6
                [1.0, 1.0, 21.0, 21.0],  # person 0.7, on the first car
                [80.0, 0.0, 90.0, 10.0],  # person 0.35
                [100.0, 0.0, 120.0, 20.0],  # bus 0.5
            ]
        ),
        "scores": torch.tensor([0.9, 0.6, 0.7, 0.35, 0.5]),
        "labels": torch.tensor([0, 0, 1, 1, 2]),
    }
    return DetectionRunner(FixedDetections(det), CLASSES)


def _found(runner: DetectionRunner, **kwargs) -> list[tuple[str, float]]:
    dets = runner([torch.zeros(1, 4, 8, 8)], [(128, 128)], **kwargs)[0]
    return [(d.label, round(d.score, 2)) for d in dets]


def test_runner_applies_per_class_thresholds_then_nms():
    runner = _runner()
    assert runner.operating_point == LEGACY_OPERATING_POINT  # no file: every class at 0.3
    assert _found(runner) == [
        ("car", 0.9),
        ("person", 0.7),
        ("car", 0.6),
        ("bus", 0.5),
        ("person", 0.35),
    ]
    runner.operating_point = OperatingPoint(0.4, {"car": 0.8, "bus": 0.55})
    assert _found(runner) == [("car", 0.9), ("person", 0.7)]
    runner.operating_point = OperatingPoint(0.3, {"car": 0.8}, nms_iou=0.5)
    assert _found(runner) == [("car", 0.9), ("person", 0.7), ("bus", 0.5), ("person", 0.35)]
    runner.operating_point = OperatingPoint(0.3, {"car": 0.8}, 0.5, class_agnostic_nms=True)
    assert _found(runner) == [("car", 0.9), ("bus", 0.5), ("person", 0.35)]  # person 0.7 gone
    assert _found(runner, min_score=0.65) == [("car", 0.9)]  # one threshold for all, same NMS


def test_operating_point_validates_and_round_trips():
    point = OperatingPoint(0.45, {"car": 0.6}, 0.5, True, "polc bench operating-point")
    assert OperatingPoint.from_dict(point.as_dict()) == point
    with pytest.raises(ValueError, match="per_class.car"):
        OperatingPoint(0.3, {"car": 1.5})
    with pytest.raises(ValueError, match="nms_iou"):
        OperatingPoint(nms_iou=0.0)
    with pytest.raises(ValueError, match="unknown"):
        OperatingPoint.from_dict({"min_scor": 0.3})
    over = point.overridden(min_score=0.2)
    assert over.per_class == {} and over.threshold("car") == 0.2 and over.nms_iou == 0.5
    over = point.overridden(per_class={"bus": 0.9}, nms_iou=0.3, class_agnostic_nms=False)
    assert dict(over.per_class) == {"car": 0.6, "bus": 0.9}
    assert (over.nms_iou, over.class_agnostic_nms, over.min_score) == (0.3, False, 0.45)


def test_stored_operating_point_keeps_the_file_kind_and_reaches_the_runner(tmp_path):
    from polc.training.adapter_det import save_det_adapter

    torch.manual_seed(0)
    pixel = PixelDetector(SmallResNet(3, (8, 16, 24, 32)), 3, channels=32, head_convs=1)
    pixel_path = tmp_path / "detector.pt"
    torch.save(detector_state(pixel, CLASSES), pixel_path)
    path = tmp_path / "adapter_det.pt"
    save_det_adapter(LatentDetector(pixel, 24, 8), CLASSES, "fp", path)
    assert AdapterFile.read(path).operating_point is None
    assert DetectionRunner.load(path, pixel_path).operating_point == LEGACY_OPERATING_POINT

    point = OperatingPoint(0.5, {"person": 0.4}, 0.45, False, "polc bench operating-point")
    before = load_weights(path, "adapter_det")
    store_operating_point(path, point)
    after = load_weights(path, "adapter_det")  # still an adapter_det file of the same format
    assert after["format"] == before["format"] and after.keys() - before.keys() == {
        "operating_point"
    }
    assert all(torch.equal(after["stem"][k], v) for k, v in before["stem"].items())
    assert DetectionRunner.load(path, pixel_path).operating_point == point

    save_weights(path, "adapter_det", {**after, "operating_point": {"nms_iou": 2.0}})
    with pytest.raises(ModelError, match="operating_point"):
        AdapterFile.read(path)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"analyzer.detection.min_score": 1.5}, "analyzer.detection.min_score"),
        ({"analyzer.detection.nms_iou": 0}, "analyzer.detection.nms_iou"),
        ({"analyzer.detection.per_class": {"car": -0.1}}, "analyzer.detection.per_class.car"),
        ({"analyzer.detection.min_scores": 0.5}, "analyzer.detection.min_scores"),
    ],
)
def test_config_overrides_are_validated_naming_the_field(overrides, field):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        load_config(None, overrides)


def test_config_overrides_replace_the_files_point():
    runner = _runner()
    runner.operating_point = OperatingPoint(0.4, {"car": 0.8}, 0.5)
    cfg = load_config(
        None, {"analyzer.detection.per_class": {"bus": 0.6}, "analyzer.detection.nms_iou": 0.3}
    )
    apply_detection_settings(runner, cfg.analyzer.detection)
    assert runner.operating_point == OperatingPoint(0.4, {"car": 0.8, "bus": 0.6}, 0.3)
    cfg = load_config(None, {"analyzer.detection.min_score": 0.2})
    apply_detection_settings(runner, cfg.analyzer.detection)
    assert runner.operating_point.thresholds(CLASSES).tolist() == pytest.approx([0.2] * 3)
    cfg = load_config(None, {"analyzer.detection.per_class": {"truck": 0.5}})
    with pytest.raises(ConfigError, match="'analyzer.detection.per_class.truck'"):
        apply_detection_settings(runner, cfg.analyzer.detection)


GRID = np.round(np.arange(0.1, 0.91, 0.1), 2)


def _table(scores: list[float], hits: list[int], truth: int) -> ClassTable:
    return ClassTable(np.array(scores), np.array(hits, bool), truth)


def test_chooser_picks_the_known_best_per_class_thresholds():
    """a's misses score 0.42-0.45, b's hits 0.32-0.35: no single threshold separates both."""
    tables = {
        "a": _table([0.9, 0.8, 0.45, 0.42, 0.3], [1, 1, 0, 0, 0], 3),
        "b": _table([0.35, 0.32, 0.25], [1, 1, 0], 2),
    }
    choice = choose_thresholds(tables, GRID)
    assert choice.thresholds == {"a": 0.8, "b": 0.3}  # a: 0.5-0.8 tie, the higher wins
    assert (choice.tp, choice.detections, choice.truth) == (4, 4, 5)
    assert choice.f1 == pytest.approx(8 / 9)
    uniform = uniform_choice(tables, GRID)
    assert uniform.thresholds == {SHARED: 0.3} and uniform.f1 == pytest.approx(8 / 12)


def _random_tables(rng: np.random.Generator) -> dict[str, ClassTable]:
    """Three classes of up to 7 detections; better scores are more often right."""
    tables = {}
    for name in "abc":
        n = int(rng.integers(0, 8))
        scores = np.round(rng.uniform(0.05, 0.95, n), 2)
        hits = rng.random(n) < scores
        tables[name] = ClassTable(scores, hits, int(hits.sum() + rng.integers(0, 3)))
    return tables


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_chooser_matches_brute_force_on_random_tables(beta):
    rng = np.random.default_rng(3)
    for _ in range(20):
        tables = _random_tables(rng)
        best = max(
            evaluate(tables, dict(zip("abc", t, strict=True)), 0.0).f_beta(beta)
            for t in itertools.product(GRID, repeat=3)
        )
        assert choose_thresholds(tables, GRID, beta).f_beta(beta) == pytest.approx(best)


@pytest.mark.parametrize("floor", [0.3, 0.6, 0.85])
def test_recall_floor_chooser_matches_brute_force_on_random_tables(floor):
    rng = np.random.default_rng(5)
    for _ in range(20):
        tables = _random_tables(rng)
        feasible = [
            c
            for t in itertools.product(GRID, repeat=3)
            if (c := evaluate(tables, dict(zip("abc", t, strict=True)), 0.0)).recall
            >= floor - 1e-12
        ]
        choice = choose_for_recall(tables, floor, GRID)
        if not feasible:
            assert choice is None
            continue
        assert choice is not None and choice.recall >= floor - 1e-12
        assert choice.precision == pytest.approx(max(c.precision for c in feasible))
        again = evaluate(tables, choice.thresholds, 0.0)
        assert (again.tp, again.detections) == (choice.tp, choice.detections)


def test_recall_floor_trades_precision_for_recall():
    """a's misses score 0.42-0.45: recall 4/5 keeps them out, recall 5/5 cannot."""
    tables = {
        "a": _table([0.9, 0.8, 0.45, 0.42, 0.3], [1, 1, 0, 0, 1], 3),
        "b": _table([0.35, 0.32, 0.25], [1, 1, 0], 2),
    }
    strict = choose_for_recall(tables, 0.8, GRID)
    assert strict.thresholds == {"a": 0.8, "b": 0.3} and strict.precision == 1.0
    full = choose_for_recall(tables, 1.0, GRID)
    assert full.thresholds == {"a": 0.3, "b": 0.3} and (full.tp, full.detections) == (5, 7)
    assert choose_for_recall({"a": _table([0.9], [1], 3)}, 0.5, GRID) is None


def test_rare_classes_share_one_threshold():
    tables = {
        "car": _table([0.9], [1], 40),
        "bus": _table([0.5], [1], 3),
        "van": _table([0.4, 0.3], [0, 1], 2),
    }
    pooled = groups(tables, min_truth=30)
    assert set(pooled) == {"car", SHARED}
    assert pooled[SHARED].truth == 5 and len(pooled[SHARED].scores) == 3
