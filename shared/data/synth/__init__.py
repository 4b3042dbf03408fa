"""Procedural, license-free traffic / surveillance-camera world.

Public API: :data:`CLASSES`, :func:`render_cls_crop`, :func:`render_scene`,
:func:`render_video_frames`, :func:`write_dataset`, :func:`ensure_synthetic`.

Module map (one concept each): ``classes`` (the 9 classes), ``geometry`` (street layout and
camera), ``palette`` (colours), ``spec`` (an object's sampled appearance), ``pen`` (drawing in
metres), ``cars`` / ``large_vehicles`` / ``twowheelers`` / ``people`` / ``props`` (what is drawn),
``catalogue`` (class name -> sampler / drawer), ``sprites`` (supersampled sprite renderer),
``backdrop`` (static background),
``compose`` (painter's algorithm + occlusion-aware boxes), ``lighting`` (day / dusk / night
/ fog), ``sensor`` (noise, blur, JPEG), ``placement`` (lanes and poses), ``scene`` (crops and
scenes), ``video`` (moving objects), ``writer`` (files, workers, cache).
"""

from .classes import CLASSES
from .scene import render_cls_crop, render_scene
from .video import VideoWorld, render_video_frames
from .writer import GENERATOR_VERSION, cache_root, ensure_synthetic, write_dataset

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "VideoWorld",
    "cache_root",
    "ensure_synthetic",
    "render_cls_crop",
    "render_scene",
    "render_video_frames",
    "write_dataset",
]
