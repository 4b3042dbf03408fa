"""`polc bench events`: its metrics against known tracks (a clip's ground truth fed as
perfect detections gives MOTA 1, IDF1 1 and full coverage; shuffled track ids lower IDF1;
events of the wrong class cover nothing) and a tiny run through the whole path (1 clip,
12 frames, 256×144): the JSON it writes and the plot."""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from polc.bench import cli as bench_cli
from polc.bench import events
from polc.bench.event_metrics import TrackedBox, class_name, ground_truth_tracks, xyxy
from polc.bench.events_clips import TrackedClip, track_clip
from polc.bench.video_scoring import detection_weights_missing
from polc.cloud.config import EventSettings
from polc.cloud.store.observations import Event
from polc.shared.data.synth.video import render_video_frames
from polc.shared.errors import ConfigError
from polc.shared.results import Detection

FPS = 10.0


@pytest.fixture(scope="module")
def clip() -> list[list[dict]]:
    """Ground truth of 30 frames of a held-out clip (at least two tracks visible ≥ 1 s)."""
    annotations = [anns for _, anns in render_video_frames(30, 20, (512, 288))]
    assert sum(len(t.boxes) >= FPS for t in ground_truth_tracks(annotations)) >= 2
    return annotations


def _oracle(annotations: list[list[dict]]) -> TrackedClip:
    """What a perfect tracker would give: one event per ground-truth track, its boxes."""
    tracked = [
        [TrackedBox(f"t{a['track_id']}", class_name(a), xyxy(a)) for a in anns]
        for anns in annotations
    ]
    found = [
        Event(
            id=f"t{t.track_id}",
            camera_id="bench",
            label=t.label,
            state="ended",
            start_time_us=0,
            end_time_us=0,
            start_seq=t.first,
            end_seq=t.last,
            best_seq=t.first,
            best_score=1.0,
            best_box=t.boxes[t.first],
            path=[(f, *b) for f, b in sorted(t.boxes.items())],
        )
        for t in ground_truth_tracks(annotations)
    ]
    return TrackedClip(found, tracked)


def _eligible(annotations: list[list[dict]]) -> int:
    return sum(len(t.boxes) >= FPS for t in ground_truth_tracks(annotations))


def test_the_ground_truth_as_tracks_gives_mota_1_idf1_1_and_full_coverage(clip) -> None:
    result = events.evaluate([("c", clip, _oracle(clip))], FPS)
    mot = result["mot"]["c"]
    assert mot["mota"] == 1.0 and mot["idf1"] == 1.0 and mot["num_switches"] == 0
    assert mot["precision"] == 1.0 and mot["recall"] == 1.0
    assert mot["num_objects"] == sum(len(anns) for anns in clip)
    n = _eligible(clip)
    assert result["coverage"]["overall"] == {"tracks": n, "covered": n, "fraction": 1.0}
    assert result["events"]["c"] == len(ground_truth_tracks(clip))


def test_the_cloud_tracker_on_perfect_detections_covers_every_track(clip) -> None:
    detections = [
        [Detection(class_name(a), 0.9, xyxy(a), a["category_id"] - 1) for a in anns]
        for anns in clip
    ]
    result = events.evaluate([("c", clip, track_clip(detections, FPS, EventSettings()))], FPS)
    n = _eligible(clip)
    assert result["coverage"]["overall"] == {"tracks": n, "covered": n, "fraction": 1.0}
    mot = result["mot"]["c"]
    # a candidate's first frame is not yet an event (min_hits): recall just below 1
    assert mot["precision"] == 1.0 and mot["recall"] > 0.9 and mot["mota"] > 0.9


def test_shuffled_track_ids_lower_idf1(clip) -> None:
    oracle = _oracle(clip)
    ids = sorted({b.event_id for boxes in oracle.tracked for b in boxes})
    rng = random.Random(0)
    shuffled = [[replace(b, event_id=rng.choice(ids)) for b in boxes] for boxes in oracle.tracked]
    shuffled = [  # an id at most once per frame, as a tracker gives
        [b for i, b in enumerate(boxes) if b.event_id not in {c.event_id for c in boxes[:i]}]
        for boxes in shuffled
    ]
    mot = events.evaluate([("c", clip, TrackedClip(oracle.events, shuffled))], FPS)["mot"]["c"]
    assert mot["idf1"] < 0.9 and mot["num_switches"] > 0 and mot["mota"] < 1.0


def test_events_of_another_class_or_place_cover_nothing(clip) -> None:
    oracle = _oracle(clip)
    relabelled = [replace(e, label="bus" if e.label != "bus" else "car") for e in oracle.events]
    moved = [
        replace(e, path=[(s, x0 + 200, y0, x1 + 200, y1) for s, x0, y0, x1, y1 in e.path])
        for e in oracle.events
    ]
    for wrong in (relabelled, moved):
        result = events.evaluate([("c", clip, TrackedClip(wrong, oracle.tracked))], FPS)
        assert result["coverage"]["overall"]["covered"] == 0
    wrong_boxes = [[replace(b, label="bus") for b in boxes] for boxes in oracle.tracked]
    mot = events.evaluate([("c", clip, TrackedClip(oracle.events, wrong_boxes))], FPS)["mot"]
    assert mot["c"]["recall"] < 0.5  # another class never matches (buses are rare)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_cli.register(parser)
    return parser.parse_args(["events", *argv])


@pytest.mark.skipif(
    detection_weights_missing() is not None, reason=str(detection_weights_missing())
)
def test_tiny_run_writes_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "events.json"
    args = _parse(["--json", str(out), "--seeds", "20", "--frames", "12", "--size", "256x144"])
    assert args.handler(args) == 0
    result = json.loads(out.read_text())
    assert Path(result["plot"]).is_file()
    assert result["setup"]["gop"] == events.GOP and result["setup"]["seeds"] == [20]
    assert result["event_settings"] == EventSettings().model_dump()
    assert set(result["mot"]) == {"seed20", "OVERALL"}
    annotations = [anns for _, anns in render_video_frames(12, 20, (256, 144))]
    assert result["mot"]["seed20"]["num_objects"] == sum(len(a) for a in annotations)
    tracks = ground_truth_tracks(annotations)
    assert result["coverage"]["overall"]["tracks"] == _eligible(annotations)
    assert len(result["coverage"]["tracks"]) == len(tracks)
    assert result["events"]["seed20"] == len(result["event_list"])


def test_training_seeds_are_refused() -> None:
    with pytest.raises(ConfigError, match="seeds"):
        events.setup_from(_parse(["--seeds", "20,1000"]))
