"""`polc export onnx`: the edge's ONNX Runtime models."""

from __future__ import annotations

import argparse
from pathlib import Path


def _onnx(args: argparse.Namespace) -> int:
    # command handler (rule a): torch
    from polc.shared.codec.onnx_backend import export_onnx
    from polc.shared.codec.runtime import Codec

    codec = Codec.load(args.weights)
    paths = export_onnx(codec.model, Path(args.out))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    o = sub.add_parser("onnx", help="export g_a, h_a and T_enc to ONNX")
    o.add_argument("--out", default="onnx", help="output folder")
    o.add_argument("--weights", default=None, help="codec weights (default: bundled)")
    o.set_defaults(handler=_onnx)
