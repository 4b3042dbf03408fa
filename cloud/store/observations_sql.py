"""The detections index and the events table on SQL (both backends share this; each
creates the tables in its own schema / migration, see :data:`SQLITE_SCHEMA` and the
PostgreSQL store's migration 3).

A frame's detection rows are inserted in the same transaction as its results
(:func:`detection_inserts`, used by ``put_many`` and ``put_results``), carry the frame's
``id`` and go with it (``ON DELETE CASCADE``). Events are upserted by id."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from polc.cloud.store.interface import FrameRecord
from polc.cloud.store.observations import Event, EventSearch, FrameSearch, ObservationStore

#: SQLite DDL (schema version 4); PostgreSQL: the same tables in migration 3
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS detections (
    frame_id INTEGER NOT NULL REFERENCES frames (id) ON DELETE CASCADE,
    camera_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    capture_time_us INTEGER NOT NULL,
    label TEXT NOT NULL,
    score REAL NOT NULL,
    x_min REAL NOT NULL, y_min REAL NOT NULL, x_max REAL NOT NULL, y_max REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS detections_frame ON detections (frame_id);
CREATE INDEX IF NOT EXISTS detections_time ON detections (capture_time_us);
CREATE INDEX IF NOT EXISTS detections_label_time ON detections (label, capture_time_us);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    label TEXT NOT NULL,
    state TEXT NOT NULL,
    start_time_us INTEGER NOT NULL,
    end_time_us INTEGER NOT NULL,
    start_seq INTEGER NOT NULL,
    end_seq INTEGER NOT NULL,
    best_seq INTEGER NOT NULL,
    best_score REAL NOT NULL,
    best_box TEXT NOT NULL,
    path_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_start ON events (start_time_us, id);
CREATE INDEX IF NOT EXISTS events_camera ON events (camera_id, end_seq);
"""
#: the index rows of the frames stored before the index existed (SQLite's JSON1)
SQLITE_BACKFILL = """
INSERT INTO detections (frame_id, camera_id, seq, capture_time_us, label, score,
                        x_min, y_min, x_max, y_max)
SELECT f.id, f.camera_id, f.seq, f.capture_time_us, json_extract(d.value, '$.label'),
       json_extract(d.value, '$.score'), json_extract(d.value, '$.box[0]'),
       json_extract(d.value, '$.box[1]'), json_extract(d.value, '$.box[2]'),
       json_extract(d.value, '$.box[3]')
FROM frames f, json_each(f.result_json, '$.detections') d
WHERE f.result_json IS NOT NULL AND json_type(f.result_json, '$.detections') = 'array'
"""
DETECTION_INSERT = (
    "INSERT INTO detections (frame_id, camera_id, seq, capture_time_us, label, score, "
    "x_min, y_min, x_max, y_max) SELECT id, camera_id, seq, capture_time_us, "
    "CAST(? AS TEXT), ?, ?, ?, ?, ? FROM frames WHERE camera_id = ? AND seq = ?"
)
_EVENT_COLUMNS = (
    "id, camera_id, label, state, start_time_us, end_time_us, start_seq, end_seq, "
    "best_seq, best_score, best_box, path_json"
)


def detection_inserts(camera_id: str, seq: int, result: dict[str, Any] | None) -> list[tuple]:
    """The parameters of :data:`DETECTION_INSERT` for one frame's stored result."""
    rows = []
    for d in (result or {}).get("detections") or ():
        x0, y0, x1, y1 = (float(v) for v in d["box"])
        rows.append((str(d["label"]), float(d["score"]), x0, y0, x1, y1, camera_id, seq))
    return rows


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


class SqlObservations(ObservationStore):
    """Search and events over ``detections`` / ``events`` (mixed into SqlFrameStore)."""

    BYTE_ORDER: str
    FRAME_COLUMNS: str  # the columns SqlFrameStore._row reads
    _lock: threading.Lock

    # supplied by SqlFrameStore
    _query: Callable[..., list[tuple]]
    _sql: Callable[[str], str]
    _row: Callable[[tuple], FrameRecord]
    _update_each: Callable[..., list[bool]]
    _write: Callable[[str, Sequence[Any]], None]

    @staticmethod
    def _in(column: str, values: Sequence[Any], params: list[Any]) -> str:
        params.extend(values)
        return f" AND {column} IN ({', '.join(['?'] * len(values))})"

    def _filters(
        self,
        query: FrameSearch | EventSearch,
        score: str,
        until_col: str,
        from_col: str,
        params: list[Any],
    ) -> str:
        """The WHERE conditions every query shares: ``score`` ≥ the minimum, cameras,
        classes, and the time range [start, end] as ``until_col`` ≥ start and
        ``from_col`` ≤ end (a row's capture time, or an event overlapping the range)."""
        where = f"{score} >= ?"
        params.append(query.min_score)
        if query.camera_ids:
            where += self._in("camera_id", query.camera_ids, params)
        if query.labels:
            where += self._in("label", query.labels, params)
        if query.start_us is not None:
            where += f" AND {until_col} >= ?"
            params.append(query.start_us)
        if query.end_us is not None:
            where += f" AND {from_col} <= ?"
            params.append(query.end_us)
        return where

    def search_frames(self, query: FrameSearch) -> list[FrameRecord]:
        params: list[Any] = []
        inner = "SELECT frame_id FROM detections WHERE " + self._filters(
            query, "score", "capture_time_us", "capture_time_us", params
        )
        inner += " GROUP BY frame_id HAVING COUNT(*) >= ?"
        params.append(max(1, query.min_count))
        columns = _prefixed(self.FRAME_COLUMNS, "f")
        sql = f"SELECT {columns} FROM frames f JOIN ({inner}) d ON d.frame_id = f.id"
        cam = f"f.camera_id{self.BYTE_ORDER}"
        if query.after is not None:
            t, c, s = query.after
            sql += (
                f" WHERE (f.capture_time_us > ? OR (f.capture_time_us = ? AND "
                f"({cam} > ? OR ({cam} = ? AND f.seq > ?))))"
            )
            params += [t, t, c, c, s]
        sql += f" ORDER BY f.capture_time_us, {cam}, f.seq LIMIT ?"
        params.append(query.limit)
        return [self._row(r) for r in self._query(self._sql(sql), tuple(params))]

    def capture_times(self, camera_id: str, seqs: Sequence[int]) -> dict[int, int]:
        if not seqs:
            return {}
        params: list[Any] = [camera_id]
        sql = "SELECT seq, capture_time_us FROM frames WHERE camera_id = ?"
        sql += self._in("seq", [int(s) for s in seqs], params)
        return {seq: t for seq, t in self._query(self._sql(sql), tuple(params))}

    # -- events ---------------------------------------------------------------------------
    def put_events(self, events: Sequence[Event]) -> None:
        if not events:
            return
        names = [c.strip() for c in _EVENT_COLUMNS.split(",")]
        updates = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        sql = self._sql(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({', '.join(['?'] * len(names))}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        rows = [
            (
                e.id,
                e.camera_id,
                e.label,
                e.state,
                e.start_time_us,
                e.end_time_us,
                e.start_seq,
                e.end_seq,
                e.best_seq,
                e.best_score,
                json.dumps(list(e.best_box)),
                json.dumps([list(p) for p in e.path]),
            )
            for e in events
        ]
        with self._lock:
            self._update_each(sql, rows)

    @staticmethod
    def _event(row: tuple) -> Event:
        (ident, camera, label, state, start, end, start_seq, end_seq, best_seq, score) = row[:10]
        x0, y0, x1, y1 = json.loads(row[10])
        return Event(
            ident,
            camera,
            label,
            state,
            start,
            end,
            start_seq,
            end_seq,
            best_seq,
            score,
            (x0, y0, x1, y1),
            [(p[0], p[1], p[2], p[3], p[4]) for p in json.loads(row[11])],
        )

    def get_event(self, event_id: str) -> Event | None:
        rows = self._query(
            self._sql(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?"), (event_id,)
        )
        return self._event(rows[0]) if rows else None

    def list_events(self, query: EventSearch) -> list[Event]:
        params: list[Any] = []
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE " + self._filters(
            query, "best_score", "end_time_us", "start_time_us", params
        )
        if query.state is not None:
            sql += " AND state = ?"
            params.append(query.state)
        ident = f"id{self.BYTE_ORDER}"
        if query.after is not None:
            t, i = query.after
            sql += f" AND (start_time_us > ? OR (start_time_us = ? AND {ident} > ?))"
            params += [t, t, i]
        sql += f" ORDER BY start_time_us, {ident} LIMIT ?"
        params.append(query.limit)
        return [self._event(r) for r in self._query(self._sql(sql), tuple(params))]

    def drop_orphan_events(self) -> int:
        before = self._query("SELECT COUNT(*) FROM events")[0][0]
        with self._lock:
            self._write(
                "DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM frames f WHERE "
                "f.camera_id = events.camera_id AND f.seq >= events.start_seq AND "
                "f.seq <= events.end_seq)",
                (),
            )
        return before - self._query("SELECT COUNT(*) FROM events")[0][0]
