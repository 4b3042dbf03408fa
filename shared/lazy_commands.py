"""Sub-commands whose module is imported only when the command line names them.

``polc``'s command groups and ``polc bench``'s benchmarks are tables of ``LazyCommand``
(name, help, module). ``add_lazy_commands`` lists every one for ``--help`` and attaches a
command's arguments (importing its module, often torch with it) only once argparse picks that
command, so ``polc --help`` / ``polc bench --help`` stay fast and a broken optional
dependency only breaks its own command.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

#: adds a command's arguments (and its handler) to its parser, from the command's module
Attach = Callable[[ModuleType, argparse.ArgumentParser], None]


@dataclass(frozen=True)
class LazyCommand:
    """One sub-command: its name, one-line help, the module that defines it, other names."""

    name: str
    help: str
    module: str
    aliases: tuple[str, ...] = ()


class _LazySubParsers(argparse._SubParsersAction):
    """A sub-parsers action that attaches the chosen command's arguments before parsing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pending: dict[str, Callable[[], None]] = {}

    def __call__(self, parser, namespace, values, option_string=None):
        attach = self.pending.pop(values[0], None)
        if attach is not None:
            attach()
        super().__call__(parser, namespace, values, option_string)


def add_lazy_commands(
    parser: argparse.ArgumentParser,
    commands: Sequence[LazyCommand],
    attach: Attach,
    *,
    dest: str,
    metavar: str,
    required: bool = True,
) -> None:
    """Add ``commands`` as sub-commands of ``parser``."""
    sub = parser.add_subparsers(
        dest=dest, metavar=metavar, required=required, action=_LazySubParsers
    )
    assert isinstance(sub, _LazySubParsers)
    for command in commands:
        p = sub.add_parser(
            command.name, aliases=list(command.aliases), help=command.help, description=command.help
        )

        def attach_command(command: LazyCommand = command, p: argparse.ArgumentParser = p) -> None:
            attach(importlib.import_module(command.module), p)

        for name in (command.name, *command.aliases):
            sub.pending[name] = attach_command
