"""The frame spec of compact P-frames stored without decoding (``analyzer.decode: false``).

A compact P-frame carries no model fingerprint, α or size: they are its reference's
(docs/bitstream.md). With decoding on, the decoder binds it to the reference it decodes
against. With decoding off nothing is decoded, so the frame's index entry (width, height, α,
model) is taken from its reference as stored: the spec of the camera's last stored frame
when the P-frame names it (seq and latent checksum), else the stored record of the frame it
names. A compact P-frame whose reference is not stored is refused as when decoding
(``reference_missing``: a key frame is requested). As for every frame stored undecoded, the
reference's latent itself is not checked.
"""

from __future__ import annotations

from collections import OrderedDict

import grpc

from polc.cloud.ingest.decoding import MAX_CAMERAS, reference_refusal
from polc.cloud.ingest.validation import FrameRefused
from polc.cloud.store.interface import FrameRecord
from polc.shared.codec.container import FrameContainer, FrameGeometry, FrameSpec, alpha_to_code
from polc.shared.errors import BitstreamError, ReferenceMissing


class StoredSpecs:
    """Per camera: (seq, latent checksum, spec) of the last frame stored."""

    def __init__(self, channels: tuple[int, int, int], max_cameras: int = MAX_CAMERAS):
        self.channels, self.max_cameras = channels, max_cameras
        self._last: OrderedDict[str, tuple[int, int, FrameSpec]] = OrderedDict()

    def remember(self, camera_id: str, seq: int, container: FrameContainer) -> None:
        if container.spec is None:
            return
        self._last[camera_id] = (seq, container.latent_crc, container.spec)
        self._last.move_to_end(camera_id)
        while len(self._last) > self.max_cameras:
            self._last.popitem(last=False)

    def bind_cached(self, camera_id: str, container: FrameContainer) -> bool:
        """Bind ``container`` to the spec of the camera's last stored frame if it names
        that frame; False: look its reference up in the store (:meth:`bind_stored`)."""
        link, last = container.reference, self._last.get(camera_id)
        if link is None or last is None or (link.seq, link.checksum) != last[:2]:
            return False
        container.bind(last[2])
        return True

    def bind_stored(self, container: FrameContainer, reference: FrameRecord | None) -> None:
        """Bind ``container`` to the spec of its stored reference ``reference`` (None: not
        stored); FrameRefused (reference_missing / malformed) when it cannot be."""
        link = container.reference
        assert link is not None
        if reference is None:
            raise reference_refusal(
                ReferenceMissing(f"P-frame refers to frame {link.seq}, which is not stored")
            )
        try:
            spec = FrameSpec(
                bytes.fromhex(reference.fingerprint),
                alpha_to_code(reference.alpha),
                FrameGeometry(reference.width, reference.height),
                self.channels,
            )
        except ValueError as exc:
            raise reference_refusal(ReferenceMissing(f"reference {link.seq}: {exc}")) from None
        try:
            container.bind(spec)
        except BitstreamError as exc:
            raise FrameRefused(grpc.StatusCode.INVALID_ARGUMENT, "malformed", str(exc)) from None
