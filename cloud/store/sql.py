"""The part of a frame store every SQL backend shares: reads of the ``frames`` index, the
index rows of a group commit, adding an enhancement layer later, retention, and (mixed in)
the analysis backlog (:mod:`polc.cloud.store.backlog_sql`) and the search / events tables
(:mod:`polc.cloud.store.observations_sql`).

Layer bytes live in a :class:`~polc.cloud.store.segment_log.SegmentLog` (``self.segment_log``,
set by the backend), rows point at (segment, offset). Writes fail typed: :class:`StoreFull`
(no space, on the layer files or in the database) or :class:`RecordRejected` (one frame's
own values), never with a backend's own exception."""

from __future__ import annotations

import abc
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from polc.cloud.store.backlog_sql import SqlAnalysisBacklog
from polc.cloud.store.interface import (
    MAX_SEQ,
    CameraSummary,
    FrameRecord,
    FrameStore,
    RecordRejected,
    StoreFull,
    StoreStats,
    is_no_space,
    now_us,
)
from polc.cloud.store.observations_sql import SqlObservations
from polc.cloud.store.segment_log import SegmentLog

#: the columns of a FrameRecord, in its fields' order (what :meth:`SqlFrameStore._row` reads)
COLUMNS = (
    "camera_id, seq, capture_time_us, width, height, alpha, fingerprint, base_bytes, "
    "enhancement_bytes, received_time_us, result_json, analysis_pending"
)
#: the columns of a new row, in the order :meth:`SqlFrameStore._rows` produces them
INSERT_COLUMNS = (
    "camera_id, seq, capture_time_us, received_time_us, width, height, alpha, "
    "fingerprint, base_bytes, enhancement_bytes, base_bpp, enhancement_bpp, "
    "has_enhancement, result_json, base_segment, base_offset, enh_segment, "
    "enh_offset, analysis_pending, analysis_owner, analysis_lease_us"
)


class SqlFrameStore(SqlAnalysisBacklog, SqlObservations, FrameStore):
    """The reads every SQL backend shares; a backend supplies its parameter placeholder,
    ``segment_log``, ``_lock`` (its writer), ``_query`` (rows of a statement), ``_write``,
    ``_transaction`` and ``_result`` (the stored result column as a dict)."""

    PLACEHOLDER = "?"
    FRAME_COLUMNS = COLUMNS
    SUM_CAST = ""  # appended to a SUM(...) to read it back as an integer
    BYTE_ORDER = ""  # appended to ORDER BY camera_id: byte order (SQLite's default)
    JSON_PARAM = "?"  # a JSON text parameter, in this backend's style
    SKIP_LOCKED = ""  # row locking of the claim's subquery (PostgreSQL: skip taken rows)
    segment_log: SegmentLog
    _lock: threading.Lock

    _closed: bool

    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    @abc.abstractmethod
    def _disconnect(self) -> None:
        """Release the backend's connections (caller holds the write lock, once)."""

    def put(self, record: FrameRecord, base: bytes, enhancement: bytes | None) -> bool:
        return self.put_many([(record, base, enhancement)])[0]

    @abc.abstractmethod
    def _typed_error(self, exc: Exception) -> StoreFull | RecordRejected | None:
        """What a backend's write error means (None: neither a full disk nor a bad row)."""

    @contextlib.contextmanager
    def _typed_errors(self) -> Iterator[None]:
        """Raise a write's failure as StoreFull / RecordRejected where it is one of them."""
        try:
            yield
        except (StoreFull, RecordRejected):
            raise
        except Exception as exc:
            typed = (
                StoreFull(exc.errno, f"store full: {exc.strerror or exc}")
                if isinstance(exc, OSError) and is_no_space(exc)
                else self._typed_error(exc)
            )
            if typed is None:
                raise
            raise typed from exc

    @staticmethod
    def _check_rows(items: Sequence[tuple[FrameRecord, bytes, bytes | None]]) -> None:
        """RecordRejected for a batch with a seq the index cannot hold (the service checks
        this first; the committer then isolates the row)."""
        for record, _, _ in items:
            if not 0 <= record.seq <= MAX_SEQ:
                raise RecordRejected(f"seq {record.seq} out of range")

    def stats(self) -> StoreStats:
        count, total = self._query(
            "SELECT COUNT(*), COALESCE(SUM(base_bytes + enhancement_bytes), 0)"
            f"{self.SUM_CAST} FROM frames"
        )[0]
        return StoreStats(count, total)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.segment_log.seal()
            self._disconnect()

    @staticmethod
    def _result(value: Any) -> dict | None:
        return json.loads(value) if value else None

    def _sql(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this backend's style."""
        return sql.replace("?", self.PLACEHOLDER)

    def _row(self, row: tuple) -> FrameRecord:
        """The FrameRecord of a row of :data:`COLUMNS` (the result column decoded, the
        pending flag a bool)."""
        record = FrameRecord(*row)
        record.result = self._result(record.result)
        record.analysis_pending = bool(record.analysis_pending)
        return record

    @abc.abstractmethod
    def _write(self, sql: str, params: Sequence[Any]) -> None:
        """Run one committed write statement (caller holds the write lock)."""

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """One write transaction (caller holds the write lock): a DB-API cursor whose
        statements commit together on exit and roll back on an error."""

    def _update_each(
        self,
        sql: str,
        rows: Sequence[Sequence[Any]],
        followups: Sequence[tuple[str, list[tuple]]] | None = None,
    ) -> list[bool]:
        """Run an UPDATE once per row in one transaction: did each change a row? A row
        that changed one runs its ``followups[i]`` (a statement and its parameter rows) in
        the same transaction (caller holds the write lock)."""
        with self._transaction() as cur:
            changed = [cur.execute(sql, row).rowcount > 0 for row in rows]
            for ok, (then, params) in zip(changed, followups or (), strict=False):
                if ok and params:
                    cur.executemany(then, params)
        return changed

    # -- retention ------------------------------------------------------------------------
    @abc.abstractmethod
    def _delete_where(self, where: str, params: Sequence[Any]) -> int:
        """Delete the frames matching ``where`` (``?`` placeholders) with their layers; the
        number deleted."""

    def _expire(
        self, max_age_s: float | None, max_bytes: int | None, now: int | None = None
    ) -> int:
        deleted = 0
        if max_age_s is not None:
            cutoff = (now if now is not None else now_us()) - int(max_age_s * 1e6)
            deleted += self._delete_where("received_time_us < ?", (cutoff,))
        if max_bytes is not None:
            excess = self.stats().bytes - max_bytes
            if excess > 0:  # the oldest frames whose bytes before them are still < excess
                deleted += self._delete_where(
                    "id IN (SELECT id FROM (SELECT id, SUM(base_bytes + enhancement_bytes) "
                    "OVER (ORDER BY received_time_us, id) - (base_bytes + enhancement_bytes) "
                    "AS bytes_before FROM frames) t WHERE bytes_before < ?)",
                    (excess,),
                )
        return deleted

    def put_enhancement(self, camera_id: str, seq: int, data: bytes) -> None:
        record = self.get(camera_id, seq)
        if record is None:
            raise KeyError((camera_id, seq))
        with self._lock, self._typed_errors():
            segment, (offset,) = self.segment_log.append([data])
            self._write(
                self._sql(
                    "UPDATE frames SET enhancement_bytes = ?, enhancement_bpp = ?, "
                    "has_enhancement = TRUE, enh_segment = ?, enh_offset = ? "
                    "WHERE camera_id = ? AND seq = ? AND NOT has_enhancement"
                ),
                (len(data), len(data) * 8 / record.pixels, segment, offset, camera_id, seq),
            )

    def _rows(
        self, items: Sequence[tuple[FrameRecord, bytes, bytes | None]], todo: list[int]
    ) -> list[tuple]:
        """Append the layers of ``items[todo]`` durably (caller holds the write lock) and
        return their index rows, in the column order of ``frames`` (fills in the records'
        sizes and received time)."""
        parts: list[bytes] = []
        for i in todo:
            _, base, enh = items[i]
            parts.append(base)
            if enh:
                parts.append(enh)
        segment, offsets = self.segment_log.append(parts)
        received = now_us()
        rows, k = [], 0
        for i in todo:
            record, base, enh = items[i]
            base_off = offsets[k]
            k += 1
            enh_off = None
            if enh:
                enh_off = offsets[k]
                k += 1
            record.base_bytes, record.enhancement_bytes = len(base), len(enh or b"")
            record.received_time_us = received
            rows.append(
                (
                    record.camera_id,
                    record.seq,
                    record.capture_time_us,
                    received,
                    record.width,
                    record.height,
                    record.alpha,
                    record.fingerprint,
                    record.base_bytes,
                    record.enhancement_bytes,
                    record.base_bpp,
                    record.enhancement_bpp,
                    bool(enh),
                    json.dumps(record.result) if record.result is not None else None,
                    segment,
                    base_off,
                    segment if enh else None,
                    enh_off,
                    record.analysis_pending,
                    self.replica,
                    received + int(self.analysis_lease_s * 1e6) if record.analysis_pending else 0,
                )
            )
        return rows

    def get(self, camera_id: str, seq: int) -> FrameRecord | None:
        if not 0 <= seq <= MAX_SEQ:
            return None
        rows = self._query(
            self._sql(f"SELECT {COLUMNS} FROM frames WHERE camera_id = ? AND seq = ?"),
            (camera_id, seq),
        )
        return self._row(rows[0]) if rows else None

    def find_at(self, camera_id: str, time_us: int) -> FrameRecord | None:
        rows = self._query(
            self._sql(
                f"SELECT {COLUMNS} FROM frames WHERE camera_id = ? AND capture_time_us <= ? "
                "ORDER BY capture_time_us DESC, seq DESC LIMIT 1"
            ),
            (camera_id, time_us),
        )
        return self._row(rows[0]) if rows else None

    def _layer(self, camera_id: str, seq: int, enh: bool) -> bytes | None:
        cols = (
            "enh_segment, enh_offset, enhancement_bytes"
            if enh
            else "base_segment, base_offset, base_bytes"
        )
        rows = (
            self._query(
                self._sql(f"SELECT {cols} FROM frames WHERE camera_id = ? AND seq = ?"),
                (camera_id, seq),
            )
            if 0 <= seq <= MAX_SEQ
            else []
        )
        if not rows:
            raise KeyError((camera_id, seq))
        segment, offset, length = rows[0]
        return None if segment is None else self.segment_log.read(segment, offset, length)

    def read_base(self, camera_id: str, seq: int) -> bytes:
        data = self._layer(camera_id, seq, False)
        assert data is not None
        return data

    def read_enhancement(self, camera_id: str, seq: int) -> bytes | None:
        try:
            return self._layer(camera_id, seq, True)
        except KeyError:
            return None

    def list_cameras(self) -> list[CameraSummary]:
        rows = self._query(
            "SELECT camera_id, COUNT(*), MIN(seq), MAX(seq), MIN(capture_time_us), "
            f"MAX(capture_time_us), SUM(base_bytes + enhancement_bytes){self.SUM_CAST} "
            f"FROM frames GROUP BY camera_id ORDER BY camera_id{self.BYTE_ORDER}"
        )
        return [CameraSummary(*row) for row in rows]

    def last_seq(self, camera_id: str) -> int | None:
        return self._query(
            self._sql("SELECT MAX(seq) FROM frames WHERE camera_id = ?"), (camera_id,)
        )[0][0]

    def list_frames(
        self,
        camera_id: str,
        start_us: int | None = None,
        end_us: int | None = None,
        after_seq: int = -1,
        limit: int = 100,
    ) -> list[FrameRecord]:
        sql = f"SELECT {COLUMNS} FROM frames WHERE camera_id = ? AND seq > ?"
        params: list[Any] = [camera_id, after_seq]
        if start_us is not None:
            sql += " AND capture_time_us >= ?"
            params.append(start_us)
        if end_us is not None:
            sql += " AND capture_time_us <= ?"
            params.append(end_us)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return [self._row(r) for r in self._query(self._sql(sql), tuple(params))]
