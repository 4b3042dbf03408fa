"""Data-parallel training (``training/distributed.py`` in ``TrainLoop``): two gloo processes
on the CPU end with identical weights and the loss of one process on the same samples; a run
interrupted on two processes resumes on one and continues the loss curve; ``--nproc``
relaunches the command under torchrun."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from polc.app import cli
from polc.training import launch
from polc.training.distributed import Ranks
from polc.training.launch import ACCUMULATE_ENV, AMP_ENV, strip_launch_flags, torchrun_command

TRAINER = Path(__file__).with_name("distributed_trainer.py")


def _train(run_dir: Path, steps: int, nproc: int = 1, stop: int | None = None) -> None:
    args = [str(TRAINER), str(run_dir), str(steps), *([str(stop)] if stop else [])]
    cmd = (
        [sys.executable, *args]
        if nproc == 1
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            *args,
        ]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, timeout=120, capture_output=True)


def _losses(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "curves" / "tiny_train.csv", newline="") as fh:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(fh)}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def test_two_processes_match_one_and_resume_on_any_world_size(tmp_path):
    one, two, resumed = tmp_path / "one", tmp_path / "two", tmp_path / "resumed"
    _train(one, 8)
    _train(two, 8, nproc=2)
    _train(resumed, 8, nproc=2, stop=4)  # interrupted after the step-4 checkpoint
    assert sorted(_losses(resumed)) == [1, 2, 3, 4]
    _train(resumed, 8)  # resumed by a single process

    ranks = [_weights(two / f"rank{r}.pt") for r in (0, 1)]
    for name, w in ranks[0].items():
        assert torch.equal(w, ranks[1][name]), name  # both ranks end with identical weights
    alone = _weights(one / "rank0.pt")
    for name, w in ranks[0].items():
        assert torch.allclose(w, alone[name], atol=1e-5), name

    base = _losses(one)
    assert sorted(base) == list(range(1, 9))
    for curve in (_losses(two), _losses(resumed)):
        assert sorted(curve) == list(range(1, 9))  # a resumed run continues the curve
        for step, loss in base.items():
            assert loss == pytest.approx(curve[step], abs=1e-5), step
    assert base[8] < base[1]
    with open(two / "curves" / "tiny_eval.csv", newline="") as fh:
        assert [r["step"] for r in csv.DictReader(fh)] == ["4", "8"]
    assert (two / "curves" / "tiny.png").stat().st_size > 0


def test_shard_slices_the_global_batch_by_rank_and_micro_batch():
    batch = torch.arange(8)
    assert Ranks(1, 2).shard(batch).tolist() == [4, 5, 6, 7]
    assert Ranks(1, 2).shard(batch, part=1, parts=2).tolist() == [6, 7]
    assert Ranks().shard(batch) is batch
    with pytest.raises(Exception, match="multiple of 3"):
        Ranks(0, 3).shard(batch)


def test_nproc_relaunches_the_same_command_under_torchrun(monkeypatch):
    argv = ["train", "adapter", "--nproc", "2", "--steps", "5", "--accumulate", "2"]
    launched: list[list[str]] = []
    monkeypatch.setattr(sys, "argv", ["polc", *argv])
    monkeypatch.setattr(launch.subprocess, "run", lambda cmd, **_: launched.append(cmd) or _Done())
    monkeypatch.delenv("RANK", raising=False)
    for name in (ACCUMULATE_ENV, AMP_ENV):  # restored after the test
        monkeypatch.setenv(name, "")
    assert cli.main(argv) == 0
    assert launched == [torchrun_command(2, strip_launch_flags(argv))]
    assert "--nproc" not in launched[0]
    assert launched[0][-7:] == [
        *("polc.app.cli", "train", "adapter"),
        *("--steps", "5", "--accumulate", "2"),
    ]
    assert os.environ[ACCUMULATE_ENV] == "2"  # inherited by the processes torchrun starts
    monkeypatch.setenv("RANK", "0")  # a torchrun child runs the command itself
    assert launch.main_with_nproc(2, lambda: 7) == 7


class _Done:
    returncode = 0
