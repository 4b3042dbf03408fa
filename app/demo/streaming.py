"""The demo's main path: a cloud server and an edge node in this process, the synthetic
clip streamed from one to the other over loopback gRPC, then every frame reconstructed at
each β through the cloud, and the PNGs, PSNR and scraped metrics written to ``--out``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from PIL import Image

from polc.app.demo.frames import DemoFrame, truth_classes
from polc.app.demo.reconstruction import Reconstructions, psnr_by_beta, reconstruct_all
from polc.app.demo.report import print_frame, print_rate, print_summary
from polc.app.demo.setup import choose_analyzer, encoder_backend
from polc.app.demo.setup import cloud_config as demo_cloud_config
from polc.app.demo.setup import edge_config as demo_edge_config
from polc.cloud.server_thread import ServerThread
from polc.edge.node import EdgeNode
from polc.shared.codec.runtime import Codec
from polc.shared.errors import PolcError
from polc.shared.metrics.detection_matching import truth_boxes
from polc.shared.models.weights_file import temporal_path_for

log = logging.getLogger(__name__)


def _scrape(url: str | None, path: Path) -> None:
    if not url:
        return
    try:
        path.write_bytes(urllib.request.urlopen(url, timeout=5).read())
    except OSError as exc:
        log.warning("could not scrape %s: %s", url, exc)


def run_streaming(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    if not getattr(args, "verbose", False):  # the per-frame lines tell the story
        for name in ("polc.cloud", "polc.edge"):
            logging.getLogger(name).setLevel(logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    codec = Codec.load(args.weights, temporal_path=temporal_path_for(args.weights))
    analyzer = choose_analyzer(args)
    has_teacher = analyzer.has_teacher
    work = tempfile.TemporaryDirectory(prefix="polc-demo-")
    tmp = Path(work.name)
    cloud_config = demo_cloud_config(args, tmp, analyzer)
    edge_config = demo_edge_config(args, tmp)
    backend = encoder_backend(args, codec, tmp)
    print(
        f"polc demo: codec {codec.fingerprint[:12]}, {args.frames} synthetic frames "
        f"{args.width}x{args.height} at {args.fps:g} fps, edge backend {backend.name}, "
        f"analyzer: {analyzer.text}",
        flush=True,
    )

    cloud = ServerThread(cloud_config, codec).start()
    cloud_metrics = (
        f"http://127.0.0.1:{cloud.server.metrics_port}/metrics"
        if cloud.server.metrics_port
        else None
    )
    print(f"cloud: serving on {cloud.address}, metrics {cloud_metrics}", flush=True)
    edge_config.uplink.server = cloud.address
    frames: dict[int, DemoFrame] = {}
    early: dict[int, list] = {}  # acks / results that beat on_encoded (another thread)
    lock = threading.Lock()

    def apply(seq: int, f: DemoFrame, event: Any) -> None:
        if hasattr(event, "latency_seconds"):  # an AckInfo
            f.ack_s = event.latency_seconds
            if not has_teacher:
                print_frame(seq, f)
        else:  # a FrameResult
            f.top = [(c.label, c.score) for c in event.classes]
            f.boxes = [
                (d.label, d.score, (d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max))
                for d in event.detections
            ]
            print_frame(seq, f)

    def on_encoded(e: Any) -> None:
        f = DemoFrame(
            e.captured.image,
            truth_classes(e.captured.annotations),
            e.alpha,
            e.base_bpp,
            e.encode_seconds,
            e.base_bytes,
            e.key_frame,
            truth_boxes=truth_boxes(e.captured.annotations),
        )
        with lock:
            frames[e.seq] = f
            for event in early.pop(e.seq, []):
                apply(e.seq, f, event)

    def on_event(event: Any) -> None:
        with lock:
            f = frames.get(event.seq)
            if f is None:
                early.setdefault(event.seq, []).append(event)
            else:
                apply(event.seq, f, event)

    try:
        node = EdgeNode(
            edge_config, backend=backend, on_encoded=on_encoded, on_ack=on_event, on_result=on_event
        )
        chosen, images = asyncio.run(
            _stream_and_reconstruct(
                node, cloud.address, frames, has_teacher, args.timeout, args.hold, cloud_metrics
            )
        )
        print(f"edge: metrics {node.metrics_url}", flush=True)
        _scrape(cloud_metrics, out / "metrics-cloud.txt")
        _scrape(node.metrics_url, out / "metrics-edge.txt")
        node.metrics.close()
    finally:
        cloud.stop()
        work.cleanup()

    # -- outputs ---------------------------------------------------------------------
    Image.fromarray(frames[chosen].image).save(out / "original.png")
    for beta, png in images[chosen].items():
        (out / f"beta{beta}.png").write_bytes(png)
    done = [f for f in frames.values() if f.ack_s is not None]
    print_summary(done, args.frames, psnr_by_beta(frames, images), len(images))
    # what intra coding would have cost: the same frames, at the same α, as key frames
    print_rate(done, sum(len(codec.encode(f.image, f.alpha)) for f in done), args.fps)
    print(
        f"reconstructions of frame {chosen} at beta = 0, 0.5, 1: {out}/beta*.png "
        f"(original: {out}/original.png); metrics scraped to {out}/metrics-*.txt"
    )
    print(f"metrics URLs (live while the demo ran): cloud {cloud_metrics}, edge {node.metrics_url}")
    print(f"demo finished in {time.perf_counter() - t_start:.1f} s")
    return 0


async def _stream_and_reconstruct(
    node: EdgeNode,
    address: str,
    frames: dict[int, DemoFrame],
    expect_results: bool,
    timeout: float,
    hold: float = 0.0,
    cloud_metrics: str | None = None,
) -> tuple[int, Reconstructions]:
    """Stream the clip, wait for every ack (and result), then reconstruct at each β.
    Returns the chosen frame (the one with the most objects) and every reconstruction."""
    stop = asyncio.Event()
    task = asyncio.create_task(node.run_async(stop))
    deadline = time.monotonic() + timeout
    results_deadline = None  # once drained: results of acked frames get 30 s more
    try:
        while True:
            if task.done():
                task.result()
                raise PolcError("the edge node stopped unexpectedly")
            if node.capture_done.is_set() and node.spool.depth == 0:
                results_deadline = results_deadline or time.monotonic() + 30
                acked = [f for f in frames.values() if f.ack_s is not None]
                if (
                    not expect_results
                    or all(f.top for f in acked)
                    or time.monotonic() > results_deadline
                ):
                    break
            elif time.monotonic() > deadline:
                raise PolcError(
                    f"demo timed out after {timeout:.0f} s "
                    f"({node.spool.depth} frames still spooled)"
                )
            await asyncio.sleep(0.05)
        for seq, f in frames.items():
            print_frame(seq, f)  # frames whose result never came

        # the chosen frame: the one with the most objects; PSNR over every frame
        stored = sorted(s for s, f in frames.items() if f.ack_s is not None)
        if not stored:
            raise PolcError("the cloud stored none of the frames")
        chosen = max(stored, key=lambda s: (len(frames[s].truth), -s))

        print(
            "operator: Reconstruct(beta = 1, 0.5, 0) of every frame through the cloud; "
            "beta < 1 pulls the enhancement layers from the edge on demand",
            flush=True,
        )
        images = await asyncio.get_running_loop().run_in_executor(
            None, reconstruct_all, address, node.config.camera_id, stored
        )
        if hold > 0:
            print(
                f"holding for {hold:g} s: cloud {address} (metrics {cloud_metrics}), edge "
                f"metrics {node.metrics_url}",
                flush=True,
            )
            await asyncio.sleep(hold)
        return chosen, images
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
