"""Search over the detections index and the events table, on both store backends: search
results equal a direct scan of the stored results (filters and pagination), events are
stored / listed / paginated, retention removes index rows and events with their frames, a
store of the previous schema gains the new tables (its results indexed), bad filters are
typed errors naming the field."""

from __future__ import annotations

import random
import sqlite3

import pytest

from polc.cloud.field_checks import InvalidField
from polc.cloud.search.queries import SearchQueries
from polc.cloud.store.interface import FrameRecord
from polc.cloud.store.observations import Event
from polc.cloud.store.sqlite import SQLiteFrameStore

CAMERAS = ("cam-a", "cam-b", "cam-c")
LABELS = ("car", "bus", "person", "bicycle")
T0 = 1_700_000_000_000_000


def _result(rng: random.Random) -> dict | None:
    if rng.random() < 0.15:
        return None  # stored without a result
    detections = []
    for _ in range(rng.randrange(0, 5)):
        x, y = rng.uniform(0, 80), rng.uniform(0, 60)
        detections.append(
            {
                "label": rng.choice(LABELS),
                "score": round(rng.random(), 3),
                "box": [x, y, x + 10, y + 12],
                "class_index": 0,
            }
        )
    return {"analyzer": "adapter", "classes": [], "detections": detections, "analyzed_time_us": 1}


def _stream(store, n: int = 90, seed: int = 7) -> dict[tuple[str, int], FrameRecord]:
    """``n`` frames over three cameras (some capture times shared), half with the result
    stored with the frame and half through the analysis backlog (put_results)."""
    rng = random.Random(seed)
    truth: dict[tuple[str, int], FrameRecord] = {}
    pending = []
    for i in range(n):
        camera = CAMERAS[i % 3]
        seq = i // 3
        result = _result(rng)
        later = i % 2 == 1
        record = FrameRecord(
            camera,
            seq,
            T0 + (i // 2) * 100_000,  # pairs of frames share a capture time
            96,
            80,
            0.5,
            "ab" * 16,
            0,
            result=None if later else result,
            analysis_pending=later,
        )
        assert store.put(record, f"b{i}".encode(), None)
        record.result = result
        truth[(camera, seq)] = record
        if later:
            pending.append((camera, seq, result))
    assert all(store.put_results(pending))
    return truth


def _expected(truth, cameras=(), labels=(), min_score=0.0, min_count=1, start=None, end=None):
    keys = []
    for (camera, seq), r in truth.items():
        if cameras and camera not in cameras:
            continue
        if start is not None and r.capture_time_us < start:
            continue
        if end is not None and r.capture_time_us > end:
            continue
        hits = [
            d
            for d in (r.result or {}).get("detections", [])
            if (not labels or d["label"] in labels) and d["score"] >= min_score
        ]
        if len(hits) >= max(1, min_count):
            keys.append((r.capture_time_us, camera, seq))
    return [(c, s) for _, c, s in sorted(keys)]


def _all_pages(queries: SearchQueries, page_size: int, **filters) -> list[tuple[str, int]]:
    got, token = [], ""
    for _ in range(1000):
        page = queries.search_frames(page_size=page_size, page_token=token, **filters)
        assert len(page.items) <= page_size
        got += [(r.camera_id, r.seq) for r in page.items]
        token = page.next_page_token
        if not token:
            return got
    raise AssertionError("pagination does not end")


FILTERS = [
    {},
    {"classes": ["bus"]},
    {"classes": ["car", "person"], "min_score": 0.5},
    {"camera_ids": ["cam-b"], "min_count": 2},
    {"camera_ids": ["cam-a", "cam-c"], "classes": ["bicycle"], "min_score": 0.2},
    {"start_us": T0 + 1_000_000, "end_us": T0 + 3_000_000, "classes": ["car"]},
    {"min_count": 3, "min_score": 0.1},
]


def test_search_equals_a_scan_of_the_stored_results(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    truth = _stream(store)
    for record in truth.values():  # what is stored is what the scan reads
        assert store.get(record.camera_id, record.seq).result == record.result
    queries = SearchQueries(store)
    for filters in FILTERS:
        expected = _expected(
            truth,
            cameras=filters.get("camera_ids", ()),
            labels=filters.get("classes", ()),
            min_score=filters.get("min_score", 0.0),
            min_count=filters.get("min_count", 1),
            start=filters.get("start_us"),
            end=filters.get("end_us"),
        )
        assert expected, filters  # every filter matches something: not vacuous
        for page_size in (1, 7, 1000):
            assert _all_pages(queries, page_size, **filters) == expected, (filters, page_size)
    # the records come back whole, with their stored results
    page = queries.search_frames(classes=["bus"], page_size=3)
    assert all(any(d["label"] == "bus" for d in r.result["detections"]) for r in page.items)


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"camera_ids": ["bad camera"]}, "camera_ids"),
        ({"classes": [""]}, "classes"),
        ({"classes": ["car\n"]}, "classes"),
        ({"min_score": 1.5}, "min_score"),
        ({"min_score": float("nan")}, "min_score"),
        ({"min_count": -1}, "min_count"),
        ({"page_size": 1001}, "page_size"),
        ({"page_token": "garbage"}, "page_token"),
        ({"start_us": T0, "end_us": T0 - 1}, "end_time"),
    ],
)
def test_bad_search_filters_are_typed_errors(tmp_path, filters, field):
    store = SQLiteFrameStore(tmp_path / "s")
    try:
        with pytest.raises(InvalidField) as err:
            SearchQueries(store).search_frames(**filters)
        assert err.value.field == field and field in str(err.value)
    finally:
        store.close()


def test_a_page_token_of_another_query_is_refused(tmp_path):
    store = SQLiteFrameStore(tmp_path / "s")
    try:
        _stream(store, n=30)
        queries = SearchQueries(store)
        token = queries.search_frames(page_size=1).next_page_token
        assert token
        with pytest.raises(InvalidField, match="page_token"):
            queries.list_events(page_token=token)
        with pytest.raises(InvalidField, match="state"):
            queries.list_events(state="sleeping")
        with pytest.raises(InvalidField, match="id"):
            queries.get_event("../x")
    finally:
        store.close()


def _event(i: int, camera: str, label: str, start_seq: int, end_seq: int, state: str) -> Event:
    return Event(
        id=f"{i:032x}",
        camera_id=camera,
        label=label,
        state=state,
        start_time_us=T0 + start_seq * 100_000,
        end_time_us=T0 + end_seq * 100_000,
        start_seq=start_seq,
        end_seq=end_seq,
        best_seq=start_seq,
        best_score=0.1 * (i % 10),
        best_box=(1.0, 2.0, 3.0, 4.0),
        path=[(s, 1.0, 2.0, 3.0, 4.0) for s in range(start_seq, end_seq + 1)],
    )


def test_events_are_stored_listed_and_paginated(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    events = [
        _event(i, CAMERAS[i % 3], LABELS[i % 4], i, i + 3, "active" if i % 5 else "ended")
        for i in range(23)
    ]
    store.put_events(events)
    store.put_events([_event(4, CAMERAS[1], LABELS[0], 4, 9, "ended")])  # replaced by id
    queries = SearchQueries(store)
    got = queries.get_event(f"{4:032x}")
    assert got is not None and (got.end_seq, got.state, len(got.path)) == (9, "ended", 6)
    assert got.best_box == (1.0, 2.0, 3.0, 4.0) and got.path[0] == (4, 1.0, 2.0, 3.0, 4.0)
    assert queries.get_event("f" * 32) is None

    def listed(page_size: int, **filters) -> list[str]:
        ids, token = [], ""
        while True:
            page = queries.list_events(page_size=page_size, page_token=token, **filters)
            ids += [e.id for e in page.items]
            token = page.next_page_token
            if not token:
                return ids

    current = {e.id: e for e in events}
    current[f"{4:032x}"] = _event(4, CAMERAS[1], LABELS[0], 4, 9, "ended")
    for filters in (
        {},
        {"camera_ids": ["cam-a"]},
        {"classes": ["bus", "car"], "state": "active"},
        {"min_score": 0.5},
        {"start_us": T0 + 1_000_000, "end_us": T0 + 1_500_000},
    ):
        expected = [
            e.id
            for e in sorted(current.values(), key=lambda e: (e.start_time_us, e.id))
            if (not filters.get("camera_ids") or e.camera_id in filters["camera_ids"])
            and (not filters.get("classes") or e.label in filters["classes"])
            and (filters.get("state") is None or e.state == filters["state"])
            and e.best_score >= filters.get("min_score", 0.0)
            and ("start_us" not in filters or e.end_time_us >= filters["start_us"])
            and ("end_us" not in filters or e.start_time_us <= filters["end_us"])
        ]
        assert expected, filters
        for page_size in (1, 4, 100):
            assert listed(page_size, **filters) == expected, (filters, page_size)


def test_retention_removes_index_rows_and_events_with_their_frames(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    truth = _stream(store, n=30)
    store.put_events([_event(1, "cam-a", "car", 0, 2, "ended")])  # cam-a frames 0..2
    store.put_events([_event(2, "cam-a", "car", 5, 9, "active")])
    queries = SearchQueries(store)
    before = _all_pages(queries, 100)
    assert before == _expected(truth)
    assert store.delete_frames("cam-a", [0, 1]) == 2
    assert store.drop_orphan_events() == 0  # frame 2 of event 1 is left
    assert store.delete_frames("cam-a", [2]) == 1
    assert _all_pages(queries, 100) == [k for k in before if k[0] != "cam-a" or k[1] > 2]
    assert store.drop_orphan_events() == 1
    assert queries.get_event(f"{1:032x}") is None and queries.get_event(f"{2:032x}")
    # retention by age: everything is older than 0 s
    assert store.enforce_retention(0.0, None) == 27
    assert _all_pages(queries, 100) == []
    assert queries.list_events().items == []


def _downgrade(store, path) -> None:
    """Make ``store`` (closed afterwards) look like one the previous release created: no
    detections index, no events, the previous schema version."""
    if isinstance(store, SQLiteFrameStore):
        store.close()
        db = sqlite3.connect(path / "index.sqlite3")
        db.executescript(
            "DROP TABLE detections; DROP TABLE events; "
            "UPDATE meta SET value = '3' WHERE key = 'schema_version';"
        )
        db.close()
    else:
        store._query("DROP TABLE detections, events")
        store._query("DELETE FROM schema_migrations WHERE version = 3")
        store.close()


def test_a_store_of_the_previous_schema_gains_the_index_with_its_results(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    truth = _stream(store, n=45, seed=3)
    _downgrade(store, tmp_path / "s")
    store = make_store(tmp_path / "s")  # the new code opens it: migrated, results indexed
    queries = SearchQueries(store)
    for filters in FILTERS[:4]:
        labels = filters.get("classes", ())
        assert _all_pages(queries, 10, **filters) == _expected(
            truth,
            cameras=filters.get("camera_ids", ()),
            labels=labels,
            min_score=filters.get("min_score", 0.0),
            min_count=filters.get("min_count", 1),
        )
    store.put_events([_event(1, "cam-a", "car", 0, 2, "active")])
    assert queries.list_events().items[0].state == "active"
