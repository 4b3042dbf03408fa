"""Command-line options the benchmarks declare alike.

``add_option`` declares a typed option in one call (the type is the default's), and
``add_output_arguments`` the ``--json`` / ``--plot`` pair of a benchmark's results.
"""

from __future__ import annotations

import argparse


def add_option(p: argparse.ArgumentParser, flag: str, default: int | float, help: str) -> None:
    """``flag`` with ``default``; a value on the command line is parsed as the default's type."""
    p.add_argument(flag, type=type(default), default=default, help=help)


def add_output_arguments(
    p: argparse.ArgumentParser, plot_help: str, json_default: str | None = None
) -> None:
    """``--json`` (where the results go) and ``--plot`` (the figure)."""
    json_help = "output JSON path" if json_default else "write the results here"
    p.add_argument("--json", default=json_default, help=json_help)
    p.add_argument("--plot", default=None, help=plot_help)
