"""The single `polc` console entry point.

Each command group lives next to the code it drives and exposes ``register(subparsers)``;
this module only wires them together, importing each group lazily so that ``polc --help``
stays fast and a broken optional dependency only breaks its own command. The rule for a
command group: its module-level imports and ``register()`` do not import torch; the
handlers import the heavy module they run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import version

from polc.shared.errors import PolcError
from polc.shared.lazy_commands import LazyCommand, add_lazy_commands

#: each group's module defines ``register(parser)``
COMMAND_GROUPS = [
    LazyCommand("data", "synthetic traffic-camera data", "polc.shared.data.cli"),
    LazyCommand(
        "train", "train the teacher, the codec (stages I/II) and the adapters", "polc.training.cli"
    ),
    LazyCommand("codec", "encode / decode / inspect .polc containers", "polc.shared.codec.cli"),
    LazyCommand(
        "export", "export models (ONNX) for the edge backends", "polc.shared.codec.export_cli"
    ),
    LazyCommand("bench", "benchmarks (print a table, write JSON)", "polc.bench.cli"),
    LazyCommand(
        "edge", "the edge node: capture, encode, spool and stream to the cloud", "polc.edge.cli"
    ),
    LazyCommand(
        "demo", "run the end-to-end demo on the bundled default model", "polc.app.demo.command"
    ),
    LazyCommand("cloud", "the cloud service (gRPC ingest, reconstruct, query)", "polc.cloud.cli"),
    LazyCommand(
        "reconstruct",
        "fetch a stored frame's reconstruction at β from the cloud",
        "polc.cloud.operator_cli",
    ),
    LazyCommand("frames", "list cameras / stored frames on the cloud", "polc.cloud.frames_cli"),
    LazyCommand(
        "events",
        "list / show / watch events (tracked objects) on the cloud",
        "polc.cloud.search_cli",
    ),
]


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The parser; a group's module is imported (and its ``register`` called) only when the
    command line names that group, so a command never pays for torch imports of groups it
    does not use (``--help`` lists every group without importing any)."""
    parser = argparse.ArgumentParser(prog="polc", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('polc')}")
    add_lazy_commands(
        parser,
        COMMAND_GROUPS,
        lambda module, group: module.register(group),
        dest="command",
        metavar="COMMAND",
        required=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("polc: interrupted", file=sys.stderr)
        return 130
    except (CliError, PolcError) as exc:  # typed errors carry a user-facing message
        print(f"polc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
