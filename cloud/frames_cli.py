"""`polc frames`: list a camera's stored frames (or every camera) on the cloud;
`polc frames search`: frames by the objects detected in them (polc.cloud.search_cli)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from polc.cloud.client import add_connection_args, connect, set_seconds
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
    with connect(args) as conn:
        stub = query_pb2_grpc.QueryServiceStub(conn.channel)
        if not args.camera:
            _print_cameras(
                args, stub.ListCameras(query_pb2.ListCamerasRequest(), **conn.call_options)
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
            page = stub.ListFrames(request, **conn.call_options)
            for f in page.frames[: args.limit - shown]:
                shown += 1
                top = ""
                if args.results and f.has_result:
                    query = query_pb2.GetResultsRequest(camera_id=f.camera_id, seq=f.seq)
                    r = stub.GetResults(query, **conn.call_options).result
                    top = f"\t{r.classes[0].label} {r.classes[0].score:.2f}" if r.classes else ""
                enh = "+enh" if f.has_enhancement else ""
                line = (
                    f"{f.seq}\t{_time(f.capture_time)}\t{f.width}x{f.height}\t"
                    f"α={f.alpha:.3f}\t{f.base_bpp:.4f} bpp{enh}{top}"
                )
                _print(args, f, line)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
    return 0


def _print_cameras(args: argparse.Namespace, response: query_pb2.ListCamerasResponse) -> None:
    for cam in response.cameras:
        state = "connected" if cam.connected else "offline"
        line = (
            f"{cam.camera_id}\t{cam.frame_count} frames\tseq "
            f"{cam.first_seq}-{cam.last_seq}\t{cam.stored_bytes} B\t{state}"
        )
        _print(args, cam, line)


def _print(args: argparse.Namespace, message: Message, line: str) -> None:
    """One row: the message as a JSON line with --json, else the tab-separated ``line``."""
    print(json.dumps(MessageToDict(message)) if args.json else line)
