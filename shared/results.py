"""What a machine task found in one frame: ranked classes and boxes.

One set of result types for the latent runners, the cloud analyzers and the proto mapping
(``polc.v1.ClassScore`` / ``polc.v1.Detection`` carry the same fields).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassScore:
    label: str
    score: float
    class_index: int


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max (original pixels)
    class_index: int
