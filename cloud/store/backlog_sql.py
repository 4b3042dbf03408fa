"""The analysis backlog in the SQL index (both backends share this; mixed into
:class:`~polc.cloud.store.sql.SqlFrameStore`).

A frame is stored with ``analysis_pending`` and ``analysis_owner`` = the replica that stored
it, whose lease (``analysis_lease_us``) it renews while alive. Only the owner analyses a
frame, and its result is written only while the frame is still pending and still its own
(:meth:`SqlAnalysisBacklog.put_results`), so a frame is analysed at most once; a replica
takes over pending frames whose lease expired (their replica died; a clean shutdown releases
them at once)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from polc.cloud.store.interface import now_us
from polc.cloud.store.observations_sql import DETECTION_INSERT, detection_inserts

#: how long a replica's claim on its pending frames lasts without being renewed
ANALYSIS_LEASE_S = 30.0


class SqlAnalysisBacklog:
    """Results, claims and leases of pending frames (see the module docstring)."""

    JSON_PARAM: str  # a JSON text parameter, in the backend's style
    SKIP_LOCKED: str  # row locking of the claim's subquery
    analysis_lease_s = ANALYSIS_LEASE_S  # the lease of a newly stored pending frame
    replica: str
    _lock: threading.Lock

    # supplied by SqlFrameStore
    _query: Callable[..., list[tuple]]
    _sql: Callable[[str], str]
    _typed_errors: Callable[[], contextlib.AbstractContextManager[None]]
    _update_each: Callable[..., list[bool]]
    _write: Callable[[str, Sequence[Any]], None]

    def put_results(self, items: Sequence[tuple[str, int, dict[str, Any] | None]]) -> list[bool]:
        sql = self._sql(
            f"UPDATE frames SET result_json = {self.JSON_PARAM}, "
            "analysis_pending = FALSE WHERE camera_id = ? AND seq = ? AND "
            "analysis_pending AND analysis_owner = ?"
        )
        rows = [
            (json.dumps(result) if result is not None else None, camera_id, seq, self.replica)
            for camera_id, seq, result in items
        ]
        index = [
            (self._sql(DETECTION_INSERT), detection_inserts(camera_id, seq, result))
            for camera_id, seq, result in items
        ]
        with self._lock, self._typed_errors():
            return self._update_each(sql, rows, index)

    def claim_pending(self, limit: int, lease_s: float) -> list[tuple[str, int, int]]:
        now = now_us()
        with self._lock, self._typed_errors():
            self._update_each(
                self._sql(
                    "UPDATE frames SET analysis_owner = ?, analysis_lease_us = ? WHERE id IN ("
                    "SELECT id FROM frames WHERE analysis_pending AND analysis_lease_us < ? AND "
                    "(analysis_owner IS NULL OR analysis_owner <> ?) "
                    f"ORDER BY received_time_us, id LIMIT ?{self.SKIP_LOCKED})"
                ),
                [(self.replica, now + int(lease_s * 1e6), now, self.replica, limit)],
            )
        return [
            tuple(r)
            for r in self._query(
                self._sql(
                    "SELECT camera_id, seq, received_time_us FROM frames "
                    "WHERE analysis_pending AND analysis_owner = ? "
                    "ORDER BY received_time_us, id LIMIT ?"
                ),
                (self.replica, limit),
            )
        ]

    def renew_leases(self, lease_s: float) -> None:
        with self._lock:
            self._write(
                self._sql(
                    "UPDATE frames SET analysis_lease_us = ? WHERE "
                    "analysis_pending AND analysis_owner = ?"
                ),
                (now_us() + int(lease_s * 1e6), self.replica),
            )

    def release_leases(self) -> None:
        with self._lock:
            self._write(
                self._sql(
                    "UPDATE frames SET analysis_lease_us = 0 WHERE "
                    "analysis_pending AND analysis_owner = ?"
                ),
                (self.replica,),
            )

    def pending_summary(self) -> tuple[int, int | None]:
        count, oldest = self._query(
            self._sql(
                "SELECT COUNT(*), MIN(received_time_us) FROM frames WHERE analysis_pending AND "
                "analysis_owner = ?"
            ),
            (self.replica,),
        )[0]
        return count, oldest
