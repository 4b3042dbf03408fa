"""x264 / x265 through Debian's ffmpeg: a clip of RGB frames in, the elementary stream's size
and the decoded RGB frames out (the pixel baselines of ``polc bench video``).

Low-delay settings, as a fixed camera streaming live would use them::

    raw rgb24 ─► ffmpeg -c:v libx264|libx265 -preset medium -crf C -g GOP -bf 0
                 -pix_fmt yuv420p -f h264|hevc ─► elementary stream (bits counted)
    elementary stream ─► ffmpeg -f rawvideo -pix_fmt rgb24 ─► decoded frames

Frames go through pipes (no PNGs); the elementary stream is a temporary file. Encode and
decode times are wall times of the ffmpeg processes (process start and the RGB ↔ YUV
conversions included), with the encoder limited to ``threads`` threads.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: encoder name -> (ffmpeg library, elementary-stream muxer)
ENCODERS = {"x264": ("libx264", "h264"), "x265": ("libx265", "hevc")}


@dataclass
class CodedClip:
    """One clip through one encoder at one CRF."""

    decoded: np.ndarray  #: (frames, H, W, 3) uint8
    bits: int  #: size of the elementary stream
    encode_s: float
    decode_s: float


def ffmpeg_version() -> str | None:
    """First line of ``ffmpeg -version``, or None without ffmpeg."""
    if shutil.which("ffmpeg") is None:
        return None
    out = subprocess.run(["ffmpeg", "-hide_banner", "-version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else None


def missing_encoder(name: str) -> str | None:
    """Why ``name`` (x264 / x265) cannot run here, or None when it can."""
    library = ENCODERS[name][0]
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not installed"
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    if f" {library} " not in out.stdout:
        return f"this ffmpeg has no {library} encoder"
    return None


def encode_command(
    name: str, width: int, height: int, fps: float, crf: int, gop: int, threads: int, out: Path
) -> list[str]:
    library, muxer = ENCODERS[name]
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        f"{fps:g}",
        "-i",
        "-",
        "-c:v",
        library,
        "-preset",
        "medium",
        "-crf",
        str(crf),
        "-g",
        str(gop),
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-threads",
        str(threads),
    ]
    if name == "x265":  # libx265 takes its thread pools and logging from its own parameters
        cmd += ["-x265-params", f"log-level=error:pools={threads}:frame-threads={threads}"]
    return [*cmd, "-f", muxer, str(out)]


def decode_command(name: str, stream: Path) -> list[str]:
    return [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        ENCODERS[name][1],
        "-i",
        str(stream),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]


def code_clip(
    name: str, frames: np.ndarray, fps: float, crf: int, gop: int, threads: int = 1
) -> CodedClip:
    """Encode ``frames`` ((N, H, W, 3) uint8) with x264 / x265 at ``crf`` and decode them."""
    n, height, width, _ = frames.shape
    with tempfile.TemporaryDirectory(prefix="polc-video-") as tmp:
        stream = Path(tmp) / f"clip.{ENCODERS[name][1]}"
        t0 = time.perf_counter()
        enc = subprocess.run(
            encode_command(name, width, height, fps, crf, gop, threads, stream),
            input=np.ascontiguousarray(frames, dtype=np.uint8).tobytes(),
            capture_output=True,
        )
        encode_s = time.perf_counter() - t0
        if enc.returncode != 0:
            raise RuntimeError(f"{name} encode failed: {enc.stderr.decode(errors='replace')}")
        bits = stream.stat().st_size * 8
        t0 = time.perf_counter()
        dec = subprocess.run(decode_command(name, stream), capture_output=True)
        decode_s = time.perf_counter() - t0
    if dec.returncode != 0:
        raise RuntimeError(f"{name} decode failed: {dec.stderr.decode(errors='replace')}")
    frame_bytes = width * height * 3
    if len(dec.stdout) != n * frame_bytes:
        raise RuntimeError(f"{name} decoded {len(dec.stdout) // frame_bytes} frames of {n}")
    decoded = np.frombuffer(dec.stdout, np.uint8).reshape(n, height, width, 3).copy()
    return CodedClip(decoded, bits, encode_s, decode_s)
