"""The cloud's HTTP JSON API end to end on a real server (127.0.0.1, free port) with the
synthetic clip streamed in: every endpoint, the auth roles (bearer header and login
session), typed JSON errors naming the field, β < 1 pulling the enhancement layer from the
edge, the β = 1 picture cache, the live stream (SSE) delivering a new frame, HTTPS with the
cloud's certificate, and no HTTP server without ``http.listen``."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from console_support import (
    ADMIN_TOKEN,
    CAM_TOKEN,
    CAMERA,
    OP_TOKEN,
    Console,
    running_console,
)
from search_clip import CLIP_FRAMES, TRACKS, clip_detections

from polc.cloud.http.auth import SESSION_COOKIE

PNG = b"\x89PNG\r\n\x1a\n"
ENDPOINTS = [
    "/api/me",
    "/api/status",
    "/api/cameras",
    f"/api/cameras/{CAMERA}/frames",
    "/api/frames",
    f"/api/frames/{CAMERA}/0",
    f"/api/frames/{CAMERA}/0/image",
    "/api/events",
    "/api/events/abc",
    "/api/live",
]


@pytest.fixture(scope="module")
def console(tmp_path_factory, small_codec, small_codec_file, frames) -> Iterator[Console]:
    with running_console(
        tmp_path_factory.mktemp("http"), small_codec, small_codec_file, frames
    ) as c:
        c.stream(range(CLIP_FRAMES), frames["base"])
        c.wait_analysed(CLIP_FRAMES)
        deadline = time.monotonic() + 20  # every clip event ended (camera quiet)
        while time.monotonic() < deadline:
            if len(c.get("/api/events?state=ended").json()["events"]) >= len(TRACKS):
                break
            time.sleep(0.1)
        yield c


def test_roles_header_and_login_session(console):
    for path in ENDPOINTS:
        for token, status, reason in (
            (None, 401, "unauthenticated"),
            ("not-a-known-token-at-all", 401, "unauthenticated"),
            (CAM_TOKEN, 403, "permission_denied"),
        ):
            reply = console.get(path, token=token)
            assert (reply.status, reply.json()["reason"]) == (status, reason), (path, token)
    assert console.get("/api/me", token=ADMIN_TOKEN).json()["role"] == "admin"
    assert console.get("/api/me").json() == {"name": "ops", "role": "operator", "auth": True}

    assert console.request("POST", "/api/login", body={"token": CAM_TOKEN}).status == 403
    assert console.request("POST", "/api/login", body={"token": "x" * 20}).status == 401
    bad = console.request("POST", "/api/login", body={"nope": 1})
    assert (bad.status, bad.json()["field"]) == (400, "token")
    login = console.request("POST", "/api/login", body={"token": OP_TOKEN})
    assert login.status == 200 and login.json()["role"] == "operator"
    cookie = login.headers["Set-Cookie"]
    assert OP_TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    assert session.startswith(f"{SESSION_COOKIE}=")
    assert console.get("/api/me", token=None, cookie=session).json()["name"] == "ops"
    assert console.get("/api/status", token=None, cookie=session).status == 200
    assert console.request("POST", "/api/logout", cookie=session).status == 200
    gone = console.get("/api/me", token=None, cookie=session)
    assert gone.status == 401 and "log in again" in gone.json()["error"]
    # the console page and its scripts load without a token (they hold no data)
    page = console.get("/", token=None)
    assert page.status == 200 and b'src="/static/main.js"' in page.body
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert console.get("/static/main.js", token=None).status == 200


def test_status_cameras_and_timeline(console):
    cameras = console.get("/api/cameras").json()["cameras"]
    clip = next(c for c in cameras if c["camera_id"] == CAMERA)
    assert clip["connected"] and clip["frame_count"] == CLIP_FRAMES
    assert (clip["first_seq"], clip["last_seq"]) == (0, CLIP_FRAMES - 1)
    assert clip["kbps"] > 0 and clip["stored_bytes"] > 0
    status = console.get("/api/status").json()
    assert status["store"]["frames"] == sum(c["frame_count"] for c in cameras)
    assert status["store"]["bytes"] > 0 and status["store"]["backend"] == "sqlite"
    assert status["fleet"]["cameras_connected"] >= 1 and CAMERA in status["fleet"]["connected"]

    first = console.get(f"/api/cameras/{CAMERA}/frames?page_size=20").json()
    assert [f["seq"] for f in first["frames"]] == list(range(20))
    assert first["next_after_seq"] == 19
    rest = console.get(f"/api/cameras/{CAMERA}/frames?after_seq=19&page_size=20").json()
    assert [f["seq"] for f in rest["frames"]] == list(range(20, CLIP_FRAMES))
    assert rest["next_after_seq"] is None
    unknown = console.get("/api/cameras/cam-nowhere/frames")
    assert unknown.status == 404 and unknown.json()["reason"] == "not_found"


def test_search_events_and_frame_detail(console):
    persons = console.get(f"/api/frames?classes=person&cameras={CAMERA}").json()
    person_seqs = [
        s for s in range(CLIP_FRAMES) if any(d.label == "person" for d in clip_detections(s))
    ]
    assert [f["seq"] for f in persons["frames"]] == person_seqs
    two_cars = console.get("/api/frames?classes=car&min_count=2").json()["frames"]
    assert [f["seq"] for f in two_cars] == list(range(2, 15))
    page = console.get("/api/frames?classes=car,bus&page_size=5").json()
    assert len(page["frames"]) == 5 and page["next_page_token"]
    more = console.get(
        f"/api/frames?classes=car,bus&page_size=5&page_token={page['next_page_token']}"
    )
    assert [f["seq"] for f in more.json()["frames"]] == list(range(5, 10))
    t0 = persons["frames"][0]["capture_time_us"]
    window = console.get(f"/api/frames?classes=person&start_time={t0 + 1}").json()["frames"]
    assert [f["seq"] for f in window] == person_seqs[1:]

    events = console.get("/api/events").json()["events"]
    assert sorted((e["label"], e["start_seq"], e["end_seq"]) for e in events) == sorted(
        (t[0], t[1], t[2]) for t in TRACKS.values()
    )
    assert {e["state"] for e in events} == {"ended"}
    one = console.get(f"/api/events/{events[0]['id']}").json()
    assert one == events[0]
    buses = console.get("/api/events?classes=bus&state=ended").json()["events"]
    assert [e["label"] for e in buses] == ["bus"]
    assert console.get("/api/events/" + "f" * 32).status == 404

    frame = console.get(f"/api/frames/{CAMERA}/7").json()
    assert frame["seq"] == 7 and frame["alpha"] > 0 and frame["base_bpp"] > 0
    assert frame["capture_time_us"] == 1_700_000_000_000_000 + 7 * 40_000
    assert frame["connected"] and not frame["analysis_pending"]
    got = [(d["label"], tuple(d["box"])) for d in frame["result"]["detections"]]
    assert got == [(d.label, d.box) for d in clip_detections(7)]


def test_images_at_beta_pull_the_enhancement_layer(console):
    path = f"/api/frames/{CAMERA}/3/image"
    full = console.get(path)
    assert full.status == 200 and full.body.startswith(PNG)
    assert full.headers["Content-Type"] == "image/png"
    assert full.headers["X-Polc-Enhancement-Fetched"] == "false"
    assert full.headers["X-Polc-Beta"] == "1"
    cached = console.get(path + "?beta=1")
    assert cached.body == full.body  # the β = 1 cache (and a stored frame never changes)
    assert len(console.server.server.http.app[_cache_key()]._items) >= 1
    before = list(console.answered)
    half = console.get(path + "?beta=0.5")
    assert half.status == 200 and half.body.startswith(PNG) and half.body != full.body
    assert half.headers["X-Polc-Enhancement-Fetched"] == "true"
    assert float(half.headers["X-Polc-Enhancement-Bpp"]) > 0
    assert console.answered == [*before, 3]
    zero = console.get(path + "?beta=0")
    assert zero.headers["X-Polc-Enhancement-Fetched"] == "false"  # stored now
    assert zero.body not in (full.body, half.body) and console.answered == [*before, 3]


def _cache_key():
    from polc.cloud.http.images import IMAGE_CACHE

    return IMAGE_CACHE


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        (f"/api/frames/{CAMERA}/0/image?beta=1.5", 400, "beta"),
        (f"/api/frames/{CAMERA}/0/image?beta=nan", 400, "beta"),
        (f"/api/frames/{CAMERA}/0/image?beta=x", 400, "beta"),
        (f"/api/frames/{CAMERA}/-1", 400, "seq"),
        (f"/api/frames/{CAMERA}/abc/image", 400, "seq"),
        (f"/api/frames/{CAMERA}/99999999999999999999", 400, "seq"),
        ("/api/frames/bad%20camera/0", 400, "camera"),
        ("/api/frames?min_score=2", 400, "min_score"),
        ("/api/frames?min_count=-1", 400, "min_count"),
        ("/api/frames?page_size=5000", 400, "page_size"),
        ("/api/frames?page_token=nope", 400, "page_token"),
        ("/api/frames?cameras=bad%20id", 400, "cameras"),
        ("/api/frames?classes=a%01", 400, "classes"),
        ("/api/frames?start_time=yesterday", 400, "start_time"),
        ("/api/frames?start_time=2&end_time=1", 400, "end_time"),
        ("/api/events?state=open", 400, "state"),
        ("/api/events/no-such-id!", 400, "id"),
        ("/api/live?cameras=bad%20id", 400, "cameras"),
        (f"/api/cameras/{CAMERA}/frames?after_seq=x", 400, "after_seq"),
        (f"/api/frames/{CAMERA}/{CLIP_FRAMES + 5}", 404, None),
        (f"/api/frames/{CAMERA}/{CLIP_FRAMES + 5}/image", 404, None),
        ("/api/frames/cam-nowhere/0/image?beta=0.5", 404, None),
        ("/api/nothing-here", 404, None),
    ],
)
def test_typed_errors(console, path, status, field):
    reply = console.get(path)
    body = reply.json()
    assert reply.status == status, body
    assert body["error"] and body["reason"]
    assert body.get("field") == field


def test_iso_times_and_unreachable_enhancement(console, frames):
    iso = console.get("/api/frames?classes=bus&start_time=2023-11-14T22:13:21Z").json()
    assert [f["seq"] for f in iso["frames"]] == list(range(26, 34))
    # a frame of a camera whose edge is gone: β < 1 cannot be had (409, says why)
    from ingest_client import EdgeClient

    other = EdgeClient(console.server.address, "cam-gone", token=CAM_TOKEN)
    assert other.recv().HasField("hello_ack")
    other.frame(0, frames["base"])
    assert other.collect(1)["ack"]
    other.close()
    reply = console.get("/api/frames/cam-gone/0/image?beta=0.5")
    assert reply.status == 409 and reply.json()["reason"] == "unavailable"
    assert "not connected" in reply.json()["error"]


def _sse(console: Console, path: str, out: list, ready: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", console.port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {OP_TOKEN}"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    kind = None
    while True:
        line = resp.readline().decode()
        if not line:
            break
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            out.append((kind, json.loads(line[6:])))
            if kind == "hello":
                ready.set()
            if kind == "frame":
                break
    conn.close()


def test_live_stream_delivers_a_new_frame(console, frames):
    out: list = []
    ready = threading.Event()
    reader = threading.Thread(
        target=_sse, args=(console, "/api/live?cameras=cam-live", out, ready), daemon=True
    )
    reader.start()
    assert ready.wait(10)
    from ingest_client import EdgeClient

    edge = EdgeClient(console.server.address, "cam-live", token=CAM_TOKEN)
    assert edge.recv().HasField("hello_ack")
    edge.frame(0, frames["base"])
    assert edge.collect(1)["ack"]
    reader.join(20)
    edge.close()
    assert out[0] == ("hello", {"cameras": ["cam-live"]})
    kind, frame = out[-1]
    assert kind == "frame" and frame["camera_id"] == "cam-live" and frame["seq"] == 0
    assert frame["base_bpp"] > 0 and "detections" in frame["result"]


def test_https_with_the_cloud_certificate(tmp_path, small_codec, small_codec_file, frames, pki):
    overrides = {"tls.cert_file": str(pki / "server.pem"), "tls.key_file": str(pki / "server.key")}
    creds = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes())
    with running_console(tmp_path, small_codec, small_codec_file, frames, creds, **overrides) as c:
        c.ssl_context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        assert c.get("/api/me").json()["name"] == "ops"
        login = c.request("POST", "/api/login", body={"token": OP_TOKEN})
        assert "Secure" in login.headers["Set-Cookie"]


def test_no_http_server_without_http_listen(cloud):
    assert cloud.server.http is None and cloud.server.http_port is None
