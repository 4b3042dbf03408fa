"""`polc bench WHICH`: print a table, write JSON (and plots); WHICH is listed in BENCHES.

Each benchmark module defines ``add_arguments(parser)`` and ``run(args)``; it is imported
only when its name is on the command line (``polc bench --help`` imports none of them).
"""

from __future__ import annotations

import argparse
from types import ModuleType

from polc.shared.lazy_commands import LazyCommand, add_lazy_commands

BENCHES = [
    LazyCommand(
        "codec", "rate-distortion, speed and JPEG comparison of the codec", "polc.bench.codec"
    ),
    LazyCommand(
        "latent-width",
        "how much quality M latent channels can hold: linear bound and codec ceilings",
        "polc.bench.latent_width",
    ),
    LazyCommand(
        "determinism",
        "torch vs ONNX Runtime entropy-parameter mismatches",
        "polc.bench.determinism",
    ),
    LazyCommand(
        "tasks", "machine-task accuracy vs rate (adapter, pixel, JPEG)", "polc.bench.tasks"
    ),
    LazyCommand(
        "data",
        "difficulty check of the synthetic classification data",
        "polc.bench.data_difficulty",
    ),
    LazyCommand("edge", "edge throughput per stage, torch vs ONNX Runtime", "polc.bench.edge"),
    LazyCommand(
        "cloud-ingest",
        "cloud ingest: frames/s, ack latency, ingest path vs bare grpc.aio",
        "polc.bench.cloud_ingest",
        aliases=("cloud",),  # its first name, kept for existing scripts
    ),
    LazyCommand(
        "analysis-lag",
        "ack latency and analysis lag at twice the analysis capacity",
        "polc.bench.analysis_lag",
    ),
    LazyCommand(
        "scaleout",
        "3 replicas behind nginx on PostgreSQL, one killed mid-run",
        "polc.bench.scaleout",
    ),
    LazyCommand(
        "fuzz-wire",
        "mutated messages to a real cloud: every answer typed, no crash, no hang",
        "polc.bench.fuzz_wire",
    ),
    LazyCommand(
        "soak",
        "N streams for M minutes against one cloud process, its RSS tracked",
        "polc.bench.soak",
    ),
    LazyCommand(
        "video",
        "fixed-camera clips: polc vs x264 / x265 at equal detection mAP",
        "polc.bench.video",
    ),
    LazyCommand(
        "events",
        "the cloud's events against ground-truth tracks: MOTA, IDF1, coverage",
        "polc.bench.events",
    ),
    LazyCommand(
        "operating-point",
        "choose the cloud's detection thresholds and NMS on held-out frames",
        "polc.bench.operating_point",
    ),
]


def _attach(module: ModuleType, parser: argparse.ArgumentParser) -> None:
    module.add_arguments(parser)
    parser.set_defaults(handler=module.run)


def register(parser: argparse.ArgumentParser) -> None:
    add_lazy_commands(parser, BENCHES, _attach, dest="bench_command", metavar="WHICH")
