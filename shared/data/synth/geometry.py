"""Street layout and the pinhole camera that looks across the street.

World frame (metres): ``X`` runs along the street (image right), ``depth`` is the distance
from the camera measured across the street, the ground is flat. The camera is mounted at
height ``cam_height`` with a horizontal optical axis shifted so that the horizon sits at
image row ``horizon`` (which may be above the image when the camera looks down).

For a point on the ground at depth ``d`` the image row is ``horizon + f * cam_height / d``
and one metre spans ``f / d`` pixels, so farther lanes are higher up and smaller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StreetCamera:
    """Pinhole camera looking perpendicularly across the street."""

    focal: float  #: focal length in pixels
    cam_height: float  #: metres above the ground
    horizon: float  #: image row of the horizon (may be negative)
    cx: float  #: image column of the principal point
    x0: float  #: world X (metres) seen at column ``cx``

    def scale(self, depth: float) -> float:
        """Pixels per metre at ``depth``."""
        return self.focal / depth

    def ground_row(self, depth: float) -> float:
        """Image row where the ground at ``depth`` is seen."""
        return self.horizon + self.focal * self.cam_height / depth

    def depth_of_row(self, row: np.ndarray | float) -> np.ndarray | float:
        """Depth of the ground seen at ``row`` (inf at or above the horizon)."""
        dv = np.maximum(np.asarray(row, dtype=np.float64) - self.horizon, 1e-6)
        return self.focal * self.cam_height / dv

    def column(self, x_world: float, depth: float) -> float:
        """Image column of world position ``x_world`` at ``depth``."""
        return self.cx + (x_world - self.x0) * self.focal / depth

    def world_x(self, column: float, depth: float) -> float:
        """World X seen at image ``column`` at ``depth``."""
        return self.x0 + (column - self.cx) * depth / self.focal


@dataclass(frozen=True)
class Lane:
    """A strip of ground parallel to the street where objects move."""

    kind: str  #: "road", "bike" or "sidewalk"
    near: float  #: depth of the near edge (m)
    far: float  #: depth of the far edge (m)
    direction: int  #: +1 = moving to the right, -1 = to the left (0 = both, sidewalks)

    @property
    def center(self) -> float:
        return 0.5 * (self.near + self.far)


@dataclass(frozen=True)
class StreetLayout:
    """Depths of everything along the viewing direction, nearest first."""

    near_walk: tuple[float, float]
    road: tuple[float, float]
    far_walk: tuple[float, float]
    facade: float
    lanes: tuple[Lane, ...] = field(default_factory=tuple)
    lane_edges: tuple[float, ...] = ()  #: depths of lane boundaries inside the road
    centre_edge: float | None = None  #: boundary between opposite directions (yellow line)
    bike_lane: tuple[float, float] | None = None
    has_buildings: bool = True

    def road_lanes(self) -> list[Lane]:
        return [lane for lane in self.lanes if lane.kind == "road"]

    def walk_lanes(self) -> list[Lane]:
        return [lane for lane in self.lanes if lane.kind == "sidewalk"]


def sample_layout(rng: np.random.Generator, near_start: float | None = None) -> StreetLayout:
    """A random street: near sidewalk, 2-4 lanes (+ optional bike lane), far sidewalk, facade."""
    d = float(rng.uniform(5.0, 9.0)) if near_start is None else near_start
    walk_w = float(rng.uniform(2.5, 5.0))
    near_walk = (d, d + walk_w)
    d += walk_w
    road0 = d
    bike: tuple[float, float] | None = None
    lanes: list[Lane] = []
    if rng.random() < 0.35:
        bike = (d, d + 1.6)
        lanes.append(Lane("bike", d, d + 1.6, 1))
        d += 1.6
    n_lanes = int(rng.integers(2, 5))
    two_way = rng.random() < 0.75
    edges: list[float] = []
    centre: float | None = None
    for i in range(n_lanes):
        width = float(rng.uniform(3.0, 3.7))
        if i:
            edges.append(d)
        near_half = i < (n_lanes + 1) // 2
        direction = 1 if (near_half or not two_way) else -1
        if two_way and i == (n_lanes + 1) // 2:
            centre = d
        lanes.append(Lane("road", d, d + width, direction))
        d += width
    road = (road0, d)
    far_w = float(rng.uniform(3.0, 6.0))
    far_walk = (d, d + far_w)
    lanes.insert(0, Lane("sidewalk", near_walk[0] + 0.4, near_walk[1] - 0.4, 0))
    lanes.append(Lane("sidewalk", far_walk[0] + 0.4, far_walk[1] - 0.6, 0))
    if centre is not None and centre in edges:
        edges.remove(centre)
    return StreetLayout(
        near_walk=near_walk,
        road=road,
        far_walk=far_walk,
        facade=far_walk[1],
        lanes=tuple(lanes),
        lane_edges=tuple(edges),
        centre_edge=centre,
        bike_lane=bike,
        has_buildings=bool(rng.random() < 0.85),
    )


def scene_camera(
    rng: np.random.Generator, layout: StreetLayout, width: int, height: int
) -> StreetCamera:
    """A camera whose bottom row sees the near sidewalk/road and whose view covers the street."""
    cam_h = float(rng.uniform(4.0, 11.0))
    horizon = float(rng.uniform(-0.45, 0.25)) * height
    # depth seen by the bottom row: somewhere on the near sidewalk or just into the road
    d_bottom = float(rng.uniform(layout.near_walk[0] - 1.0, layout.road[0] + 1.0))
    focal = (height - horizon) * d_bottom / cam_h
    # keep the facade base in the upper part of the image (the road must dominate)
    facade_row = horizon + focal * cam_h / layout.facade
    if facade_row > 0.55 * height:
        horizon -= facade_row - 0.55 * height
        focal = (height - horizon) * d_bottom / cam_h
    x0 = float(rng.uniform(-500.0, 500.0))
    return StreetCamera(focal=focal, cam_height=cam_h, horizon=horizon, cx=width / 2.0, x0=x0)
