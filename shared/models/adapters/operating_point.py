"""The detection operating point: which of a detector's boxes an operator is shown.

The FCOS head returns every box scoring ≥ 0.05 after its own per-class NMS (IoU 0.6). The
operating point then keeps, per frame:

    boxes ─NMS at nms_iou (per class, or across classes)─► score ≥ min_score[class] ─► shown

NMS comes first, so the boxes a class keeps depend on its threshold alone: that is what lets
``polc bench operating-point`` choose each class's threshold from one precision-recall table
per class. Stored as the optional ``operating_point`` entry of a detection adapter file
(:meth:`OperatingPoint.as_dict`), with the command that chose it; files without one get
:data:`LEGACY_OPERATING_POINT` (every class at 0.3, the model's NMS only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from polc.shared.errors import ModelError
from polc.shared.models.weights_file import FORMATS, WeightsKind, load_weights, save_weights

#: the fixed threshold the cloud applied before operating points were chosen
LEGACY_MIN_SCORE = 0.3

#: the weights-file kinds that may carry an operating point
DETECTION_ADAPTER_KINDS: tuple[WeightsKind, ...] = ("adapter_det", "tv_adapter_det")


def _check_fraction(value: Any, name: str, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    low_ok = value > 0 if open_low else value >= 0
    if not (low_ok and value <= 1):
        raise ValueError(f"{name} must be in {'(0' if open_low else '[0'}, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class OperatingPoint:
    """Per-class score thresholds (classes not listed: ``min_score``) and the extra NMS."""

    min_score: float = LEGACY_MIN_SCORE
    per_class: Mapping[str, float] = field(default_factory=dict)
    nms_iou: float | None = None  #: None: the model's own NMS only
    class_agnostic_nms: bool = False  #: NMS across classes (a box suppresses any class)
    chosen_by: str = ""  #: the command (and data) that chose it; "" = not chosen

    def __post_init__(self) -> None:
        _check_fraction(self.min_score, "min_score")
        for name, value in self.per_class.items():
            _check_fraction(value, f"per_class.{name}")
        if self.nms_iou is not None:
            _check_fraction(self.nms_iou, "nms_iou", open_low=True)

    def threshold(self, label: str) -> float:
        return float(self.per_class.get(label, self.min_score))

    def thresholds(self, classes: list[str]) -> Tensor:
        """One threshold per class index of ``classes``."""
        return torch.tensor([self.threshold(c) for c in classes])

    def overridden(
        self,
        min_score: float | None = None,
        per_class: Mapping[str, float] | None = None,
        nms_iou: float | None = None,
        class_agnostic_nms: bool | None = None,
    ) -> OperatingPoint:
        """This point with a configuration's overrides: ``min_score`` for every class, then
        ``per_class`` for the classes it names; NMS settings that are not None replace."""
        thresholds = {} if min_score is not None else dict(self.per_class)
        return replace(
            self,
            min_score=self.min_score if min_score is None else min_score,
            per_class={**thresholds, **(per_class or {})},
            nms_iou=self.nms_iou if nms_iou is None else nms_iou,
            class_agnostic_nms=(
                self.class_agnostic_nms if class_agnostic_nms is None else class_agnostic_nms
            ),
        )

    def apply(self, det: dict[str, Tensor], classes: list[str]) -> dict[str, Tensor]:
        """The boxes of one frame's detection dict (``boxes``, ``scores``, ``labels``) that
        the operating point keeps, best first."""
        boxes, scores, labels = det["boxes"], det["scores"], det["labels"]
        if self.nms_iou is not None and len(scores):
            groups = torch.zeros_like(labels) if self.class_agnostic_nms else labels
            keep = batched_nms(boxes.float(), scores.float(), groups, self.nms_iou)
        else:
            keep = torch.argsort(scores, descending=True, stable=True)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        shown = scores >= self.thresholds(classes).to(scores.device)[labels]
        return {"boxes": boxes[shown], "scores": scores[shown], "labels": labels[shown]}

    def as_dict(self) -> dict[str, Any]:
        """The file entry (plain containers only: the weights file is read weights_only)."""
        return {
            "min_score": self.min_score,
            "per_class": dict(self.per_class),
            "nms_iou": self.nms_iou,
            "class_agnostic_nms": self.class_agnostic_nms,
            "chosen_by": self.chosen_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperatingPoint:
        """ValueError naming the entry when the stored point is malformed."""
        unknown = set(data) - {
            "min_score",
            "per_class",
            "nms_iou",
            "class_agnostic_nms",
            "chosen_by",
        }
        if unknown:
            raise ValueError(f"unknown operating point entries {sorted(unknown)}")
        per_class = data.get("per_class", {})
        if not isinstance(per_class, Mapping):
            raise ValueError(f"per_class must be a mapping, got {per_class!r}")
        return cls(
            data.get("min_score", LEGACY_MIN_SCORE),
            {str(k): v for k, v in per_class.items()},
            data.get("nms_iou"),
            bool(data.get("class_agnostic_nms", False)),
            str(data.get("chosen_by", "")),
        )


#: files without an operating point: every class at 0.3, the model's own NMS
LEGACY_OPERATING_POINT = OperatingPoint()


def stored_operating_point(state: Mapping[str, Any], path: Path) -> OperatingPoint | None:
    """The ``operating_point`` entry of a loaded detection adapter file, None if absent;
    ModelError naming the file when it is malformed."""
    entry = state.get("operating_point")
    if entry is None:
        return None
    try:
        if not isinstance(entry, Mapping):
            raise ValueError(f"not a mapping: {entry!r}")
        return OperatingPoint.from_dict(entry)
    except ValueError as exc:
        raise ModelError(f"{path}: bad operating_point entry ({exc})") from None


def store_operating_point(path: Path, point: OperatingPoint) -> None:
    """Write ``point`` into the detection adapter file at ``path`` (a SmallResNet or a
    torchvision adapter), keeping its kind, format and every other entry."""
    state = load_weights(path, DETECTION_ADAPTER_KINDS)
    kind = next(k for k in DETECTION_ADAPTER_KINDS if FORMATS[k] == state["format"])
    save_weights(path, kind, {**state, "operating_point": point.as_dict()})
