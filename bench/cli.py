"""`polc bench WHICH`: print a table, write JSON (and plots); WHICH is listed in BENCHES."""

from __future__ import annotations

import argparse
import importlib

BENCHES = [
    ("codec", "rate-distortion, speed and JPEG comparison of the codec", "polc.bench.codec"),
    ("determinism", "torch vs ONNX Runtime entropy-parameter mismatches", "polc.bench.determinism"),
    ("tasks", "machine-task accuracy vs rate (adapter, pixel, JPEG)", "polc.bench.tasks"),
    ("data", "difficulty check of the synthetic classification data", "polc.bench.data_difficulty"),
    ("edge", "edge throughput per stage, torch vs ONNX Runtime", "polc.bench.edge"),
    (
        "cloud-ingest",
        "cloud ingest: frames/s, ack latency, ingest path vs bare grpc.aio",
        "polc.bench.cloud_ingest",
    ),
    (
        "analysis-lag",
        "ack latency and analysis lag at twice the analysis capacity",
        "polc.bench.analysis_lag",
    ),
    (
        "scaleout",
        "3 replicas behind nginx on PostgreSQL, one killed mid-run",
        "polc.bench.scaleout",
    ),
    (
        "fuzz-wire",
        "mutated messages to a real cloud: every answer typed, no crash, no hang",
        "polc.bench.fuzz_wire",
    ),
    (
        "soak",
        "N streams for M minutes against one cloud process, its RSS tracked",
        "polc.bench.soak",
    ),
    ("video", "fixed-camera clips: polc vs x264 / x265 at equal detection mAP", "polc.bench.video"),
]

ALIASES = {"cloud-ingest": ["cloud"]}  # its first name, kept for existing scripts


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", metavar="WHICH", required=True)
    for name, help_text, module_name in BENCHES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("polc"):
                continue
            raise
        if not hasattr(module, "add_arguments"):  # module registers its own sub-command
            module.register(sub)
            continue
        p = sub.add_parser(
            name, aliases=ALIASES.get(name, []), help=help_text, description=help_text
        )
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
