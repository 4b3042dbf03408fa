"""`promtool check metrics` accepts the exposition of the cloud and the edge (naming rules,
units, histogram layout). Skipped where promtool is not installed (.ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest

from polc.cloud.metrics import CloudMetrics
from polc.edge.metrics import EdgeMetrics

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)"
)


@pytest.mark.parametrize(
    "make", [lambda: CloudMetrics().registry, lambda: EdgeMetrics().registry], ids=["cloud", "edge"]
)
def test_promtool_accepts_the_exposition(make):
    text = generate_latest(make())
    run = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert run.returncode == 0, (run.stdout + run.stderr).decode()
    assert b"polc_" in text
