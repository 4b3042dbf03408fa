"""Decoding stored P-frames: follow the reference links back to a key frame in the store.

    P-frame k ─ref─► frame j ─ref─► … ─► key frame i   (read from the store, ≤ max_length)
    decode i, then each frame after it against the one before ─► reference of k ─► decode k

A P-frame decodes only against the exact latent it names (seq and checksum); a reference
that is not stored, a chain longer than ``max_length`` frames (a GOP is at most the edge's
``key_frame_interval``), or a rebuilt latent with another checksum raises
:class:`ReferenceMissing` / :class:`ReferenceMismatch` — never a decode against the wrong
latent. The last reference rebuilt per camera is cached, so rendering or analysing the
frames of a GOP one after the other decodes each frame once.

Used by the ingest decoder (a replica without the camera's reference state: new replica,
restart, eviction), Reconstruct, the enhancement-upload check and the analysis of frames
read back from the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from polc.cloud.store.interface import FrameStore
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.frame_spec import ReferenceLink
from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.runtime import Codec, DecodedFrame
from polc.shared.errors import ReferenceMismatch, ReferenceMissing

#: longest chain of P-frames followed back to a key frame (the edge's GOP is far shorter)
MAX_CHAIN = 256
#: cameras whose last rebuilt reference is cached
CACHED_CAMERAS = 64


class ReferenceChain:
    """Rebuilds references (and decodes stored frames) from the store; thread-safe."""

    def __init__(
        self,
        codec: Codec,
        store: FrameStore,
        max_length: int = MAX_CHAIN,
        cached_cameras: int = CACHED_CAMERAS,
    ):
        self.codec, self.store, self.max_length = codec, store, max_length
        self.cached_cameras = cached_cameras
        self._cache: OrderedDict[str, ReferenceState] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, camera_id: str, link: ReferenceLink) -> ReferenceState | None:
        with self._lock:
            state = self._cache.get(camera_id)
        if state is not None and state.seq == link.seq and state.checksum == link.checksum:
            return state
        return None

    def remember(self, camera_id: str, state: ReferenceState) -> None:
        with self._lock:
            self._cache[camera_id] = state
            self._cache.move_to_end(camera_id)
            while len(self._cache) > self.cached_cameras:
                self._cache.popitem(last=False)

    def reference(self, camera_id: str, link: ReferenceLink) -> ReferenceState:
        """The reference state a P-frame of ``camera_id`` names, rebuilt from the store."""
        cached = self._cached(camera_id, link)
        if cached is not None:
            return cached
        chain: list[tuple[int, FrameContainer]] = []
        seq = link.seq
        state: ReferenceState | None = None
        while True:
            if len(chain) >= self.max_length:
                raise ReferenceMissing(
                    f"reference {link.seq} of camera {camera_id!r}: no key frame within "
                    f"{self.max_length} frames of it in the store"
                )
            try:
                base = self.store.read_base(camera_id, seq)
            except KeyError:
                raise ReferenceMissing(
                    f"frame {seq} of camera {camera_id!r} (needed to rebuild reference "
                    f"{link.seq}) is not stored"
                ) from None
            container = FrameContainer.from_bytes(base)
            chain.append((seq, container))
            if container.reference is None:
                break
            state = self._cached(camera_id, container.reference)
            if state is not None:
                break
            seq = container.reference.seq
        for seq, container in reversed(chain):
            state = self.codec.decode(container, state).reference(seq)
        assert state is not None
        if state.checksum != link.checksum:
            raise ReferenceMismatch(
                f"stored frame {link.seq} of camera {camera_id!r} is not the reference this "
                "P-frame was coded against (checksum differs)"
            )
        self.remember(camera_id, state)
        return state

    def decode(self, camera_id: str, seq: int, container: FrameContainer) -> DecodedFrame:
        """Decode stored frame ``seq`` (key frame, or P-frame via its chain)."""
        reference = (
            self.reference(camera_id, container.reference)
            if container.reference is not None
            else None
        )
        frame = self.codec.decode(container, reference)
        if frame.latent.z_symbols is not None:
            self.remember(camera_id, frame.reference(seq))
        return frame
