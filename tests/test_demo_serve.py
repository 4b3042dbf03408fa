"""`polc demo --serve` as an operator runs it (a child process, small test codec and
teacher): it prints the console URL and an operator token, the console answers with that
token (a camera appears and its frames keep coming while the clip loops), and SIGINT stops
everything cleanly (exit 0)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def _get(url: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_demo_serve_runs_until_interrupted(tmp_path: Path, small_codec_file, teacher_file):
    args = [
        sys.executable,
        "-c",
        "import sys; from polc.app.cli import main; sys.exit(main())",
        "demo",
        "--serve",
        "--http-listen",
        "127.0.0.1:0",
        "--weights",
        str(small_codec_file),
        "--teacher",
        str(teacher_file),
        "--frames",
        "4",
        "--width",
        "128",
        "--height",
        "64",
        "--fps",
        "10",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path
    )
    lines: list[str] = []
    out = proc.stdout
    assert out is not None
    reader = threading.Thread(target=lambda: lines.extend(out), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        url = token = None
        while time.monotonic() < deadline and not (url and token):
            text = "".join(lines)
            if m := re.search(r"console: +(http://\S+)", text):
                url = m[1]
            if m := re.search(r"operator token: +(\S+)", text):
                token = m[1]
            assert proc.poll() is None, text
            time.sleep(0.1)
        assert url and token, "".join(lines)
        assert _get(url + "api/me", None)[0] == 401
        status, me = _get(url + "api/me", token)
        assert status == 200 and me["role"] == "operator"
        seen = 0
        while time.monotonic() < deadline and seen <= 4:  # more frames than the clip: it loops
            cameras = _get(url + "api/cameras", token)[1]["cameras"]
            seen = max([c.get("frame_count", 0) for c in cameras] or [0])
            time.sleep(0.2)
        assert seen > 4 and cameras[0]["camera_id"] == "demo-cam" and cameras[0]["connected"]
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(60)
        reader.join(10)
    text = "".join(lines)
    assert rc == 0, text
    assert "polc demo --serve: stopped" in text and "Traceback" not in text
    assert token not in text.split("operator token:")[0]  # printed once, where it belongs
