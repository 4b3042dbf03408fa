"""How ``polc train ... --nproc N`` becomes N processes: the command re-launched under
``torch.distributed.run --standalone`` (plain ``torchrun``) without ``--nproc``, with
``--accumulate`` / ``--no-amp`` passed on in the environment every process inherits
(read by ``training/distributed.py``). Torch-free: the CLI imports it at registration.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence

ACCUMULATE_ENV = "POLC_TRAIN_ACCUMULATE"
AMP_ENV = "POLC_TRAIN_AMP"


def torchrun_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """The command that runs ``polc`` ``argv`` as ``nproc`` processes on this machine."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "polc.app.cli",
        *argv,
    ]


def strip_launch_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (the children must not relaunch)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def set_scaling_env(accumulate: int, amp: bool) -> None:
    """Pass ``--accumulate`` / ``--no-amp`` to this process and the ones it launches."""
    os.environ[ACCUMULATE_ENV] = str(accumulate)
    os.environ[AMP_ENV] = "1" if amp else "0"


def main_with_nproc(nproc: int, run: Callable[[], int]) -> int:
    """``run()`` here, or with ``nproc`` > 1 outside torchrun (no ``RANK`` set) the same
    command re-launched as ``nproc`` processes; the exit code."""
    if nproc > 1 and "RANK" not in os.environ:
        command = torchrun_command(nproc, strip_launch_flags(sys.argv[1:]))
        return subprocess.run(command, check=False).returncode
    return run()
