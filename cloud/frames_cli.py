"""`polc frames`: list a camera's stored frames (or every camera) on the cloud;
`polc frames search`: frames by the objects detected in them (polc.cloud.search_cli)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC

import grpc
from google.protobuf.json_format import MessageToDict

from polc.cloud.client import (
    add_connection_args,
    call_metadata,
    open_channel,
    remote_error,
    set_seconds,
)
from polc.cloud.search_cli import register_search
from polc.v1 import query_pb2, query_pb2_grpc


def register(parser: argparse.ArgumentParser) -> None:
    add_connection_args(parser)
    parser.add_argument("--camera", help="camera id (omitted: list cameras)")
    parser.add_argument("--since", type=float, metavar="UNIX_S", help="capture time from")
    parser.add_argument("--until", type=float, metavar="UNIX_S", help="capture time to")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many frames")
    parser.add_argument("--results", action="store_true", help="also print each frame's top class")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.set_defaults(handler=_frames)
    sub = parser.add_subparsers(dest="frames_command", metavar="SUBCOMMAND")
    register_search(
        sub.add_parser(
            "search",
            help="frames by detected objects (class, score, count, cameras, time)",
            description="Stored frames whose results hold at least --min-count objects of "
            "the --class(es) scoring at least --min-score, oldest first.",
        )
    )


def _time(ts) -> str:
    """ISO 8601 with milliseconds (exact: a float would round 9999-12-31 into year 10000)."""
    return ts.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds")


def _frames(args: argparse.Namespace) -> int:
    md = call_metadata(args)
    with open_channel(args) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        try:
            if not args.camera:
                for cam in stub.ListCameras(
                    query_pb2.ListCamerasRequest(), timeout=args.timeout, metadata=md
                ).cameras:
                    if args.json:
                        print(json.dumps(MessageToDict(cam)))
                    else:
                        state = "connected" if cam.connected else "offline"
                        print(
                            f"{cam.camera_id}\t{cam.frame_count} frames\tseq "
                            f"{cam.first_seq}-{cam.last_seq}\t{cam.stored_bytes} B\t{state}"
                        )
                return 0
            request = query_pb2.ListFramesRequest(
                camera_id=args.camera, page_size=min(args.limit, 1000)
            )
            if args.since is not None:
                set_seconds(request.start_time, args.since, "--since")
            if args.until is not None:
                set_seconds(request.end_time, args.until, "--until")
            shown = 0
            while shown < args.limit:
                page = stub.ListFrames(request, timeout=args.timeout, metadata=md)
                for f in page.frames[: args.limit - shown]:
                    shown += 1
                    top = ""
                    if args.results and f.has_result:
                        r = stub.GetResults(
                            query_pb2.GetResultsRequest(camera_id=f.camera_id, seq=f.seq),
                            timeout=args.timeout,
                            metadata=md,
                        ).result
                        top = (
                            f"\t{r.classes[0].label} {r.classes[0].score:.2f}" if r.classes else ""
                        )
                    if args.json:
                        print(json.dumps(MessageToDict(f)))
                    else:
                        enh = "+enh" if f.has_enhancement else ""
                        print(
                            f"{f.seq}\t{_time(f.capture_time)}\t{f.width}x{f.height}\t"
                            f"α={f.alpha:.3f}\t{f.base_bpp:.4f} bpp{enh}{top}"
                        )
                if not page.next_page_token:
                    break
                request.page_token = page.next_page_token
        except grpc.RpcError as exc:
            raise remote_error(exc) from None
    return 0
