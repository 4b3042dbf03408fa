"""A real small filesystem for the full-disk tests: a tmpfs mounted on a test directory
(needs root, as in CI; the tests skip with the reason otherwise)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "512k") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the full-disk tests mount a tmpfs: they need root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path, name: str = "filler") -> Path:
    """Write a file in ``directory`` until the filesystem is full; returns its path."""
    path = directory / name
    with open(path, "ab", buffering=0) as f:
        while True:
            try:
                f.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return path
