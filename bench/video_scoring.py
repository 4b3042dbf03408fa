"""Held-out fixed-camera clips and their detection score (mAP@0.5) for ``polc bench video``.

The clips are rendered in memory by the synthetic video world; their COCO ground truth is one
index over every frame of every clip (image id = clip · frames + frame + 1), so a method's
mAP pools all clips, with the per-clip mAP@0.5 kept too. Two ways to detect, as in
``polc bench tasks``: the pixel detector on (decoded) frames, and the detection adapter on ŷ,
boxes clipped to the frame (no score threshold: mAP ranks them all).
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass

import numpy as np
import torch
from pycocotools.coco import COCO

from polc.cloud.latent_runners import DetectionRunner
from polc.shared.data.synth.classes import coco_categories
from polc.shared.data.synth.video import render_video_frames
from polc.shared.metrics.coco import coco_map
from polc.shared.models.adapters.detection import keep_visible
from polc.shared.models.vision.detector_file import load_detector
from polc.shared.models.weights_file import WEIGHTS_DIR, default_detector_path

BATCH = 8  #: frames per detector / adapter call

Detections = dict[int, dict[str, torch.Tensor]]


@dataclass
class Clip:
    seed: int
    frames: np.ndarray  #: (N, H, W, 3) uint8
    annotations: list[list[dict]]  #: COCO-style boxes per frame (``category_id``, ``track_id``)


@dataclass
class Score:
    map50: float
    map: float  #: mAP@[.5:.95]
    map50_per_clip: list[float]
    detect_s: float  #: wall time of the detector / adapter over every frame

    def as_dict(self, frames: int) -> dict:
        return {
            "map50": self.map50,
            "map": self.map,
            "map50_per_clip": self.map50_per_clip,
            "detect_ms": 1e3 * self.detect_s / frames,
        }


def render_clips(seeds: list[int], frames: int, size: tuple[int, int]) -> list[Clip]:
    clips = []
    for seed in seeds:
        rendered = list(render_video_frames(frames, seed, size))
        clips.append(
            Clip(seed, np.stack([im for im, _ in rendered]), [anns for _, anns in rendered])
        )
    return clips


def ground_truth(clips: list[Clip]) -> tuple[COCO, list[list[int]]]:
    """(COCO index over every frame, image ids per clip)."""
    height, width = clips[0].frames.shape[1:3]
    images: list[dict] = []
    annotations: list[dict] = []
    ids: list[list[int]] = []
    for c, clip in enumerate(clips):
        clip_ids = []
        for i, anns in enumerate(clip.annotations):
            image_id = c * len(clip.annotations) + i + 1
            clip_ids.append(image_id)
            images.append(
                {
                    "id": image_id,
                    "width": width,
                    "height": height,
                    "file_name": f"seed{clip.seed}/{i:06d}.png",
                    "frame_index": i,
                }
            )
            annotations += [
                {**a, "id": len(annotations) + k + 1, "image_id": image_id}
                for k, a in enumerate(anns)
            ]
        ids.append(clip_ids)
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": coco_categories()}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, ids


def detection_weights_missing() -> str | None:
    adapter = WEIGHTS_DIR / "adapter_det.pt"
    for path in (adapter, default_detector_path()):
        if not path.is_file():
            return f"no detection weights ({path})"
    return None


class DetectionScorer:
    """mAP@0.5 of the pixel detector on frames, or of the detection adapter on ŷ."""

    def __init__(self, clips: list[Clip]) -> None:
        self.coco, self.ids = ground_truth(clips)
        self.height, self.width = clips[0].frames.shape[1:3]
        self.frames = sum(len(c.frames) for c in clips)
        self.detector = load_detector(default_detector_path())
        self.adapter = DetectionRunner.load(
            WEIGHTS_DIR / "adapter_det.pt", default_detector_path()
        ).model

    @torch.no_grad()
    def pixels(self, clips_frames: list[np.ndarray]) -> Score:
        """Pixel detector on (N, H, W, 3) uint8 frames per clip."""
        found: Detections = {}
        t0 = time.perf_counter()
        for frames, ids in zip(clips_frames, self.ids, strict=True):
            for i in range(0, len(frames), BATCH):
                x = torch.from_numpy(np.ascontiguousarray(frames[i : i + BATCH]))
                dets = self.detector(x.permute(0, 3, 1, 2).float() / 255.0)
                found.update(zip(ids[i : i + BATCH], dets, strict=True))
        return self._score(found, time.perf_counter() - t0)

    @torch.no_grad()
    def latents(self, clips_y_hats: list[list[torch.Tensor]]) -> Score:
        """Detection adapter on decoded ŷ ((1, M, h, w) per frame) per clip."""
        found: Detections = {}
        t0 = time.perf_counter()
        for y_hats, ids in zip(clips_y_hats, self.ids, strict=True):
            for i in range(0, len(y_hats), BATCH):
                dets = self.adapter(torch.cat(y_hats[i : i + BATCH]))
                found.update(
                    (k, keep_visible(d, self.width, self.height))
                    for k, d in zip(ids[i : i + BATCH], dets, strict=True)
                )
        return self._score(found, time.perf_counter() - t0)

    def _score(self, found: Detections, detect_s: float) -> Score:
        pooled = coco_map(self.coco, found)
        per_clip = [coco_map(self.coco, {k: found[k] for k in ids})["map50"] for ids in self.ids]
        return Score(pooled["map50"], pooled["map"], per_clip, detect_s)
