"""The house's habits, enforced: type checking, import layers, the proto contract, one version.

mypy and import-linter run through ``tools/typecheck.py`` / ``tools/lint_imports.py`` (a link
tree that mirrors setup.py's folder -> ``polc.*`` mapping); buf lints ``proto/`` and checks it
against the last release's image in ``proto/releases/``. CONTRIBUTING.md describes each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RELEASED_PROTOS = ROOT / "proto" / "releases" / "polc-v1-0.1.0.binpb"
BUF_INSTALL = "npm ci --prefix tools (pinned in tools/package.json; `make install` runs it)"


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _buf() -> str:
    local = ROOT / "tools" / "node_modules" / ".bin" / "buf"
    found = str(local) if local.exists() else shutil.which("buf")
    if found is None:
        pytest.skip(f"buf is not installed: {BUF_INSTALL}")
    return found


@pytest.mark.slow
def test_mypy_is_clean():
    """The scope is [tool.mypy] packages in pyproject.toml."""
    result = _run([sys.executable, "tools/typecheck.py"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    """`ruff format --check`: the tree is formatted (`make format` fixes it)."""
    result = _run([sys.executable, "-m", "ruff", "format", "--check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_are_kept():
    """[tool.importlinter]: the layers, the core off the wire, no cycles between siblings."""
    result = _run([sys.executable, "tools/lint_imports.py"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint():
    result = _run([_buf(), "lint"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_against_the_last_release():
    result = _run([_buf(), "breaking", "--against", str(RELEASED_PROTOS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_version_the_package_metadata():
    """pyproject.toml's version is the one; the installed metadata, ``polc --version`` and the
    Helm chart's appVersion (the image tag's default) follow it."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("polc") == declared, "reinstall: pip install -e . (metadata is stale)"
    chart = yaml.safe_load((ROOT / "deploy" / "helm" / "polc" / "Chart.yaml").read_text())
    assert chart["appVersion"] == declared
    shown = _run([sys.executable, "-m", "polc.app.cli", "--version"])
    assert shown.stdout.strip() == f"polc {declared}", shown.stdout + shown.stderr
