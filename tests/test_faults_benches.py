"""The fault suite's long runs in small: `polc bench fuzz-wire` with a few hundred inputs and
`polc bench soak` for ~20 s with 4 streams (the acceptance runs and their numbers: README,
"Reliability")."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from polc.bench import fuzz_wire, soak


def _args(module, **values) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in values.items()])


@pytest.fixture(scope="module")
def fuzz_result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """400 fuzzed inputs (seed 0) against a real cloud process."""
    args = _args(fuzz_wire, inputs=400, workers=4, deadline=15)
    return asyncio.run(fuzz_wire.fuzz(args, tmp_path_factory.mktemp("fuzz")))


def test_fuzz_wire_no_crash_no_hang(fuzz_result: dict, tmp_path: Path) -> None:
    assert fuzz_result["crash"] == 0 and fuzz_result["hang"] == 0
    assert fuzz_result["server_starts"] == 1 and fuzz_result["server_exit_code"] == 0
    assert sum(fuzz_result["by_status"].values()) >= 400  # every input got an answer
    assert {"OK", "INVALID_ARGUMENT"} <= set(fuzz_result["by_status"])
    fuzz_wire.plot(fuzz_result, tmp_path / "fuzz.png")
    assert (tmp_path / "fuzz.png").stat().st_size > 0


def test_fuzz_wire_every_answer_typed(fuzz_result: dict) -> None:
    assert fuzz_result["unknown"] == 0, fuzz_result["failure_examples"]["unknown"]
    assert fuzz_result["untyped_internal"] == 0, fuzz_result["failure_examples"]


def test_soak_short(tmp_path: Path) -> None:
    args = _args(
        soak,
        streams=4,
        minutes=0.25,
        warmup=5,
        sample=1,
        fps=4,
        json=tmp_path / "soak.json",
        max_growth=50,
    )
    assert soak.run(args) == 0
    result = json.loads((tmp_path / "soak.json").read_text())
    assert not result["server_crashed"] and result["stored"] > 50
    assert result["frame_errors"] == 0 and result["stream_failures"] == 0
    assert len(result["samples"]) >= 15 and result["rss_start_mib"] > 0
    assert (tmp_path / "soak.png").stat().st_size > 0
