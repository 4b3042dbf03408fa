"""Scale-out benchmark: edges → nginx → 3 cloud replicas on PostgreSQL + one blob directory,
one replica SIGKILLed mid-run (the cluster: scaleout_cluster.py; the edges:
scaleout_edges.py). It measures; tests/test_scaleout.py checks that every frame is stored
exactly once with a result and byte-identical layers.

Reports frames/s (unique frames stored ÷ wall time of the streaming phase), the reconnect
gap (last ack before a stream error → first ack on the new stream, p50 / max over every
reconnect), how long after the kill the first reconnected edge was acked again, and the open
streams per replica. ``--restart-after S`` starts the killed replica again and
``--max-connection-age S`` makes the replicas end streams periodically, so that the edges
spread over the replicas again.

Needs `nginx` (Debian package) on PATH and PostgreSQL (``--dsn`` or
``POLC_TEST_POSTGRES_DSN``). Short by default (4 edges × 100 frames); full size:
``--edges 16 --frames 400``; rebalancing:
``--edges 16 --frames 240 --fps 8 --restart-after 2 --max-connection-age 5``.

    python -m polc.bench.scaleout [--edges 16 --frames 400] [--client uplink] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from polc.bench.scaleout_cluster import (
    DSN_ENV,
    ClusterRun,
    add_cluster_arguments,
    cluster_run,
    postgres_dsn,
    stored_rows,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_cluster_arguments(p)
    p.add_argument("--json", default=None, help="write the results here")


def measurements(run: ClusterRun) -> dict:
    """What the run measured: throughput, reconnects, streams per replica, edge counts."""
    args, edges, killed = run.args, run.edges, run.killed
    rows = stored_rows(run.dsn, run.cameras)
    gaps = [g for e in edges for g in e.stats.gaps]
    after_kill = (
        [t - killed["at"] for e in edges for t in e.stats.first_ack_after if t >= killed["at"]]
        if killed
        else []
    )
    return {
        "client": args.client,
        "edges": args.edges,
        "frames_per_edge": args.frames,
        "replicas": args.replicas,
        "fps_per_edge": args.fps,
        "window": args.window,
        "size": args.size,
        "frame_bytes": len(run.frames[0]),
        "replica_startup_seconds": round(run.startup_seconds, 2),
        "wall_seconds": round(run.wall_seconds, 3),
        "frames_stored": rows,
        "frames_per_second": round(rows / run.wall_seconds, 1),
        "killed": {k: v for k, v in killed.items() if k != "at"} or None,
        "max_connection_age_s": args.max_connection_age or None,
        "streams_per_replica_last": run.samples[-1] if run.samples else None,
        "reconnected_edges": sum(bool(e.stats.stream_failures) for e in edges),
        "reconnects": sum(len(e.stats.gaps) for e in edges),
        "stream_failures": sorted({c for e in edges for c in e.stats.stream_failures}),
        "reconnect_gap_p50_s": round(statistics.median(gaps), 3) if gaps else None,
        "reconnect_gap_max_s": round(max(gaps), 3) if gaps else None,
        "first_ack_after_kill_s": round(min(after_kill), 3) if after_kill else None,
        "acks": sum(e.stats.acks for e in edges),
        "duplicate_acks": sum(e.stats.duplicates for e in edges),
        # a resend acked as duplicate gets no FrameResult (the result is in the store)
        "edge_results_not_received": sum(args.frames - len(e.stats.results) for e in edges),
        "frame_errors": sum(e.stats.errors for e in edges),
    }


def report(result: dict) -> None:
    killed = result["killed"]
    print(
        f"scale-out: {result['edges']} edges ({result['client']} client) × "
        f"{result['frames_per_edge']} frames through nginx → {result['replicas']} replicas "
        "(PostgreSQL + shared blobs)"
    )
    if killed:
        print(
            f"  SIGKILL replica {killed['replica']} ({killed['streams']:.0f} open "
            f"streams) after {killed['acked']} acks"
            + (
                f", restarted after {killed['restarted_after_s']} s"
                if "restarted_after_s" in killed
                else ""
            )
        )
    if result["streams_per_replica_last"]:
        print(
            "  open streams per replica before the first edge finished: "
            f"{result['streams_per_replica_last']} (-1 = down)"
        )
    print(
        f"  {result['frames_stored']} frames stored in {result['wall_seconds']:.2f} s = "
        f"{result['frames_per_second']:.1f} frames/s; {result['reconnected_edges']} edges "
        f"reconnected ({', '.join(result['stream_failures']) or '-'}), reconnect gap "
        f"p50 {result['reconnect_gap_p50_s']} s, max {result['reconnect_gap_max_s']} s"
    )
    print(
        f"  {result['duplicate_acks']} resends acked as duplicates, "
        f"{result['frame_errors']} frame errors"
    )


def run(args: argparse.Namespace) -> int:
    if not postgres_dsn(args):
        print(f"scaleout: needs PostgreSQL: --dsn or ${DSN_ENV}", file=sys.stderr)
        return 2
    with cluster_run(args) as cluster:
        result = measurements(cluster)
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
