"""Spec: the sampled appearance of one object (a video track keeps its spec).

Every class module (``cars``, ``large_vehicles``, ``people``, ``twowheelers``, ``props``) provides
``sample(rng, name) -> Spec`` and ``draw(pen, spec, phase)``; ``catalogue`` maps each class
name onto its pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Spec:
    """Appearance of one object, sampled once (a video track keeps its spec)."""

    name: str  #: class name
    xmin: float  #: leftmost extent (m), object faces +x
    xmax: float  #: rightmost extent (m)
    height: float  #: top extent above the ground (m)
    anchor_x: float  #: x (m) of the ground contact centre
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> float:
        return self.xmax - self.xmin
