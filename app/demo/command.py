"""The `polc demo` command group: its arguments and the choice between the streaming demo
(edge + cloud in one process), the same kept serving with the web console (``--serve``)
and the codec path alone.

Like every command group, register() does not import torch: the handler imports the path
it runs.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """The streaming demo; the codec path when the edge / cloud packages cannot be loaded."""
    try:
        # optional dependency: the edge and cloud packages (grpc, the generated polc.v1
        # code); command handler (rule a): torch
        from polc.app.demo.streaming import run_streaming
    except ImportError as exc:
        print(f"polc demo: the streaming part is unavailable ({exc}); running the codec path")
        return run_codec_only(args)
    return run_streaming(args)


def run_serve(args: argparse.Namespace) -> int:
    from polc.app.demo.serve import run_serve  # command handler (rule a): torch, grpc

    return run_serve(args)


def _handler(args: argparse.Namespace) -> int:
    if args.codec_only:
        return run_codec_only(args)
    return run_serve(args) if args.serve else run(args)


def run_codec_only(args: argparse.Namespace) -> int:
    from polc.app.demo.codec_only import run_codec_only  # command handler (rule a): torch

    return run_codec_only(args)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=24, help="clip length in frames")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--fps", type=float, default=6.0, help="capture rate of the clip")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--alpha", type=float, default=0.5, help="fixed rate parameter α")
    parser.add_argument(
        "--target-kbps", type=float, default=None, help="rate control instead of a fixed α"
    )
    parser.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch", help="edge encoder backend"
    )
    parser.add_argument("--out", default="polc-demo-output")
    parser.add_argument("--weights", default=None, help="codec weights (default: bundled)")
    parser.add_argument(
        "--teacher", default=None, help="teacher weights of the cloud analyzer (default: bundled)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the cloud to store and analyse the clip",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="keep the cloud, edge and metrics up this many seconds at the end",
    )
    parser.add_argument(
        "--codec-only",
        action="store_true",
        help="skip the edge/cloud streaming, run the codec path only",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the cloud, the edge (looping the clip) and the web console running "
        "until Ctrl-C; prints the console URL and an operator token",
    )
    parser.add_argument(
        "--http-listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="with --serve: the web console's address (default 127.0.0.1:8080; port 0 = any)",
    )
    parser.set_defaults(handler=_handler)
