"""SearchService end to end on a running server: a clip with known tracks streamed by a
(fake) edge gives one event per tracked object, the watch stream gets the live results and
event changes, SearchFrames / ListEvents / GetEvent answer over gRPC and through the CLI,
auth roles and typed errors (INVALID_ARGUMENT naming the field), a slow watcher is dropped.
Also the tracker on its own."""

from __future__ import annotations

import hashlib
import threading
import time

import grpc
import pytest
from fixtures.cloud import make_config
from ingest_client import EdgeClient
from search_clip import CLIP_FRAMES, TRACKS, ClipAnalyzer, clip_detections

from polc.app.cli import main
from polc.cloud.events.hub import FrameUpdate, LiveHub, WatchQueue
from polc.cloud.events.tracker import IoUTracker
from polc.cloud.server_thread import ServerThread
from polc.shared.results import Detection
from polc.v1 import search_pb2, search_pb2_grpc

Code = grpc.StatusCode
CAM_TOKEN = "camera-token-0123456789"
OP_TOKEN = "operator-token-0123456789"
ADMIN_TOKEN = "admin-token-0123456789ab"
_filter = search_pb2.SearchFilter


def test_tracker_gives_one_event_per_known_track():
    tracker = IoUTracker("cam", end_after_frames=3, end_after_s=10.0)
    changes = []
    for seq in range(CLIP_FRAMES):
        changes += tracker.update(seq, 1_000_000 + seq * 40_000, clip_detections(seq))
    changes += tracker.expire()
    starts = [c.event for c in changes if c.kind == "start"]
    ends = {c.event.id: c.event for c in changes if c.kind == "end"}
    assert len(starts) == len(TRACKS) and set(ends) == {e.id for e in starts}
    got = sorted((e.label, e.start_seq, e.end_seq) for e in ends.values())
    assert got == sorted((t[0], t[1], t[2]) for t in TRACKS.values())
    for e in ends.values():
        assert e.state == "ended" and len(e.path) == e.end_seq - e.start_seq + 1
        assert e.start_seq <= e.best_seq <= e.end_seq and e.best_score >= 0.6
    assert tracker.update(5, 0, clip_detections(5)) == []  # an old frame is not tracked


def test_an_event_starts_only_once_its_object_was_seen_in_min_hits_frames():
    tracker = IoUTracker("cam", min_hits=2, min_score=0.5)
    car = Detection("car", 0.9, (0.0, 0.0, 10.0, 10.0), 0)
    assert tracker.update(0, 0, [car, Detection("bus", 0.4, (50, 0, 60, 10), 4)]) == []
    assert tracker.update(1, 100_000, []) == [] and tracker.tracks == []  # candidate dropped
    assert tracker.update(2, 200_000, [car]) == [] and tracker.events == []
    changes = tracker.update(3, 300_000, [car])
    assert [c.kind for c in changes] == ["start"]
    assert changes[0].event.start_seq == 2 and len(changes[0].event.path) == 2
    assert [e.id for e in tracker.events] == [changes[0].event.id]
    assert [c.kind for c in tracker.expire()] == ["end"]


def test_a_full_watch_queue_drops_the_watcher_not_the_publisher():
    async def run():
        hub, slow, fast = LiveHub(), WatchQueue((), 2), WatchQueue(("cam",), 100)
        hub.subscribe(slow)
        hub.subscribe(fast)
        updates = [FrameUpdate("cam", i, i, None) for i in range(5)]  # type: ignore[arg-type]
        hub.publish(updates)
        assert slow.dropped and len(hub) == 1
        assert [(await slow.get()).seq for _ in range(2)] == [0, 1]
        assert await slow.get() is None
        assert [(await fast.get()).seq for _ in range(5)] == list(range(5))

    import asyncio

    asyncio.run(run())


@pytest.fixture
def served(tmp_path, small_codec, small_codec_file, store_backend):
    tokens = [
        {"name": "edge", "token": CAM_TOKEN, "role": "camera", "cameras": ["*"]},
        {
            "name": "ops",
            "token_sha256": hashlib.sha256(OP_TOKEN.encode()).hexdigest(),
            "role": "operator",
        },
        {"name": "root", "token": ADMIN_TOKEN, "role": "admin"},
    ]
    cfg = make_config(
        tmp_path,
        small_codec_file,
        None,
        **{
            "auth.tokens": tokens,
            "events.end_after_frames": 3,
            "events.end_after_seconds": 0.5,
            "events.watch_queue": 10_000,
            **store_backend,
        },
    )
    with ServerThread(cfg, small_codec) as server:
        server.server.analysis.analyzer = ClipAnalyzer()
        yield server


def _md(token: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def _watch(stub, out: list, ready: threading.Event, **kw) -> threading.Thread:
    call = stub.WatchResults(search_pb2.WatchResultsRequest(**kw), metadata=_md(OP_TOKEN))

    def pump():
        call.initial_metadata()  # subscribed
        ready.set()
        try:
            for update in call:
                out.append(update)
        except grpc.RpcError as exc:
            out.append(exc)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    thread.call = call  # type: ignore[attr-defined]
    return thread


def test_clip_events_search_and_watch(served, frames, capsys):
    channel = grpc.insecure_channel(served.address)
    stub = search_pb2_grpc.SearchServiceStub(channel)
    live, ready = [], threading.Event()
    watcher = _watch(stub, live, ready, camera_ids=["cam-clip"])
    other, other_ready = [], threading.Event()
    elsewhere = _watch(stub, other, other_ready, camera_ids=["cam-else"])
    assert ready.wait(10) and other_ready.wait(10)

    edge = EdgeClient(served.address, "cam-clip", token=CAM_TOKEN)
    assert edge.recv().HasField("hello_ack")
    for seq in range(CLIP_FRAMES):
        edge.frame(seq, frames["plain"])
        if seq % 4 == 3:
            time.sleep(0.05)  # let the analysis keep pace (batches in seq order)
    got = edge.collect(CLIP_FRAMES)
    assert len(got["ack"]) == CLIP_FRAMES
    edge.close()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ended = stub.ListEvents(
            search_pb2.ListEventsRequest(state=search_pb2.EVENT_STATE_ENDED), metadata=_md(OP_TOKEN)
        ).events
        if len(ended) >= len(TRACKS):
            break
        time.sleep(0.1)
    events = stub.ListEvents(search_pb2.ListEventsRequest(), metadata=_md(OP_TOKEN)).events
    assert sorted((e.label, e.start_seq, e.end_seq) for e in events) == sorted(
        (t[0], t[1], t[2]) for t in TRACKS.values()
    )
    assert all(e.state == search_pb2.EVENT_STATE_ENDED for e in events)
    one = stub.GetEvent(search_pb2.GetEventRequest(id=events[0].id), metadata=_md(ADMIN_TOKEN))
    assert (
        one.event == events[0]
        and len(one.event.path) == one.event.end_seq - one.event.start_seq + 1
    )
    page = stub.ListEvents(
        search_pb2.ListEventsRequest(filter=_filter(classes=["car"]), page_size=1),
        metadata=_md(OP_TOKEN),
    )
    assert len(page.events) == 1 and page.next_page_token
    rest = stub.ListEvents(
        search_pb2.ListEventsRequest(
            filter=_filter(classes=["car"]), page_size=1, page_token=page.next_page_token
        ),
        metadata=_md(OP_TOKEN),
    )
    assert [e.label for e in rest.events] == ["car"] and not rest.next_page_token

    # search over gRPC: exactly the frames with a person
    persons = stub.SearchFrames(
        search_pb2.SearchFramesRequest(filter=_filter(classes=["person"], camera_ids=["cam-clip"])),
        metadata=_md(OP_TOKEN),
    ).frames
    person_seqs = [
        s for s in range(CLIP_FRAMES) if any(d.label == "person" for d in clip_detections(s))
    ]
    assert [m.frame.seq for m in persons] == person_seqs
    assert all(any(d.label == "person" for d in m.result.detections) for m in persons)
    two_cars = stub.SearchFrames(
        search_pb2.SearchFramesRequest(filter=_filter(classes=["car"]), min_count=2),
        metadata=_md(OP_TOKEN),
    ).frames
    assert [m.frame.seq for m in two_cars] == list(range(2, 15))

    # the watch got every frame's result and every event's start and end, live
    watcher.call.cancel()
    elsewhere.call.cancel()
    watcher.join(5)
    results = [
        u.result.seq
        for u in live
        if isinstance(u, search_pb2.WatchResultsResponse) and u.HasField("result")
    ]
    assert results == list(range(CLIP_FRAMES))
    changes = [
        u.event_change
        for u in live
        if isinstance(u, search_pb2.WatchResultsResponse) and u.HasField("event_change")
    ]
    kinds = {}
    for c in changes:
        kinds.setdefault(c.event.id, []).append(c.kind)
    assert len(kinds) == len(TRACKS)
    for seq_kinds in kinds.values():
        assert seq_kinds[0] == search_pb2.EVENT_CHANGE_KIND_START
        assert seq_kinds[-1] == search_pb2.EVENT_CHANGE_KIND_END
    assert [u for u in other if isinstance(u, search_pb2.WatchResultsResponse)] == []

    # the CLI
    base = ["--server", served.address, "--token", OP_TOKEN]
    assert main(["frames", "search", *base, "--class", "bus", "--camera", "cam-clip"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split("\t")[1]) for line in lines] == list(range(26, 34))
    assert main(["events", "list", *base, "--class", "person", "--state", "ended"]) == 0
    assert "person\tended" in capsys.readouterr().out
    assert main(["events", "show", *base, events[0].id]) == 0
    assert events[0].id in capsys.readouterr().out
    assert main(["frames", "search", *base, "--class", "bus", "--since", "1e20"]) == 2
    assert main(["events", "list", "--server", served.address, "--token", CAM_TOKEN]) == 2
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    channel.close()


def test_search_roles_and_typed_errors(served):
    channel = grpc.insecure_channel(served.address)
    stub = search_pb2_grpc.SearchServiceStub(channel)
    calls = [
        lambda md: stub.SearchFrames(search_pb2.SearchFramesRequest(), metadata=md),
        lambda md: stub.ListEvents(search_pb2.ListEventsRequest(), metadata=md),
        lambda md: stub.GetEvent(search_pb2.GetEventRequest(id="ab"), metadata=md),
        lambda md: next(iter(stub.WatchResults(search_pb2.WatchResultsRequest(), metadata=md))),
    ]
    for token, code in ((None, Code.UNAUTHENTICATED), (CAM_TOKEN, Code.PERMISSION_DENIED)):
        for call in calls:
            with pytest.raises(grpc.RpcError) as err:
                call(_md(token))
            assert err.value.code() == code, (token, err.value)
    for request, field in (
        (search_pb2.SearchFramesRequest(filter=_filter(min_score=2.0)), "min_score"),
        (search_pb2.SearchFramesRequest(page_size=5000), "page_size"),
        (search_pb2.SearchFramesRequest(page_token="nope"), "page_token"),
        (search_pb2.SearchFramesRequest(filter=_filter(camera_ids=["bad id"])), "camera_ids"),
        (search_pb2.ListEventsRequest(state=9), "state"),
        (search_pb2.ListEventsRequest(filter=_filter(classes=["a\x01"])), "classes"),
    ):
        method = (
            stub.SearchFrames
            if isinstance(request, search_pb2.SearchFramesRequest)
            else stub.ListEvents
        )
        with pytest.raises(grpc.RpcError) as err:
            method(request, metadata=_md(OP_TOKEN))
        assert err.value.code() == Code.INVALID_ARGUMENT and field in err.value.details()
    bad_time = search_pb2.SearchFramesRequest()
    bad_time.filter.start_time.seconds = -(10**15)
    with pytest.raises(grpc.RpcError) as err:
        stub.SearchFrames(bad_time, metadata=_md(OP_TOKEN))
    assert err.value.code() == Code.INVALID_ARGUMENT and "start_time" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.GetEvent(search_pb2.GetEventRequest(id="f" * 32), metadata=_md(OP_TOKEN))
    assert err.value.code() == Code.NOT_FOUND
    channel.close()
