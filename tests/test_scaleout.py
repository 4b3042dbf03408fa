"""The scale-out path end to end, short: nginx (grpc_pass) in front of 3 cloud replica
processes on PostgreSQL + one blob directory, 2 edges, one replica SIGKILLed mid-run; every
frame stored exactly once with a result (the cluster: bench/scaleout_cluster.py; the checks:
scaleout_checks.py; the benchmark measuring the full run is
`python -m polc.bench.scaleout --edges 16 --frames 400`)."""

from __future__ import annotations

import argparse

import pytest
from fixtures.store import postgres_dsn_or_skip
from scaleout_checks import store_check

from polc.bench import scaleout
from polc.bench.scaleout_cluster import add_cluster_arguments, cluster_run, nginx_available


@pytest.mark.slow
def test_replica_killed_mid_run_loses_and_duplicates_nothing(
    tmp_path, small_codec_file, teacher_file
):
    dsn = postgres_dsn_or_skip()
    if not nginx_available():
        pytest.skip("nginx not installed (Debian package nginx; .ci/run installs it)")
    parser = argparse.ArgumentParser()
    add_cluster_arguments(parser)
    args = parser.parse_args(
        [
            "--edges",
            "2",
            "--frames",
            "60",
            "--window",
            "8",
            "--dsn",
            dsn,
            "--workdir",
            str(tmp_path / "run"),
            "--timeout",
            "120",
        ]
    )
    with cluster_run(args, small_codec_file, teacher_file) as run:
        result = {**scaleout.measurements(run), **store_check(run)}
    assert result["ok"] and result["store_rows"] == 120
    assert result["store_lost"] == result["store_duplicated"] == 0
    assert result["store_without_result"] == result["store_corrupt_layers"] == 0
    assert result["killed"] is not None and result["acks"] >= 120
    assert result["reconnected_edges"] >= 1  # the killed replica had streams
