"""The frame spec of compact P-frames stored without decoding (``analyzer.decode: false``).

A compact P-frame carries no model fingerprint, α or size: they are its reference's
(docs/bitstream.md). With decoding on, the decoder binds it to the reference it decodes
against. With decoding off nothing is decoded, so the frame's index entry (width, height, α,
model) is taken from its reference as stored: the spec of the camera's last stored frame
when the P-frame names it (seq and latent checksum), else the stored record of the frame it
names (the last frame read when it names that one, else its stored record). A compact
P-frame whose reference is neither is refused as when decoding
(``reference_missing``: a key frame is requested). As for every frame stored undecoded, the
reference's latent itself is not checked.
"""

from __future__ import annotations

from collections import OrderedDict

import grpc

from polc.cloud.ingest.decoding import MAX_CAMERAS, reference_refusal
from polc.cloud.ingest.validation import FrameRefused
from polc.cloud.store.interface import FrameRecord
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.frame_spec import FrameGeometry, FrameSpec, alpha_to_code
from polc.shared.errors import BitstreamError, ReferenceMissing


class StoredSpecs:
    """Per camera: (seq, latent checksum, spec) of the last frame read (stored or being
    stored: frames of a camera arrive in order, the next P-frame names the last one)."""

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

    def track(self, camera_id: str, seq: int, container: FrameContainer) -> bool:
        """A frame read (in stream order): an unbound compact P-frame is bound to the spec
        of the camera's last frame if it names that one; a bound frame's spec is remembered.
        False: still unbound, look its reference up in the store (:meth:`bind_stored`).
        FrameRefused (malformed) when the frame does not fit that spec."""
        if not container.is_bound:
            link, last = container.reference, self._last.get(camera_id)
            if link is None or last is None or (link.seq, link.checksum) != last[:2]:
                return False
            _bind(container, last[2])
        self.remember(camera_id, seq, container)
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
        _bind(container, spec)


def _bind(container: FrameContainer, spec: FrameSpec) -> None:
    """Bind a compact P-frame; one that does not fit the spec is refused as malformed."""
    try:
        container.bind(spec)
    except BitstreamError as exc:
        raise FrameRefused(grpc.StatusCode.INVALID_ARGUMENT, "malformed", str(exc)) from None
