"""Where objects go (which lane, at what depth) and how they are posed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classes import CLASSES, SCENE_WEIGHTS, VEHICLES
from .geometry import Lane, StreetLayout


@dataclass(frozen=True)
class Pose:
    """Pose of one object instance."""

    flip: bool  #: facing left
    angle: float  #: in-plane rotation, degrees
    xscale: float  #: horizontal foreshortening (yaw)
    phase: float  #: distance travelled (m): wheel rotation, gait


def sample_class(rng: np.random.Generator) -> str:
    """A class name drawn with :data:`SCENE_WEIGHTS`."""
    w = np.array([SCENE_WEIGHTS[c] for c in CLASSES])
    return CLASSES[int(rng.choice(len(CLASSES), p=w / w.sum()))]


def choose_lane(rng: np.random.Generator, name: str, layout: StreetLayout) -> tuple[Lane, float]:
    """A lane suited to class ``name`` and a depth inside it."""
    roads = layout.road_lanes()
    walks = layout.walk_lanes()
    bikes = [lane for lane in layout.lanes if lane.kind == "bike"]
    if name in VEHICLES or name == "motorcycle":
        lane = roads[int(rng.integers(len(roads)))]
        jitter = 0.15 if name in ("bus", "truck") else 0.35
    elif name == "bicycle":
        if bikes and rng.random() < 0.7:
            lane = bikes[0]
        elif rng.random() < 0.6:
            lane = roads[0] if rng.random() < 0.5 else roads[-1]
        else:
            lane = walks[int(rng.integers(len(walks)))]
        jitter = 0.3
    else:  # person: sidewalks, sometimes crossing the road
        if rng.random() < 0.88:
            lane = walks[int(rng.integers(len(walks)))]
            return lane, float(rng.uniform(lane.near, lane.far))
        lane = roads[int(rng.integers(len(roads)))]
        jitter = 1.2
    half = max(0.0, 0.5 * (lane.far - lane.near) - 0.2)
    return lane, lane.center + float(rng.uniform(-1, 1)) * min(jitter, half)


def sample_pose(rng: np.random.Generator, name: str, lane: Lane | None) -> Pose:
    """Facing follows the lane direction for vehicles; small rotation and yaw for all."""
    if lane is not None and lane.direction != 0 and name != "person":
        flip = lane.direction < 0
        if lane.kind == "bike" and rng.random() < 0.3:
            flip = not flip
    else:
        flip = bool(rng.random() < 0.5)
    angle = float(rng.normal(0.0, 2.0))
    angle = float(np.clip(angle, -6.0, 6.0))
    xscale = float(rng.uniform(0.78, 1.0)) if name != "person" else float(rng.uniform(0.9, 1.1))
    return Pose(flip=flip, angle=angle, xscale=xscale, phase=float(rng.uniform(0.0, 20.0)))
