"""What the service needs from a frame store, backend-neutral: the index entry of a stored
frame, per-camera summaries, store statistics, the analysis backlog (frames stored before
they are analysed, with a lease per replica), the :class:`FrameStore` interface and the
two typed write failures every backend raises: :class:`StoreFull` (no space: retry later,
for every frame alike) and :class:`RecordRejected` (this one frame's values cannot be
stored: permanent)."""

from __future__ import annotations

import abc
import errno
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from polc.cloud.store.observations import ObservationStore
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.frame_spec import ReferenceLink
from polc.shared.errors import BitstreamError

MAX_SEQ = (1 << 63) - 1  # the index stores seq as a signed 64-bit integer
MAX_GOP = 256  # longest run of P-frames retention looks at (the edge's GOP is far shorter)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StoreFull(OSError):
    """The store's disk (layer files or index) has no space left: nothing of the write was
    committed, and the same write may succeed once space returns (retryable)."""


class RecordRejected(ValueError):
    """One frame's own values cannot be stored (e.g. a number beyond the index's range):
    nothing of it was committed, and resending it can never succeed (permanent)."""


def is_no_space(exc: BaseException) -> bool:
    """An OSError saying the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


@dataclass
class FrameRecord:
    """Index entry of one stored frame (what Query returns, without the layer bytes)."""

    camera_id: str
    seq: int
    capture_time_us: int  # edge clock, microseconds since the epoch
    width: int
    height: int
    alpha: float
    fingerprint: str
    base_bytes: int
    enhancement_bytes: int = 0
    received_time_us: int = 0  # set by the store
    result: dict[str, Any] | None = None  # analyzer output (JSON-serialisable)
    analysis_pending: bool = False  # stored, not analysed yet (the analysis backlog)

    @property
    def has_enhancement(self) -> bool:
        return self.enhancement_bytes > 0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def base_bpp(self) -> float:
        return self.base_bytes * 8 / self.pixels

    @property
    def enhancement_bpp(self) -> float:
        return self.enhancement_bytes * 8 / self.pixels


@dataclass
class CameraSummary:
    camera_id: str
    frame_count: int
    first_seq: int
    last_seq: int
    first_capture_time_us: int
    last_capture_time_us: int
    stored_bytes: int


@dataclass
class StoreStats:
    frames: int = 0
    bytes: int = 0
    deleted: int = field(default=0)


class FrameStore(ObservationStore):
    """What the service needs from a store; backends: SQLite + files (here), PostgreSQL."""

    #: point reads (``get``) are local and cheap enough to run on the event-loop thread
    local_reads: bool = True

    @abc.abstractmethod
    def put(self, record: FrameRecord, base: bytes, enhancement: bytes | None) -> bool:
        """Durably store a frame; False (and nothing written) if (camera_id, seq) exists."""

    def put_many(self, items: Sequence[tuple[FrameRecord, bytes, bytes | None]]) -> list[bool]:
        """Store several frames (backends override this with one group commit)."""
        return [self.put(*item) for item in items]

    @abc.abstractmethod
    def get(self, camera_id: str, seq: int) -> FrameRecord | None:
        """The index entry of a frame, or None."""

    @abc.abstractmethod
    def find_at(self, camera_id: str, time_us: int) -> FrameRecord | None:
        """The latest frame of a camera captured at or before ``time_us``."""

    @abc.abstractmethod
    def read_base(self, camera_id: str, seq: int) -> bytes:
        """The stored base layer (KeyError if the frame is not stored)."""

    @abc.abstractmethod
    def read_enhancement(self, camera_id: str, seq: int) -> bytes | None:
        """The stored enhancement layer, or None when it was not stored."""

    @abc.abstractmethod
    def put_enhancement(self, camera_id: str, seq: int, data: bytes) -> None:
        """Durably add the enhancement layer of a stored frame (KeyError if not stored)."""

    @abc.abstractmethod
    def last_seq(self, camera_id: str) -> int | None:
        """Highest stored seq of a camera, or None."""

    @abc.abstractmethod
    def list_cameras(self) -> list[CameraSummary]:
        """Every camera with stored frames."""

    @abc.abstractmethod
    def list_frames(
        self,
        camera_id: str,
        start_us: int | None = None,
        end_us: int | None = None,
        after_seq: int = -1,
        limit: int = 100,
    ) -> list[FrameRecord]:
        """Frames of a camera with capture time in [start, end] and seq > after_seq, by seq."""

    def enforce_retention(
        self, max_age_s: float | None, max_bytes: int | None, now: int | None = None
    ) -> int:
        """Delete frames older than ``max_age_s`` and then the oldest ones until the total is
        at most ``max_bytes``, whole GOPs only: the P-frames left without the key frame they
        decode from are deleted with it (a kept P-frame always decodes; the age or byte
        limit is overshot by less than a GOP per camera). Their detections go with them, and
        the events none of whose frames is left. Returns the number of frames deleted."""
        deleted = self._expire(max_age_s, max_bytes, now)
        if deleted:
            deleted += self._delete_broken_gops()
            self.drop_orphan_events()
        return deleted

    @abc.abstractmethod
    def _expire(
        self, max_age_s: float | None, max_bytes: int | None, now: int | None = None
    ) -> int:
        """The age and byte limits frame by frame (oldest first); the number deleted."""

    @abc.abstractmethod
    def delete_frames(self, camera_id: str, seqs: Sequence[int]) -> int:
        """Delete these frames of a camera (with their layers); the number deleted."""

    def _delete_broken_gops(self) -> int:
        """Delete each camera's oldest frames while they are P-frames whose reference is
        gone (their key frame was deleted): they could never be decoded again."""
        deleted = 0
        for camera in self.list_cameras():
            gone: list[int] = []
            for record in self.list_frames(camera.camera_id, limit=MAX_GOP):
                link = _reference_of(self.read_base(camera.camera_id, record.seq))
                if link is None or (link.seq >= camera.first_seq and link.seq not in gone):
                    break  # a key frame (or a frame whose reference is kept)
                gone.append(record.seq)
            if gone:
                deleted += self.delete_frames(camera.camera_id, gone)
        return deleted

    # -- the analysis backlog: frames stored with ``analysis_pending`` (analysis_backlog.py) --
    #: this replica's name in the index (who analyses the frames it stored)
    replica: str = ""

    @abc.abstractmethod
    def put_results(self, items: Sequence[tuple[str, int, dict[str, Any] | None]]) -> list[bool]:
        """Store the results of pending frames this replica holds; per item False (nothing
        written) when the frame is no longer pending or another replica took it over — a
        frame is analysed at most once."""

    @abc.abstractmethod
    def claim_pending(self, limit: int, lease_s: float) -> list[tuple[str, int, int]]:
        """Take over pending frames whose lease expired (their replica died or stopped),
        then return up to ``limit`` pending frames of this replica, oldest first, as
        (camera_id, seq, received_time_us)."""

    @abc.abstractmethod
    def renew_leases(self, lease_s: float) -> None:
        """Extend the lease of every pending frame of this replica (it is alive)."""

    @abc.abstractmethod
    def release_leases(self) -> None:
        """Let any replica take over this replica's pending frames now (clean shutdown)."""

    @abc.abstractmethod
    def pending_summary(self) -> tuple[int, int | None]:
        """(pending frames of this replica, received time of the oldest one or None)."""

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        """Number of frames and stored layer bytes."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release everything."""


def _reference_of(base: bytes) -> ReferenceLink | None:
    """The reference a stored base layer names (None: a key frame, or not a container)."""
    try:
        return FrameContainer.from_bytes(base).reference
    except BitstreamError:
        return None


def now_us() -> int:
    return time.time_ns() // 1000
