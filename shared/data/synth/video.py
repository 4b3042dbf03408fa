"""Temporally coherent traffic-camera video: fixed camera, objects moving along lanes.

The camera, look and backdrop are fixed per seed (the backdrop is rendered once). Each
lane (and each direction of a sidewalk) is a *stream* that spawns objects outside the view
at random gaps; vehicles in one lane share a speed so they never run into each other.
Streams are advanced in fixed chunks of time, so frame ``t`` (and every track id) is the
same however many frames are rendered and in whatever order or process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .backdrop import render_backdrop
from .catalogue import sample_spec
from .classes import SCENE_WEIGHTS, VEHICLES, category_id
from .compose import Canvas, keep_annotation
from .geometry import Lane, sample_layout, scene_camera
from .lighting import apply_look, sample_look
from .placement import Pose
from .scene import TAG_VIDEO, Item, paste_items, place_props
from .sensor import apply_sensor, sample_sensor
from .spec import Spec

FPS = 10.0
CHUNK_S = 8.0  #: streams are advanced in chunks of this many seconds
WARMUP_S = 40.0  #: spawning starts this long before frame 0 so the street is not empty


@dataclass
class Track:
    """One object crossing the view at (nearly) constant speed."""

    track_id: int
    spec: Spec
    depth: float
    direction: int  #: +1 moves right, -1 moves left
    speed: float  #: m/s
    t0: float  #: time (s) at which the object is at ``x_start``
    x_start: float
    x_end: float
    angle: float
    xscale: float
    wobble: tuple[float, float, float]  #: amplitude (m), angular frequency, phase

    @property
    def t1(self) -> float:
        return self.t0 + abs(self.x_end - self.x_start) / self.speed

    def x_at(self, t: float) -> float:
        amp, om, ph = self.wobble
        dt = t - self.t0
        return self.x_start + self.direction * self.speed * dt + amp * math.sin(om * dt + ph)


@dataclass
class _Stream:
    """Spawns objects into one lane moving in one direction."""

    lane: Lane
    direction: int
    rng: np.random.Generator
    speed: float  #: lane speed (vehicles) or 0 for individual speeds
    mean_gap: float  #: metres
    next_t: float  #: spawn time (s) of the next object
    x_range: tuple[float, float] = (0.0, 0.0)  #: world X visible at the lane centre


def _stream_class(rng: np.random.Generator, lane: Lane) -> str:
    if lane.kind == "road":
        names = sorted(VEHICLES | {"motorcycle"})
    elif lane.kind == "bike":
        return "bicycle"
    else:
        return "person" if rng.random() < 0.85 else "bicycle"
    w = np.array([SCENE_WEIGHTS[n] for n in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


class VideoWorld:
    """Deterministic street video for one ``seed``; frames render independently."""

    def __init__(self, seed: int, size: tuple[int, int] = (512, 288)) -> None:
        self.seed, self.size = seed, size
        width, height = size
        rng = np.random.default_rng([seed, TAG_VIDEO])
        self.look = sample_look(rng)
        self.layout = sample_layout(rng)
        self.cam = scene_camera(rng, self.layout, width, height)
        self.backdrop = render_backdrop(self.cam, self.layout, width, height, rng, self.look)
        self.props = place_props(rng, self.cam, self.layout, width)
        self.sensor = sample_sensor(rng, jpeg_p=0.0)
        self.tracks: list[Track] = []
        self.streams: list[_Stream] = []
        k = 0
        for lane in self.layout.lanes:
            dirs = [lane.direction] if lane.direction else [1, -1]
            for d in dirs:
                srng = np.random.default_rng([seed, TAG_VIDEO, 1000 + k])
                k += 1
                if lane.kind == "road":
                    speed, gap = float(srng.uniform(5.0, 11.0)), float(srng.uniform(8.0, 45.0))
                elif lane.kind == "bike":
                    speed, gap = float(srng.uniform(3.5, 6.0)), float(srng.uniform(15.0, 60.0))
                else:
                    speed, gap = 0.0, float(srng.uniform(8.0, 35.0))
                xa = self.cam.world_x(0.0, lane.center)
                xb = self.cam.world_x(float(width), lane.center)
                st = _Stream(lane, d, srng, speed, gap, next_t=-WARMUP_S, x_range=(xa, xb))
                st.next_t += float(srng.uniform(0.0, 3.0))
                self.streams.append(st)
        self.horizon_t = -WARMUP_S

    def _advance(self, t: float) -> None:
        """Spawn every object that starts before ``t`` (in whole chunks, stream by stream)."""
        while self.horizon_t <= t:
            end = self.horizon_t + CHUNK_S
            for st in self.streams:
                while st.next_t < end:
                    self._spawn(st)
            self.horizon_t = end

    def _spawn(self, st: _Stream) -> None:
        rng = st.rng
        name = _stream_class(rng, st.lane)
        spec = sample_spec(rng, name)
        length = spec.length
        if st.speed > 0:  # road / bike lane: everyone keeps the lane speed, no collisions
            speed = st.speed
            depth = st.lane.center + float(rng.uniform(-0.25, 0.25))
        else:
            speed = (
                float(rng.uniform(1.0, 1.8)) if name == "person" else float(rng.uniform(3.0, 5.0))
            )
            depth = float(rng.uniform(st.lane.near, st.lane.far))
        margin = length / 2 + 1.0
        xa, xb = st.x_range
        x_start, x_end = (
            (xa - margin, xb + margin) if st.direction > 0 else (xb + margin, xa - margin)
        )
        self.tracks.append(
            Track(
                track_id=len(self.tracks) + 1,
                spec=spec,
                depth=depth,
                direction=st.direction,
                speed=speed,
                t0=st.next_t,
                x_start=x_start,
                x_end=x_end,
                angle=float(np.clip(rng.normal(0.0, 1.0), -3, 3)),
                xscale=float(rng.uniform(0.85, 1.0)) if name != "person" else 1.0,
                wobble=(
                    float(rng.uniform(0.0, 0.3)),
                    float(rng.uniform(0.6, 2.0)),
                    float(rng.uniform(0, 6.3)),
                ),
            )
        )
        # gap to the next object: its front must stay clear of this one's back
        gap_m = length + 2.5 + float(rng.exponential(st.mean_gap))
        st.next_t += gap_m / speed

    def render_frame(self, index: int) -> tuple[np.ndarray, list[dict]]:
        """Frame ``index`` as (H, W, 3) uint8 and COCO-style annotations with ``track_id``."""
        t = index / FPS
        self._advance(t)
        items: list[Item] = []
        ids: dict[int, Track] = {}
        width = self.size[0]
        for tr in self.tracks:
            if not tr.t0 <= t <= tr.t1:
                continue
            x = tr.x_at(t)
            u = self.cam.column(x, tr.depth)
            half = 0.5 * tr.spec.length * self.cam.scale(tr.depth)
            if u + half < 0 or u - half > width:
                continue
            pose = Pose(
                flip=tr.direction < 0,
                angle=tr.angle,
                xscale=tr.xscale,
                phase=tr.speed * (t - tr.t0),
            )
            items.append(Item(tr.spec, pose, tr.depth, u, obj_id=len(items) + 1))
            ids[len(items)] = tr
        items += self.props
        canvas = Canvas(self.backdrop)
        paste_items(canvas, self.cam, items, self.look.shadow)
        lit = apply_look(canvas.rgb, canvas.depth, canvas.emission, self.look, self.backdrop.lamps)
        noise_rng = np.random.default_rng([self.seed, TAG_VIDEO, 7, index])
        image = apply_sensor(lit, self.look, self.sensor, noise_rng)
        anns = []
        for vis in canvas.visibility():
            if keep_annotation(vis):
                assert vis.bbox is not None
                tr = ids[vis.obj_id]
                anns.append(
                    {
                        "bbox": [int(c) for c in vis.bbox],
                        "category_id": category_id(tr.spec.name),
                        "area": float(vis.visible),
                        "iscrowd": 0,
                        "track_id": tr.track_id,
                    }
                )
        return image, anns


def render_video_frames(
    n_frames: int, seed: int, size: tuple[int, int] = (512, 288)
) -> Iterator[tuple[np.ndarray, list[dict]]]:
    """Render ``n_frames`` consecutive frames in memory (no files): yields (image, anns)."""
    world = VideoWorld(seed, size)
    for i in range(n_frames):
        yield world.render_frame(i)
