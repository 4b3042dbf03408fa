"""Edge configuration, sources, pacing, encoder backends, metrics and the CLI."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from polc.app.cli import build_parser
from polc.edge import sources
from polc.edge.backends import build_encoder
from polc.edge.cli import _overrides
from polc.edge.config import EncoderSettings, SourceSettings, load_config
from polc.edge.metrics import EdgeMetrics
from polc.edge.spool import Spool
from polc.shared.errors import ConfigError, PolcError


def test_config_file_env_and_overrides(tmp_path: Path, monkeypatch) -> None:
    f = tmp_path / "edge.yaml"
    f.write_text(
        "camera_id: cam-9\nuplink: {server: 'cloud:1', token: from-file}\n"
        "rate: {mode: target, target_kbps: 200}\n"
    )
    monkeypatch.setenv("POLC_EDGE_UPLINK__TOKEN", "from-env")
    monkeypatch.setenv("POLC_EDGE_SOURCE__FPS", "7.5")
    c = load_config(f, {"uplink.server": "other:2", "spool.path": None})
    assert (c.camera_id, c.uplink.server, c.uplink.token) == ("cam-9", "other:2", "from-env")
    assert c.source.fps == 7.5 and c.rate.target_kbps == 200


@pytest.mark.parametrize(
    "data, field",
    [
        ("camera_id: 'bad id'", "camera_id"),
        ("uplink: {server: nope}", "uplink.server"),
        ("rate: {mode: target}", "rate"),
        ("source: {kind: folder}", "source"),
        ("spool: {max_bytes: 10}", "spool.max_bytes"),
        ("enhancement: {mode: sometimes}", "enhancement.mode"),
        ("encoder: {temporal: {motion_threshold: -1}}", "encoder.temporal.motion_threshold"),
        ("uplink: {tls: {cert_file: /nonexistent}}", "uplink.tls"),
        ("unknown_field: 1", "unknown_field"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, data: str, field: str) -> None:
    f = tmp_path / "edge.yaml"
    f.write_text(data + "\n")
    with pytest.raises(ConfigError, match=f"config field '{field}'"):
        load_config(f)


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "deploy" / "edge.example.yaml"
    config = load_config(example)
    assert config.camera_id and config.uplink.server


def test_folder_source_and_pacing(tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), i * 50, np.uint8)).save(tmp_path / f"{i}.png")
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "3.png")  # grey -> RGB
    s = SourceSettings(kind="folder", path=str(tmp_path), fps=20)
    t0 = time.monotonic()
    got = list(sources.paced(s))
    elapsed = time.monotonic() - t0
    assert [c.image.shape for c in got] == [(20, 30, 3)] * 4
    assert got[1].image[0, 0, 0] == 50 and [c.index for c in got] == [0, 1, 2, 3]
    assert 0.12 <= elapsed < 1.0  # 4 frames at 20 fps: 3 periods of 50 ms
    looped = SourceSettings(
        kind="folder", path=str(tmp_path), loop=True, realtime=False, max_frames=10
    )
    assert len(list(sources.paced(looped))) == 10


def test_pacing_stops_on_request() -> None:
    stop = threading.Event()
    s = SourceSettings(kind="synthetic", width=64, height=32, frames=100, fps=2)
    it = sources.paced(s, stop)
    next(it)
    threading.Timer(0.1, stop.set).start()
    t0 = time.monotonic()
    assert list(it) == []
    assert time.monotonic() - t0 < 0.45


def test_synthetic_source_carries_ground_truth() -> None:
    s = SourceSettings(kind="synthetic", width=128, height=64, frames=3, realtime=False)
    got = list(sources.paced(s))
    assert len(got) == 3 and got[0].image.shape == (64, 128, 3)
    assert isinstance(got[0].annotations, list)


def test_bad_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no images"):
        list(sources.paced(SourceSettings(kind="folder", path=str(tmp_path))))
    video = SourceSettings(kind="video", path=str(tmp_path / "clip.mp4"))
    try:
        import av  # noqa: F401
    except ImportError:
        try:
            import cv2  # noqa: F401
        except ImportError:
            with pytest.raises(PolcError, match="PyAV or OpenCV"):
                list(sources.paced(video))
            return
    with pytest.raises(ConfigError, match="does not exist"):
        list(sources.paced(video))


def test_onnx_backend_exports_once_and_matches_torch(
    tmp_path: Path, small_codec, small_codec_file, test_image
) -> None:
    settings = EncoderSettings(
        backend="onnx", weights=small_codec_file, cache_dir=tmp_path / "cache", threads=1
    )
    ort = build_encoder(settings, small_codec)
    assert ort.name == "onnx:cpu"
    exported = list((tmp_path / "cache").iterdir())
    assert len(exported) == 1 and {p.name for p in exported[0].iterdir()} == {
        "latents.onnx",
        "g_a.onnx",
        "h_a.onnx",
        "t_enc.onnx",
    }
    again = build_encoder(settings, small_codec)  # reuses the cache
    assert again.name == "onnx:cpu" and list((tmp_path / "cache").iterdir()) == exported
    torch_backend = build_encoder(EncoderSettings(weights=small_codec_file), small_codec)
    assert torch_backend.name == "torch:cpu"
    a = small_codec.decode(ort.encoder.encode(test_image, 0.6).to_bytes())
    b = small_codec.decode(torch_backend.encoder.encode(test_image, 0.6).to_bytes())
    assert np.array_equal(a.y_hat.numpy(), b.y_hat.numpy())
    with pytest.raises(ConfigError, match="encoder.onnx_dir"):
        build_encoder(EncoderSettings(backend="onnx", onnx_dir=tmp_path), small_codec)


def test_metrics_served(tmp_path: Path) -> None:
    m = EdgeMetrics()
    spool = Spool(tmp_path, "c", max_bytes=1 << 16, fsync=False)
    for _ in range(3):
        spool.append(0, 0.5, bytes(30000))
    m.observe_spool(spool)
    m.observe_sent(1000, now=0.0)
    m.observe_sent(1000, now=2.0)
    url = m.serve("127.0.0.1:0")
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    finally:
        m.close()
    assert 'polc_edge_frames_dropped_total{reason="spool_full"} 1.0' in text
    assert "polc_edge_spool_frames 2.0" in text
    assert "polc_edge_uplink_bytes_per_second 1000.0" in text
    for name in (
        "polc_edge_frames_captured_total",
        "polc_edge_encode_latency_seconds_bucket",
        "polc_edge_alpha",
        "polc_edge_spool_bytes",
    ):
        assert name in text


def test_cli_flags_map_onto_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "edge",
            "run",
            "--server",
            "h:1",
            "--camera",
            "c1",
            "--source",
            str(tmp_path),
            "--target-kbps",
            "300",
            "--backend",
            "onnx",
            "--spool",
            str(tmp_path / "s"),
            "--enhancement",
            "never",
        ]
    )
    c = load_config(None, _overrides(args))
    assert (c.uplink.server, c.camera_id, c.source.kind, c.source.path) == (
        "h:1",
        "c1",
        "folder",
        str(tmp_path),
    )
    assert (c.rate.mode, c.rate.target_kbps, c.encoder.backend, c.enhancement.mode) == (
        "target",
        300,
        "onnx",
        "never",
    )
    rtsp = build_parser().parse_args(["edge", "run", "--source", "rtsp://cam/1", "--alpha", "0.2"])
    c = load_config(None, _overrides(rtsp))
    assert (c.source.kind, c.rate.mode, c.rate.alpha) == ("rtsp", "fixed", 0.2)


def test_bench_edge_smoke(tmp_path: Path, small_codec_file) -> None:
    """The benchmark runs and writes its JSON (no timing is asserted)."""
    import json

    out = tmp_path / "bench.json"
    from polc.app.cli import main

    assert (
        main(
            [
                "bench",
                "edge",
                "--quick",
                "--sizes",
                "128x64",
                "--weights",
                str(small_codec_file),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    (config,) = report["configs"]
    assert config["torch"]["backend"] == "torch:cpu" and config["onnx"]["backend"] == "onnx:cpu"
    assert config["ort_over_torch"] > 0 and config["gflops_per_frame"] > 0


def test_cli_config_error_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    from polc.app.cli import main

    assert main(["edge", "run", "--server", "no-port", "--spool", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("polc: error: config field 'uplink.server'") and err.count("\n") == 1


class _FakeAvFrame:
    def __init__(self, i: int):
        self.i = i

    def to_ndarray(self, format: str) -> np.ndarray:  # noqa: A002 (PyAV's name)
        assert format == "rgb24"
        return np.full((8, 16, 3), self.i, np.uint8)


class _FakeAvContainer:
    def __init__(self, n: int):
        self.n, self.closed = n, False

    def decode(self, video: int):
        return (_FakeAvFrame(i) for i in range(self.n))

    def close(self) -> None:
        self.closed = True


def test_video_and_rtsp_sources_through_pyav(tmp_path: Path, monkeypatch) -> None:
    """The PyAV path with a stand-in module (PyAV itself is not a dependency)."""
    import sys
    import types

    opened = []

    def fake_open(url, options=None):
        opened.append((url, options))
        return _FakeAvContainer(5)

    monkeypatch.setitem(sys.modules, "av", types.SimpleNamespace(open=fake_open))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not really a video")
    got = list(sources.paced(SourceSettings(kind="video", path=str(clip), realtime=False)))
    assert [int(c.image[0, 0, 0]) for c in got] == [0, 1, 2, 3, 4]
    looped = SourceSettings(kind="video", path=str(clip), loop=True, realtime=False, max_frames=12)
    assert len(list(sources.paced(looped))) == 12
    live = SourceSettings(kind="rtsp", path="rtsp://cam/1", fps=1000)
    assert len(list(sources.paced(live))) >= 1
    assert opened[-1] == ("rtsp://cam/1", {"rtsp_transport": "tcp"})


def test_status_of_a_spool(tmp_path: Path, capsys) -> None:
    from polc.app.cli import main

    spool = Spool(tmp_path / "s", "cam-3", fsync=False)
    for _ in range(3):
        spool.append(0, 0.5, b"x" * 10, keep_enhancement=b"POLE")
    spool.ack(0)
    assert main(["edge", "status", "--spool", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "camera cam-3, next seq 3, 2 frames waiting" in out and "seq 1..2" in out
    assert "3 enhancement layers kept" in out
    assert main(["edge", "status", "--spool", str(tmp_path)]) == 2


def _frames(n: int, delay: float = 0.0):
    for i in range(n):
        time.sleep(delay)
        yield sources.Captured(np.zeros((2, 2, 3), np.uint8), i, i)


def test_prefetch_keeps_every_file_frame_in_order() -> None:
    stop = threading.Event()
    got = []
    for c in sources.prefetch(_frames(20), stop, depth=2):
        time.sleep(0.005)  # a slow encoder: the reader waits, nothing is skipped
        got.append(c.index)
    assert got == list(range(20))


def test_prefetch_drops_live_frames_when_the_encoder_is_busy() -> None:
    stop, dropped = threading.Event(), []
    got = []
    for c in sources.prefetch(
        _frames(30, 0.002), stop, depth=2, live=True, on_drop=lambda c: dropped.append(c.index)
    ):
        time.sleep(0.02)
        got.append(c.index)
    assert dropped and sorted(got + dropped) == list(range(30))
    assert got == sorted(got)


def test_prefetch_reraises_source_errors_and_stops() -> None:
    def broken():
        yield from _frames(2)
        raise OSError("camera unplugged")

    stop = threading.Event()
    it = sources.prefetch(broken(), stop)
    assert [next(it).index, next(it).index] == [0, 1]
    with pytest.raises(OSError, match="unplugged"):
        next(it)
    # a consumer that leaves early stops the reader thread
    before = threading.active_count()
    it = sources.prefetch(_frames(1000, 0.001), threading.Event())
    next(it)
    it.close()
    time.sleep(0.3)
    assert threading.active_count() <= before
