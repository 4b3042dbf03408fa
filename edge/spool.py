"""The durable on-disk spool: every frame is on disk before it is sent, until it is acked.

    capture ─► encode ─► Spool.append ──(temp file, fsync, rename, fsync dir)──► frames/
                                 │                                   │ uplink sends in seq order
                                 └─► enhancement/ (on-demand layers) │ ◄── FrameAck / FrameError
                                       kept for a window              ▼
                                                               Spool.ack / refuse: unlink

The layout of the spool directory, its state file and the start-up scan are
``spool_directory.py``'s; this module holds the index and its policy.

The sequence counter survives restarts: on start the next seq is the larger of the saved
counter and the highest spooled frame + 1, so a frame written just before a crash is never
given a second seq's number. The frames are bounded by ``max_bytes``: when a long outage
fills the budget, the *oldest* pending frames are dropped (counted in ``dropped``). Kept
enhancement layers are bounded by age and by their own byte budget.

A full disk (``ENOSPC`` / ``EDQUOT``) degrades instead of stopping the edge:

* start-up only rewrites ``state.json`` when it is missing or behind the frames, and a
  failed write keeps the counter in memory (retried on the next append or ack);
* a frame that does not fit frees room by dropping kept enhancement layers, then the
  oldest pending frames (counted in ``dropped_disk_full``); when nothing is left to drop
  the new frame itself is dropped (:class:`SpoolFullError`, counted too);
* while ``state.json`` lags the counter, the newest frame's file is the only record of
  it: that file is kept (even once acked) until the state is saved, so the counter never
  goes backwards across a restart (a kept acked frame is resent once; the cloud acks it
  as a duplicate).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from polc.edge.spool_directory import (
    SpoolDirectory,
    SpoolError,
    SpoolFullError,
    is_disk_full,
)
from polc.edge.spooled_frame import SpooledFrame
from polc.shared.durable import atomic_write

log = logging.getLogger(__name__)


class Spool:
    """Pending frames and kept enhancement layers of one camera, on disk. Thread-safe."""

    def __init__(
        self,
        path: str | Path,
        camera_id: str,
        max_bytes: int = 1 << 30,
        fsync: bool = True,
        enhancement_retention_seconds: float = 3600.0,
        enhancement_max_bytes: int = 512 << 20,
        clock: Callable[[], float] = time.time,
    ):
        self.path = Path(path)
        self.camera_id = camera_id
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.enhancement_retention_seconds = enhancement_retention_seconds
        self.enhancement_max_bytes = enhancement_max_bytes
        self.clock = clock
        self.dropped = 0  # frames dropped by the disk budget (drop-oldest)
        self.dropped_disk_full = 0  # frames dropped because the disk itself was full
        self.refused = 0  # frames the cloud refused with a FrameError
        self._lock = threading.RLock()  # the in-memory index (held briefly, never for I/O)
        self._append_lock = threading.Lock()  # serialises appends (file writes, state)
        self._frames: OrderedDict[int, int] = OrderedDict()  # seq -> file size
        self._enh: OrderedDict[int, tuple[int, float]] = OrderedDict()  # seq -> (size, time)
        self._frame_bytes = 0
        self._enh_bytes = 0
        self._listeners: list[Callable[[int], None]] = []
        self._saved_next_seq = 0  # the counter as state.json holds it
        self._witness: int | None = None  # acked frame kept on disk while the state lags
        self._state_warned = False
        self.directory = SpoolDirectory(self.path, camera_id)
        self._frame_path = self.directory.frame_path
        self._enh_path = self.directory.enh_path
        self._next_seq = self._load()

    # -- start-up -----------------------------------------------------------------------

    def _load(self) -> int:
        saved = self.directory.read_state()
        self._frames, self._enh, next_seq = self.directory.scan(saved or 0)
        self._frame_bytes = sum(self._frames.values())
        self._enh_bytes = sum(size for size, _ in self._enh.values())
        if self._frames:
            log.info(
                "spool %s: resuming with %d pending frames (seq %d..%d)",
                self.path,
                len(self._frames),
                next(iter(self._frames)),
                next(reversed(self._frames)),
            )
        self._saved_next_seq = saved or 0
        if saved is None or saved < next_seq:  # never rewritten needlessly: the disk may be full
            self._save_state(next_seq)
        return next_seq

    def _save_state(self, next_seq: int) -> bool:
        """Persist the counter; False (counter kept in memory) when the disk is full."""
        try:
            self.directory.write_state(next_seq, self.fsync)
        except OSError as exc:
            if not is_disk_full(exc):
                raise SpoolError(
                    f"cannot write spool state in {self.path}: {exc.strerror}"
                ) from exc
            if not self._state_warned:
                log.warning(
                    "spool %s: disk full, the sequence counter (%d) stays in memory "
                    "and is saved once there is room",
                    self.path,
                    next_seq,
                )
                self._state_warned = True
            return False
        self._state_warned = False
        with self._lock:
            self._saved_next_seq = max(self._saved_next_seq, next_seq)
            if self._witness is not None and self._witness < self._saved_next_seq:
                self._release_witness()
        return True

    def _release_witness(self) -> None:
        """The kept file of an acked frame no longer records the counter: delete it."""
        witness, self._witness = self._witness, None
        if witness is not None and witness not in self._frames:
            self._frame_path(witness).unlink(missing_ok=True)

    @property
    def state_saved(self) -> bool:
        """Whether ``state.json`` holds the current counter (False while the disk is full)."""
        return self._saved_next_seq >= self._next_seq

    def _retry_state(self) -> None:
        """Save a lagging counter if no append is busy (that one saves it anyway)."""
        if self.state_saved or not self._append_lock.acquire(blocking=False):
            return
        try:
            self._save_state(self._next_seq)
        except SpoolError as exc:
            log.error("%s", exc)
        finally:
            self._append_lock.release()

    # -- observers ----------------------------------------------------------------------

    def add_listener(self, fn: Callable[[int], None]) -> None:
        """Call ``fn(seq)`` (from the appending thread) whenever a frame is appended."""
        self._listeners.append(fn)

    # -- writing ------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def append(
        self,
        capture_time_ns: int,
        alpha: float,
        base: bytes,
        enhancement: bytes | None = None,
        keep_enhancement: bytes | None = None,
        width: int = 0,
        height: int = 0,
    ) -> SpooledFrame:
        """Persist a new frame under the next sequence number and return it.

        ``enhancement`` travels with the frame; ``keep_enhancement`` is kept locally for the
        on-demand path. The frame is durable on disk when this returns.
        """
        with self._append_lock:  # one appender at a time; readers only wait for the index
            with self._lock:
                seq = self._next_seq
            frame = SpooledFrame(
                self.camera_id, seq, capture_time_ns, alpha, base, enhancement, width, height
            )
            data = frame.to_bytes()
            # the frame first: a crash in between leaves a frame without its kept
            # layer (answered "unavailable"), never a layer that claims a seq
            self._write_frame(seq, data)
            with self._lock:
                self._release_witness()  # the new frame's file records the counter now
            if keep_enhancement is not None and not self._write_kept_layer(seq, keep_enhancement):
                keep_enhancement = None
            # the counter is durable before the frame can be sent, acked and deleted: a
            # crash can never hand this seq to another frame (on a full disk the frame
            # file itself records it until the state can be saved)
            self._save_state(seq + 1)
            with self._lock:
                if keep_enhancement is not None:
                    self._enh[seq] = (len(keep_enhancement), self.clock())
                    self._enh_bytes += len(keep_enhancement)
                self._frames[seq] = len(data)
                self._frame_bytes += len(data)
                self._next_seq = seq + 1
                self._enforce_budget(keep=seq)
                self.sweep_enhancements()
        for fn in self._listeners:
            fn(seq)
        return frame

    def _write_frame(self, seq: int, data: bytes) -> None:
        """Write a frame file; on a full disk drop old data to make room, or this frame."""
        while True:
            try:
                atomic_write(self._frame_path(seq), data, self.fsync)
                return
            except OSError as exc:
                if not is_disk_full(exc):
                    raise SpoolError(
                        f"cannot write frame {seq} to {self.directory.frames_dir}: {exc.strerror}"
                    ) from exc
            if not self._make_room():
                with self._lock:
                    self.dropped_disk_full += 1
                raise SpoolFullError(
                    f"disk full: frame {seq} dropped, nothing left in "
                    f"{self.path} to make room for it"
                )

    def _make_room(self) -> bool:
        """Free disk space: the oldest kept enhancement layer, else the oldest pending frame
        (counted in ``dropped_disk_full``). False when neither is left."""
        with self._lock:
            if self._enh:
                seq, (size, _) = self._enh.popitem(last=False)
                self._enh_bytes -= size
                self._enh_path(seq).unlink(missing_ok=True)
                log.warning("disk full: dropped the kept enhancement layer of frame %d", seq)
                return True
            if not self._frames:
                return False
            oldest = next(iter(self._frames))
            self._remove(oldest)
            self.dropped_disk_full += 1
            log.warning("disk full: dropped the oldest pending frame %d", oldest)
            return True

    def _write_kept_layer(self, seq: int, layer: bytes) -> bool:
        """Keep an on-demand enhancement layer; skipped (False) when the disk is full."""
        try:
            atomic_write(self._enh_path(seq), layer, self.fsync)
            return True
        except OSError as exc:
            if not is_disk_full(exc):
                raise SpoolError(
                    f"cannot write frame {seq} to {self.directory.enh_dir}: {exc.strerror}"
                ) from exc
            log.warning("disk full: the enhancement layer of frame %d is not kept", seq)
            return False

    def _enforce_budget(self, keep: int) -> None:
        while self._frame_bytes > self.max_bytes and len(self._frames) > 1:
            oldest = next(iter(self._frames))
            if oldest == keep:
                break
            self._remove(oldest)
            self.dropped += 1
            log.warning(
                "spool over its budget of %d bytes: dropped the oldest pending frame %d",
                self.max_bytes,
                oldest,
            )

    def _remove(self, seq: int) -> bool:
        size = self._frames.pop(seq, None)
        if size is None:
            return False
        self._frame_bytes -= size
        if seq >= self._saved_next_seq and seq + 1 >= self._next_seq:
            # the newest frame while state.json lags: its file records the counter
            self._release_witness()
            self._witness = seq
        else:
            self._frame_path(seq).unlink(missing_ok=True)
        return True

    def ack(self, seq: int) -> bool:
        """The cloud stored frame ``seq``: forget it (its kept enhancement layer stays)."""
        with self._lock:
            removed = self._remove(seq)
        self._retry_state()
        return removed

    def refuse(self, seq: int) -> bool:
        """The cloud refused frame ``seq`` for good: forget it (counted in ``refused``)."""
        with self._lock:
            removed = self._remove(seq)
            self.refused += removed
        self._retry_state()
        return removed

    # -- reading ------------------------------------------------------------------------

    def pending(self) -> list[int]:
        """Sequence numbers of the frames not yet acked, oldest first."""
        with self._lock:
            return list(self._frames)

    def has(self, seq: int) -> bool:
        with self._lock:
            return seq in self._frames

    def get(self, seq: int) -> SpooledFrame | None:
        """The frame, or None when it was acked, refused or dropped meanwhile."""
        with self._lock:
            if seq not in self._frames:
                return None
            try:
                data = self._frame_path(seq).read_bytes()
                return SpooledFrame.from_bytes(data)
            except (OSError, ValueError) as exc:
                log.error("spool frame %d is unreadable (%s): dropping it", seq, exc)
                self._remove(seq)
                self.dropped += 1
                return None

    def enhancement(self, seq: int) -> bytes | None:
        """A kept enhancement layer, or None when it is not (or no longer) held."""
        with self._lock:
            self.sweep_enhancements()
            if seq not in self._enh:
                return None
            try:
                return self._enh_path(seq).read_bytes()
            except OSError:
                return None

    def sweep_enhancements(self) -> int:
        """Delete kept layers older than the retention window or over the byte budget."""
        removed = 0
        with self._lock:
            horizon = self.clock() - self.enhancement_retention_seconds
            while self._enh:
                seq, (size, created) = next(iter(self._enh.items()))
                if created >= horizon and self._enh_bytes <= self.enhancement_max_bytes:
                    break
                del self._enh[seq]
                self._enh_bytes -= size
                self._enh_path(seq).unlink(missing_ok=True)
                removed += 1
        return removed

    @property
    def depth(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        return self._frame_bytes

    @property
    def enhancement_bytes(self) -> int:
        return self._enh_bytes

    @property
    def enhancement_count(self) -> int:
        return len(self._enh)
