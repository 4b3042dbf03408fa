"""Type-check polc with mypy: ``python tools/typecheck.py [MYPY ARGS...]`` (``make typecheck``).

Why a runner: setup.py maps the folders onto ``polc.*`` (``shared/`` is ``polc.shared``, the
generated gRPC code in ``build/proto_gen/polc/v1`` is ``polc.v1``) and the editable install
resolves that with an import hook that mypy cannot follow. The runner builds the link tree
of ``tools/link_tree.py`` (``build/typecheck/polc/{shared,cloud,edge,...}`` -> the real
folders) and runs mypy inside it with the ``[tool.mypy]`` configuration of pyproject.toml.

What is checked: ``packages`` of ``[tool.mypy]`` (polc.app, polc.shared, polc.cloud and
polc.edge: the deployed code and the core). Extra arguments go to
mypy unchanged, e.g. ``python tools/typecheck.py -p polc.cloud`` checks one package
(targets on the command line replace the configured ones).

Paths in the report: mypy sees ``polc/shared/codec/model.py``; the runner rewrites every
``polc/<pkg>/`` prefix to the repository folder it links to, so the lines read
``shared/codec/model.py:12: error: ...`` (and ``build/proto_gen/polc/v1/...`` for the
generated code) and open in an editor from the repository root. Exit status is mypy's.
"""

from __future__ import annotations

import subprocess
import sys

import link_tree


def main(argv: list[str]) -> int:
    tree = link_tree.build()
    config = link_tree.ROOT / "pyproject.toml"
    cache = link_tree.ROOT / "build" / "mypy_cache"
    cmd = [sys.executable, "-m", "mypy", f"--config-file={config}", f"--cache-dir={cache}"]
    result = subprocess.run([*cmd, *argv], cwd=tree, capture_output=True, text=True)
    sys.stdout.write(link_tree.repo_path(result.stdout))
    sys.stderr.write(link_tree.repo_path(result.stderr))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
