"""The spool directory on disk: its layout, ``state.json``, the start-up scan and the errors.

    state.json                    camera id and the next sequence number (monotonic forever)
    frames/<seq:020d>.frame       one pending frame: header + metadata JSON + layers + CRC-32
    enhancement/<seq:020d>.pole   an enhancement layer kept for on-demand upload

``SpoolDirectory`` names the files and reads / writes the state; ``scan`` rebuilds the index
of what a previous run left (``spool.py``'s ``Spool`` owns the index and its policy).
"""

from __future__ import annotations

import errno
import json
from collections import OrderedDict
from pathlib import Path

from polc.shared.durable import atomic_write
from polc.shared.errors import ConfigError, PolcError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class SpoolError(PolcError):
    """The spool directory is unusable (permissions, unreadable state, foreign camera)."""


class SpoolFullError(SpoolError):
    """The disk is full and nothing could be dropped to make room: this frame is dropped."""


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in DISK_FULL


class SpoolDirectory:
    """The files of one camera's spool (created on construction)."""

    def __init__(self, path: Path, camera_id: str):
        self.path = path
        self.camera_id = camera_id
        self.state_file = path / "state.json"
        self.frames_dir = path / "frames"
        self.enh_dir = path / "enhancement"
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
            self.enh_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {path}: {exc.strerror}") from exc

    def frame_path(self, seq: int) -> Path:
        return self.frames_dir / f"{seq:020d}.frame"

    def enh_path(self, seq: int) -> Path:
        return self.enh_dir / f"{seq:020d}.pole"

    def read_state(self) -> int | None:
        """The saved next seq (None: no state yet); ConfigError if another camera owns it."""
        if not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
            saved = int(state["next_seq"])
            owner = state["camera_id"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpoolError(f"spool state {self.state_file} is unreadable: {exc}") from exc
        if owner != self.camera_id:
            raise ConfigError(
                f"spool.path {self.path} belongs to camera {owner!r}, not "
                f"{self.camera_id!r}; use another spool directory"
            )
        return saved

    def write_state(self, next_seq: int, fsync: bool) -> None:
        """Replace ``state.json`` atomically (OSError as raised by the write)."""
        data = json.dumps({"camera_id": self.camera_id, "next_seq": next_seq}).encode()
        atomic_write(self.state_file, data, fsync)

    def scan(
        self, next_seq: int
    ) -> tuple[OrderedDict[int, int], OrderedDict[int, tuple[int, float]], int]:
        """What a previous run left: pending frames (seq -> size), kept enhancement layers
        (seq -> (size, mtime)) and the next seq (at least ``next_seq``, above every frame).

        Interrupted writes (``*.tmp``) are deleted, and so are layers at or above the next
        seq (not from this spool's history: never served)."""
        for tmp in list(self.frames_dir.glob("*.tmp")) + list(self.enh_dir.glob("*.tmp")):
            tmp.unlink(missing_ok=True)  # a write interrupted by a crash: never renamed
        frames: dict[int, int] = {}
        for f in sorted(self.frames_dir.glob("*.frame")):
            try:
                seq = int(f.stem)
            except ValueError:
                continue
            frames[seq] = f.stat().st_size
            next_seq = max(next_seq, seq + 1)
        layers: dict[int, tuple[int, float]] = {}
        for f in sorted(self.enh_dir.glob("*.pole")):
            try:
                seq = int(f.stem)
            except ValueError:
                continue
            if seq >= next_seq:  # not from this spool's history: never serve it
                f.unlink(missing_ok=True)
                continue
            st = f.stat()
            layers[seq] = (st.st_size, st.st_mtime)
        return OrderedDict(sorted(frames.items())), OrderedDict(sorted(layers.items())), next_seq
