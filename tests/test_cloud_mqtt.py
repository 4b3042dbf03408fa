"""MQTT notifications against a real mosquitto broker the test starts (127.0.0.1, a free
port): a streamed clip's events arrive as new / end messages with their JSON, object counts
and availability are published; the broker killed and restarted mid-clip: ingest does not
stall, the publisher reconnects and no end event is lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from fixtures.cloud import make_config
from ingest_client import EdgeClient
from search_clip import CLIP_FRAMES, TRACKS, ClipAnalyzer

from polc.cloud.server_thread import ServerThread

MOSQUITTO = "/usr/sbin/mosquitto"
pytestmark = pytest.mark.skipif(
    not os.access(MOSQUITTO, os.X_OK),
    reason=f"{MOSQUITTO} not installed (Debian package mosquitto; .ci/run installs it)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on 127.0.0.1:port with persistence in ``root`` (survives a restart)."""

    def __init__(self, root: Path):
        self.root, self.port = root, _free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {root}/\nlog_dest file {root}/log.txt\n"
            # as root mosquitto would switch to its own user, which cannot write here
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start: " + (self.root / "log.txt").read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves the persistent sessions
            self.proc.wait(10)


class Subscriber:
    """A persistent-session QoS-1 subscriber of ``polc/#`` (reconnects by itself)."""

    def __init__(self, port: int):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.connected = threading.Event()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-sub", clean_session=False)
        c.on_connect = lambda c, u, f, rc, p: (c.subscribe("polc/#", qos=1), self.connected.set())
        c.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        c.reconnect_delay_set(0.1, 0.5)
        c.connect("127.0.0.1", port)
        c.loop_start()
        self.client = c

    def events(self) -> list[dict]:
        return [json.loads(p) for t, p, _ in list(self.messages) if t == "polc/events"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _send(edge: EdgeClient, seqs: range, payload: bytes) -> None:
    for seq in seqs:
        edge.frame(seq, payload)
        if seq % 4 == 3:
            time.sleep(0.05)
    got = edge.collect(len(seqs), timeout=20)  # acks keep coming: ingest never waits on MQTT
    assert [a.seq for a in got["ack"]] == list(seqs)


def test_events_reach_the_broker_across_a_restart(tmp_path, small_codec, small_codec_file, frames):
    broker = Broker(tmp_path / "broker")
    broker.start()
    sub = Subscriber(broker.port)
    assert sub.connected.wait(10)
    cfg = make_config(
        tmp_path,
        small_codec_file,
        None,
        **{
            "mqtt.enabled": True,
            "mqtt.port": broker.port,
            "events.end_after_frames": 3,
            "events.end_after_seconds": 0.5,
        },
    )
    server = ServerThread(cfg, small_codec).start()
    try:
        server.server.analysis.analyzer = ClipAnalyzer()
        assert server.server.mqtt.connected.wait(10)
        edge = EdgeClient(server.address, "cam-mq")
        assert edge.recv().HasField("hello_ack")
        _send(edge, range(0, 10), frames["plain"])
        broker.stop()  # mid-clip: events keep happening while the broker is away
        _send(edge, range(10, 22), frames["plain"])
        time.sleep(0.5)
        broker.start()
        _send(edge, range(22, CLIP_FRAMES), frames["plain"])
        edge.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ends = [e for e in sub.events() if e["type"] == "end"]
            if len(ends) >= len(TRACKS):
                break
            time.sleep(0.1)
        events = sub.events()
        ends = {e["event"]["id"]: e["event"] for e in events if e["type"] == "end"}
        assert sorted((e["label"], e["start_seq"], e["end_seq"]) for e in ends.values()) == sorted(
            (t[0], t[1], t[2]) for t in TRACKS.values()
        )
        assert all(e["state"] == "ended" for e in ends.values())
        news = [e["event"] for e in events if e["type"] == "new"]
        assert {e["id"] for e in news} <= set(ends) and {e["label"] for e in news} >= {"bus"}
        topics = {t: p for t, p, _ in sub.messages}  # the last message of each topic
        assert topics.get("polc/available") == b"online"
        assert (topics.get("polc/cam-mq/bus"), topics.get("polc/cam-mq/person")) == (b"1", b"0")
        assert any(t == "polc/cam-mq/car" and p == b"2" for t, p, _ in sub.messages)
    finally:
        server.stop()
        sub.close()
        broker.stop()
