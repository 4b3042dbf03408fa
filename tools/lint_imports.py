"""Check the import layers with import-linter: ``python tools/lint_imports.py [ARGS...]``.

The contracts are ``[tool.importlinter]`` in pyproject.toml (app > bench > training | cloud |
edge > core > wire; CONTRIBUTING.md "Layers"). import-linter (grimp) finds ``polc`` on
``sys.path`` and reads its files; the editable install's import hook hides the folder ->
``polc.*`` mapping from it, so like ``tools/typecheck.py`` this runs inside the link tree of
``tools/link_tree.py``. A broken contract is reported as module chains with line numbers
(``polc.shared.codec.runtime -> polc.cloud.server (l.123)``): ``polc.<pkg>.a.b`` is ``<pkg>/a/b.py``
(``polc.v1.*`` is the generated code). Extra arguments go to ``lint-imports`` unchanged
(e.g. ``--contract layers``). Exit status is import-linter's (0 = all contracts kept).
"""

from __future__ import annotations

import subprocess
import sys

import link_tree

_RUN = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def main(argv: list[str]) -> int:
    tree = link_tree.build()
    config = link_tree.ROOT / "pyproject.toml"
    cache = link_tree.ROOT / "build" / "import_linter_cache"
    cmd = [sys.executable, "-c", _RUN, str(config), "--no-logo", f"--cache-dir={cache}"]
    return subprocess.run([*cmd, *argv], cwd=tree).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
