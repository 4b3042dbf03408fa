"""`polc frames search` and `polc events`: search stored frames by what the cloud saw in
them, list / show / watch events (the SearchService). Bad input: one line, exit 2."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from google.protobuf.json_format import MessageToDict

from polc.cloud.client import add_connection_args, connect, set_seconds
from polc.shared.errors import PolcError
from polc.v1 import search_pb2, search_pb2_grpc

_STATES = {"any": 0, "active": 1, "ended": 2}
_KINDS = {1: "start", 2: "update", 3: "end"}


def _filters(parser: argparse.ArgumentParser) -> None:
    add_connection_args(parser)
    parser.add_argument(
        "--camera", action="append", default=[], metavar="ID", help="camera (repeatable)"
    )
    parser.add_argument(
        "--class",
        dest="classes",
        action="append",
        default=[],
        metavar="NAME",
        help="object class, e.g. bus (repeatable)",
    )
    parser.add_argument("--since", type=float, metavar="UNIX_S", help="capture time from")
    parser.add_argument("--until", type=float, metavar="UNIX_S", help="capture time to")
    parser.add_argument("--min-score", type=float, default=0.0, metavar="S", help="in [0, 1]")
    parser.add_argument("--limit", type=int, default=100, help="at most this many")
    parser.add_argument("--json", action="store_true", help="print JSON lines")


def register_search(parser: argparse.ArgumentParser) -> None:
    """`polc frames search`."""
    _filters(parser)
    parser.add_argument(
        "--min-count", type=int, default=1, metavar="N", help="matching objects per frame"
    )
    parser.set_defaults(handler=_search)


def register(parser: argparse.ArgumentParser) -> None:
    """`polc events [list | show ID | watch]`."""
    sub = parser.add_subparsers(dest="events_command", metavar="SUBCOMMAND", required=True)
    listing = sub.add_parser("list", help="events matching the filters, oldest first")
    _filters(listing)
    listing.add_argument("--state", choices=sorted(_STATES), default="any")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="one event, with its path")
    add_connection_args(show)
    show.add_argument("id")
    show.set_defaults(handler=_show)
    watch = sub.add_parser("watch", help="print live results and events until Ctrl-C")
    add_connection_args(watch)
    watch.add_argument(
        "--camera", action="append", default=[], metavar="ID", help="camera (repeatable)"
    )
    watch.add_argument("--events-only", action="store_true", help="leave out frame results")
    watch.add_argument("--count", type=int, default=0, help="stop after N updates (0 = never)")
    watch.set_defaults(handler=_watch)


def _check(args: argparse.Namespace) -> None:
    if not 0.0 <= args.min_score <= 1.0:
        raise PolcError(f"--min-score {args.min_score} is outside [0, 1]")
    if args.limit < 1:
        raise PolcError("--limit must be at least 1")
    if getattr(args, "min_count", 1) < 1:
        raise PolcError("--min-count must be at least 1")


def _time(ts) -> str:
    return ts.ToDatetime(tzinfo=UTC).isoformat(timespec="milliseconds")


def _search_filter(args: argparse.Namespace) -> search_pb2.SearchFilter:
    """The SearchFilter of the filter flags (checked: PolcError, exit 2)."""
    _check(args)
    found = search_pb2.SearchFilter(
        camera_ids=args.camera, classes=args.classes, min_score=args.min_score
    )
    if args.since is not None:
        set_seconds(found.start_time, args.since, "--since")
    if args.until is not None:
        set_seconds(found.end_time, args.until, "--until")
    return found


def _listed(args: argparse.Namespace, method: str, request, items: str) -> Iterator[Any]:
    """Every item of every page the SearchService ``method`` answers ``request`` with, at
    most ``--limit``."""
    request.page_size = min(args.limit, 1000)
    shown = 0
    with connect(args) as conn:
        call = getattr(search_pb2_grpc.SearchServiceStub(conn.channel), method)
        while True:
            page = call(request, **conn.call_options)
            for item in getattr(page, items):
                if shown == args.limit:
                    return
                shown += 1
                yield item
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token


def _event_line(e: search_pb2.Event) -> str:
    state = search_pb2.EventState.Name(e.state).removeprefix("EVENT_STATE_").lower()
    return (
        f"{e.id}\t{e.camera_id}\t{e.label}\t{state}\t{_time(e.start_time)} .. "
        f"{_time(e.end_time)}\tseq {e.start_seq}-{e.end_seq}\tbest #{e.best_seq} "
        f"{e.best_score:.2f}"
    )


def _search(args: argparse.Namespace) -> int:
    request = search_pb2.SearchFramesRequest(filter=_search_filter(args), min_count=args.min_count)
    for m in _listed(args, "SearchFrames", request, "frames"):
        if args.json:
            print(json.dumps(MessageToDict(m)))
            continue
        objects = ", ".join(
            f"{d.label} {d.score:.2f}"
            for d in m.result.detections
            if not args.classes or d.label in args.classes
        )
        print(f"{m.frame.camera_id}\t{m.frame.seq}\t{_time(m.frame.capture_time)}\t{objects}")
    return 0


def _list(args: argparse.Namespace) -> int:
    request = search_pb2.ListEventsRequest(
        filter=_search_filter(args),
        state=_STATES[args.state],  # type: ignore[arg-type]  # an EventState number
    )
    for e in _listed(args, "ListEvents", request, "events"):
        print(json.dumps(MessageToDict(e)) if args.json else _event_line(e))
    return 0


def _show(args: argparse.Namespace) -> int:
    with connect(args) as conn:
        stub = search_pb2_grpc.SearchServiceStub(conn.channel)
        request = search_pb2.GetEventRequest(id=args.id)
        event = stub.GetEvent(request, **conn.call_options).event
    print(json.dumps(MessageToDict(event), indent=2))
    return 0


def _watch(args: argparse.Namespace) -> int:
    request = search_pb2.WatchResultsRequest(camera_ids=args.camera, events_only=args.events_only)
    with connect(args) as conn:
        stub = search_pb2_grpc.SearchServiceStub(conn.channel)
        seen = 0
        for update in stub.WatchResults(request, metadata=conn.call_options["metadata"]):
            if update.HasField("event_change"):
                change = update.event_change
                print(f"{_KINDS.get(change.kind, '?')}\t{_event_line(change.event)}")
            else:
                r = update.result
                objects = ", ".join(f"{d.label} {d.score:.2f}" for d in r.detections)
                print(f"frame\t{r.camera_id}\t{r.seq}\t{objects}")
            seen += 1
            if args.count and seen >= args.count:
                break
    return 0
