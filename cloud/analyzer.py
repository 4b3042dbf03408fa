"""Machine-task analyzers: a batch of decoded frames in, one result per frame out.

``FrameAnalyzer`` is the seam the compressed-domain POLC adapters plug into:
``LatentAdapterAnalyzer`` reads ``DecodedFrame.y_hat`` directly (classes, and boxes when a
detection adapter is configured). ``PixelTeacherAnalyzer`` runs the pixel-domain teacher
classifier on the β = 1 reconstructions x̂₁:

    frames ─group by size─► cat ŷ ─► g_s ─► x̂₁ (crop) ─► teacher ─► softmax ─► top-k
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from polc.cloud.config import DetectionSettings
from polc.cloud.latent_runners import ClassificationRunner, DetectionRunner
from polc.shared.codec.runtime import Codec, DecodedFrame
from polc.shared.errors import ConfigError
from polc.shared.models.adapters.torchvision_adapter_file import is_torchvision_adapter
from polc.shared.models.vision.teacher_file import load_teacher
from polc.shared.models.weights_file import (
    WEIGHTS_DIR,
    default_detector_path,
    default_teacher_path,
)
from polc.shared.results import ClassScore, Detection

log = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    """What an analyzer found in one frame."""

    analyzer: str = ""
    classes: list[ClassScore] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    analyzed_time_us: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AnalysisResult:
        if not data:
            return cls()
        return cls(
            data.get("analyzer", ""),
            [ClassScore(**c) for c in data.get("classes", [])],
            [
                Detection(d["label"], d["score"], tuple(d["box"]), d["class_index"])
                for d in data.get("detections", [])
            ],
            data.get("analyzed_time_us", 0),
        )


class FrameAnalyzer(Protocol):
    """A batch of decoded frames -> one AnalysisResult per frame (same order)."""

    name: str

    def analyze(self, frames: list[DecodedFrame]) -> list[AnalysisResult]: ...


class NullAnalyzer:
    """No machine task configured: every frame gets an empty result."""

    name = ""

    def analyze(self, frames: list[DecodedFrame]) -> list[AnalysisResult]:
        return [AnalysisResult() for _ in frames]


class PixelTeacherAnalyzer:
    """Top-k classes of the pixel-domain teacher on x̂₁ (see the module docstring)."""

    name = "pixel-teacher"

    def __init__(self, codec: Codec, teacher: torch.nn.Module, classes: list[str], top_k: int = 5):
        self.codec, self.teacher, self.classes = codec, teacher.eval(), list(classes)
        self.top_k = min(top_k, len(self.classes))

    @classmethod
    def from_file(cls, codec: Codec, path: Path, top_k: int = 5) -> PixelTeacherAnalyzer:
        teacher = load_teacher(path, codec.device)
        return cls(codec, teacher, teacher.classes, top_k)

    @torch.no_grad()
    def analyze(self, frames: list[DecodedFrame]) -> list[AnalysisResult]:
        results: list[AnalysisResult | None] = [None] * len(frames)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, frame in enumerate(frames):
            g = frame.container.geometry
            groups[(g.width, g.height)].append(i)
        stamp = time.time_ns() // 1000
        for (width, height), idx in groups.items():
            y_hat = torch.cat([frames[i].y_hat for i in idx])
            x1, _ = self.codec.model.g_s(y_hat)
            x1 = x1[:, :, :height, :width].clamp(0, 1)
            probs = torch.softmax(self.teacher(x1), dim=1)
            scores, labels = probs.topk(self.top_k, dim=1)
            for row, i in enumerate(idx):
                results[i] = AnalysisResult(
                    self.name,
                    [
                        ClassScore(self.classes[int(c)], float(s), int(c))
                        for s, c in zip(scores[row], labels[row], strict=True)
                    ],
                    [],
                    stamp,
                )
        return [r if r is not None else AnalysisResult() for r in results]


class LatentAdapterAnalyzer:
    """POLC adapters straight on ŷ, no pixel decoding: top-k classes and, when a detection
    adapter is configured, boxes in original-frame pixels (the encoder's padding undone)."""

    name = "adapter"

    def __init__(
        self,
        runner: ClassificationRunner,
        top_k: int = 5,
        detector: DetectionRunner | None = None,
        min_score: float | None = None,
    ):
        """``min_score``: one threshold for every class instead of the detector's operating
        point (None: the operating point)."""
        self.runner, self.top_k = runner, top_k
        self.detector, self.min_score = detector, min_score

    @classmethod
    def from_files(
        cls,
        adapter: Path,
        teacher: Path | None,
        device: str,
        top_k: int = 5,
        detector: tuple[Path, Path | None] | None = None,
    ) -> LatentAdapterAnalyzer:
        """``detector``: (detection adapter .pt, pixel detector .pt), or None: no boxes."""
        boxes = DetectionRunner.load(*detector, device) if detector else None
        return cls(ClassificationRunner.load(adapter, teacher, device), top_k, boxes)

    def analyze(self, frames: list[DecodedFrame]) -> list[AnalysisResult]:
        stamp = time.time_ns() // 1000
        latents = [f.y_hat for f in frames]
        ranked = self.runner(latents, k=self.top_k)
        boxes: list[list[Detection]] = [[] for _ in frames]
        if self.detector is not None:
            sizes = [(f.container.geometry.width, f.container.geometry.height) for f in frames]
            boxes = self.detector(latents, sizes, self.min_score)
        return [
            AnalysisResult(self.name, scores, dets, stamp)
            for scores, dets in zip(ranked, boxes, strict=True)
        ]


def _detection_files(
    detector_weights: Path | None, detector_adapter_weights: Path | None
) -> tuple[Path, Path | None] | None:
    """(detection adapter, pixel detector) if configured or bundled; configured but missing
    files raise ConfigError naming the field, absent bundled ones disable detection. A
    torchvision adapter file needs no pixel detector (None)."""
    adapter = Path(detector_adapter_weights or WEIGHTS_DIR / "adapter_det.pt")
    if detector_adapter_weights is not None and adapter.is_file():
        if is_torchvision_adapter(adapter):
            return adapter, None
    detector = Path(detector_weights or default_detector_path())
    for key, given, p in (
        ("detector_adapter_weights", detector_adapter_weights, adapter),
        ("detector_weights", detector_weights, detector),
    ):
        if given is not None and not p.is_file():
            raise ConfigError(f"config field 'analyzer.{key}': no file {p}")
    if not (adapter.is_file() and detector.is_file()):
        log.info(
            "no detection adapter weights (%s, %s): frame results carry no boxes", adapter, detector
        )
        return None
    return adapter, detector


def apply_detection_settings(runner: DetectionRunner, settings: DetectionSettings) -> None:
    """The configuration's overrides on the runner's operating point (the adapter file's);
    a class the detector does not have raises ConfigError naming the field."""
    for name in settings.per_class:
        if name not in runner.classes:
            raise ConfigError(
                f"config field 'analyzer.detection.per_class.{name}': the detection adapter "
                f"has no class {name!r} (its classes: {', '.join(runner.classes)})"
            )
    runner.operating_point = runner.operating_point.overridden(
        settings.min_score, settings.per_class, settings.nms_iou, settings.class_agnostic_nms
    )


def build_analyzer(
    kind: str,
    codec: Codec,
    teacher_weights: Path | None,
    top_k: int,
    adapter_weights: Path | None = None,
    detector_weights: Path | None = None,
    detector_adapter_weights: Path | None = None,
    detection_settings: DetectionSettings | None = None,
) -> FrameAnalyzer:
    """The configured analyzer; without teacher weights: disabled, with one warning.
    ``detection_settings``: overrides of the detection adapter's operating point."""
    if kind == "none":
        return NullAnalyzer()
    if kind == "adapter":
        adapter = Path(adapter_weights or WEIGHTS_DIR / "adapter_cls.pt")
        if not adapter.is_file():
            raise ConfigError(f"config field 'analyzer.adapter_weights': no file {adapter}")
        teacher: Path | None = None  # a torchvision adapter file carries its model
        if not is_torchvision_adapter(adapter):
            teacher = Path(teacher_weights or default_teacher_path())
            if not teacher.is_file():
                raise ConfigError(f"config field 'analyzer.teacher_weights': no file {teacher}")
        detection = _detection_files(detector_weights, detector_adapter_weights)
        analyzer = LatentAdapterAnalyzer.from_files(
            adapter, teacher, codec.device, top_k, detection
        )
        if analyzer.detector is not None and detection_settings is not None:
            apply_detection_settings(analyzer.detector, detection_settings)
        boxes_for = analyzer.detector.codec_fingerprint if analyzer.detector else None
        if boxes_for and detection and boxes_for != codec.fingerprint:
            log.warning(
                "detection adapter %s was trained for codec %s, not the loaded codec "
                "%s: retrain it (polc train adapter --task det)",
                detection[0],
                boxes_for[:12],
                codec.fingerprint[:12],
            )
        trained_for = analyzer.runner.codec_fingerprint
        if trained_for and trained_for != codec.fingerprint:
            raise ConfigError(
                f"config field 'analyzer.adapter_weights': {adapter} was trained on the "
                f"latents of codec {trained_for[:12]}, this server decodes codec "
                f"{codec.fingerprint[:12]}: train an adapter for it (polc train adapter) or "
                "set analyzer.kind to pixel-teacher or none"
            )
        return analyzer
    if teacher_weights is not None and not Path(teacher_weights).is_file():
        raise ConfigError(f"config field 'analyzer.teacher_weights': no file {teacher_weights}")
    path = teacher_weights or default_teacher_path()
    if not Path(path).is_file():
        log.warning(
            "no teacher weights at %s: the analyzer is disabled and frame results carry no classes",
            path,
        )
        return NullAnalyzer()
    return PixelTeacherAnalyzer.from_file(codec, Path(path), top_k)
