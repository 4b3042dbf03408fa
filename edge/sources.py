"""Frame sources: the synthetic traffic clip, a folder of images, a video file, RTSP/camera.

Every source yields :class:`Captured` frames (uint8 H×W×3 RGB) and is paced by
:func:`paced` at the configured frame rate. Video files and RTSP/camera URLs are read with
PyAV, or OpenCV when PyAV is not installed; neither is a dependency of polc, so asking for
them without either installed is a clear error naming the packages.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from polc.edge.config import SourceSettings
from polc.shared.data import render_video_frames
from polc.shared.errors import ConfigError, PolcError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm", ".tif", ".tiff"}


class SourceError(PolcError):
    """A source cannot be opened or read."""


@dataclass
class Captured:
    """One frame from a source."""

    image: np.ndarray  # uint8 (H, W, 3) RGB
    capture_time_ns: int  # wall clock when the frame was taken
    index: int  # position in the source
    annotations: list[dict] | None = None  # ground truth (synthetic clip only)


def synthetic_frames(s: SourceSettings) -> Iterator[tuple[np.ndarray, list[dict] | None]]:
    """The bundled synthetic traffic clip (deterministic for a seed; again and again with
    ``loop``)."""
    while True:
        yield from render_video_frames(s.frames, s.seed, (s.width, s.height))
        if not s.loop:
            return


def folder_frames(s: SourceSettings) -> Iterator[tuple[np.ndarray, list[dict] | None]]:
    """Images of a folder in name order (RGB; other modes converted)."""
    folder = Path(s.path or "")
    if not folder.is_dir():
        raise ConfigError(f"config field 'source.path': {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(
            f"config field 'source.path': no images in {folder} "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    while True:
        for f in files:
            try:
                with Image.open(f) as im:
                    yield np.asarray(im.convert("RGB")), None
            except OSError as exc:
                raise SourceError(f"cannot read image {f}: {exc}") from exc
        if not s.loop:
            return


def _video_library() -> str:
    try:  # optional dependencies: PyAV, else OpenCV
        import av  # noqa: F401

        return "av"
    except ImportError:
        pass
    try:  # optional dependency
        import cv2  # noqa: F401

        return "cv2"
    except ImportError:
        pass
    raise SourceError(
        "reading video files and RTSP/camera URLs needs PyAV or OpenCV, and "
        "neither is installed: pip install av (or opencv-python-headless)"
    )


def video_frames(s: SourceSettings) -> Iterator[tuple[np.ndarray, list[dict] | None]]:
    """Frames of a video file or a live RTSP/HTTP/camera URL (PyAV, else OpenCV)."""
    lib = _video_library()
    url = s.path or ""
    if s.kind == "video" and not Path(url).is_file():
        raise ConfigError(f"config field 'source.path': video file {url} does not exist")
    while True:
        if lib == "av":
            import av  # optional dependency (checked by _video_library)

            try:
                options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
                container = av.open(url, options=options)
            except Exception as exc:  # av raises many error types
                raise SourceError(f"cannot open {url}: {exc}") from exc
            try:
                for frame in container.decode(video=0):
                    yield frame.to_ndarray(format="rgb24"), None
            finally:
                container.close()
        else:
            import cv2  # optional dependency (checked by _video_library)

            cap = cv2.VideoCapture(int(url) if url.isdigit() else url)
            if not cap.isOpened():
                raise SourceError(f"cannot open {url} with OpenCV")
            try:
                while True:
                    ok, bgr = cap.read()
                    if not ok:
                        break
                    yield np.ascontiguousarray(bgr[:, :, ::-1]), None
            finally:
                cap.release()
        if not (s.loop and s.kind == "video"):
            return


def open_frames(s: SourceSettings) -> Iterator[tuple[np.ndarray, list[dict] | None]]:
    """The raw (unpaced) frame iterator of the configured source."""
    if s.kind == "synthetic":
        return synthetic_frames(s)
    if s.kind == "folder":
        return folder_frames(s)
    return video_frames(s)


class Pacer:
    """Releases one frame every 1/fps seconds (no drift; resyncs after a long stall)."""

    def __init__(self, fps: float, stop: threading.Event | None = None):
        self.period = 1.0 / fps
        self.stop = stop or threading.Event()
        self._next: float | None = None

    def due(self) -> bool:
        """Live sources: is it time for the next frame (else skip this one)?"""
        now = time.monotonic()
        if self._next is None or now >= self._next:
            self._next = max((self._next or now) + self.period, now - self.period)
            return True
        return False

    def wait(self) -> bool:
        """Files: sleep until the next slot. False when stopped meanwhile."""
        now = time.monotonic()
        if self._next is None:
            self._next = now
        delay = self._next - now
        if delay > 0 and self.stop.wait(delay):
            return False
        self._next = max(self._next + self.period, time.monotonic() - self.period)
        return not self.stop.is_set()


def paced(s: SourceSettings, stop: threading.Event | None = None) -> Iterator[Captured]:
    """The configured source at ``s.fps``: files are slowed down, live streams sampled."""
    stop = stop or threading.Event()
    pacer = Pacer(s.fps, stop)
    live = s.kind == "rtsp"
    count = 0
    for index, (image, anns) in enumerate(open_frames(s)):
        if stop.is_set():
            return
        if live:
            if not pacer.due():
                continue
        elif s.realtime and not pacer.wait():
            return
        yield Captured(image, time.time_ns(), index, anns)
        count += 1
        if s.max_frames is not None and count >= s.max_frames:
            return


def prefetch(
    frames: Iterator[Captured],
    stop: threading.Event,
    depth: int = 2,
    live: bool = False,
    on_drop: Callable[[Captured], None] | None = None,
) -> Iterator[Captured]:
    """Read the source in a thread so that capture overlaps encoding.

    Files wait for the encoder (nothing is skipped); a live source never waits — a frame
    that finds ``depth`` frames already queued is dropped (``on_drop``), so a slow encoder
    lowers the frame rate instead of letting the camera's buffer lag further and further.
    A source error is re-raised in the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    errors: list[BaseException] = []
    halt = threading.Event()  # the consumer is gone

    def stopped() -> bool:
        return stop.is_set() or halt.is_set()

    def put(item: object) -> bool:
        while not stopped():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for captured in frames:
                if stopped():
                    return
                if live:
                    try:
                        q.put_nowait(captured)
                    except queue.Full:
                        if on_drop is not None:
                            on_drop(captured)
                elif not put(captured):
                    return
        except BaseException as exc:  # re-raised by the consumer
            errors.append(exc)
        finally:
            put(done)

    thread = threading.Thread(target=produce, name="polc-source", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set() or (not thread.is_alive() and q.empty()):
                    break
                continue
            if item is done:
                break
            yield item
        if errors:
            raise errors[0]
    finally:
        halt.set()  # a consumer that left early stops the reader too
