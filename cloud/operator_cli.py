"""`polc reconstruct`: fetch a stored frame's reconstruction at β from the cloud."""

from __future__ import annotations

import argparse
from pathlib import Path

from polc.cloud.client import add_connection_args, connect, set_seconds
from polc.shared.errors import PolcError
from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc


def register(parser: argparse.ArgumentParser) -> None:
    add_connection_args(parser)
    parser.add_argument("--camera", required=True, help="camera id")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--seq", type=int, help="frame sequence number")
    which.add_argument(
        "--time", type=float, metavar="UNIX_S", help="latest frame captured at or before this time"
    )
    parser.add_argument(
        "--beta",
        type=float,
        default=1.0,
        help="β in [0, 1]: 1 machine-oriented, 0 best fidelity (default 1)",
    )
    parser.add_argument("-o", "--out", required=True, help="output image (.png or .jpg)")
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="how long the server may wait for the edge's enhancement layer",
    )
    parser.set_defaults(handler=_reconstruct)


def _reconstruct(args: argparse.Namespace) -> int:
    if not 0.0 <= args.beta <= 1.0:
        raise PolcError(f"--beta must be in [0, 1], got {args.beta}")
    out = Path(args.out)
    jpeg = out.suffix.lower() in (".jpg", ".jpeg")
    request = reconstruct_pb2.ReconstructRequest(
        camera_id=args.camera,
        beta=args.beta,
        format=reconstruct_pb2.IMAGE_FORMAT_JPEG if jpeg else reconstruct_pb2.IMAGE_FORMAT_PNG,
    )
    if args.seq is not None:
        request.seq = args.seq
    else:
        set_seconds(request.capture_time, args.time, "--time")
    if args.wait:
        if args.wait < 0:
            raise PolcError(f"--wait must not be negative, got {args.wait}")
        set_seconds(request.enhancement_wait, args.wait, "--wait")
    with connect(args) as conn:
        stub = reconstruct_pb2_grpc.ReconstructServiceStub(conn.channel)
        resp = stub.Reconstruct(request, **conn.call_options)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(resp.image)
    fetched = " (enhancement fetched from the edge)" if resp.enhancement_fetched else ""
    print(
        f"{out}: {resp.width}x{resp.height} {args.camera}#{resp.frame.seq} α={resp.alpha:.3f} "
        f"β={resp.beta:g} base {resp.base_bpp:.4f} bpp + enhancement "
        f"{resp.enhancement_bpp:.4f} bpp{fetched}"
    )
    return 0
