"""`polc bench edge`: edge throughput, torch vs ONNX Runtime, per stage.

For each backend (torch, ONNX Runtime CPU) and frame size (512×288, 1280×720): frames/s of
the encoder (key frames: intra coding) and ms per frame of each stage —

    capture   render the synthetic traffic frame (what a camera read costs here)
    g_a+h_a   v = g_a(x)·G_y, z = h_a(v): the float networks, where the backends differ (one
              ONNX Runtime session run / one torch call per frame)
    h_s       the integer h_s (entropy parameters, shared WireModel)
    entropy   everything else of the encode: image → array, ANS coding of ẑ and ŷ, container
    spool     durable write of the frame (temp file, fsync, rename)
    send      one frame over a loopback gRPC Ingest stream until its ack

— and the ratio ONNX Runtime / torch of encoder frames/s (capture, spool and send are outside
the encoder and shared by both). Backends alternate frame by frame (torch, ORT, ORT, torch,
...) so that a busy machine slows both alike; every figure is a median. A paper estimate of GPU
throughput follows from g_a + h_a FLOPs per frame (torch.utils.flop_counter) at a stated
share of a GPU's fp16 peak. Speed does not depend on trained weights: without the bundled weights
the default architecture is benchmarked with random weights (said in the output).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from polc.bench.arguments import add_option
from polc.edge.backends import build_encoder
from polc.edge.config import EncoderSettings, TemporalSettings
from polc.edge.spool import Spool
from polc.shared.codec.export import export_codec
from polc.shared.codec.frame_spec import FrameGeometry
from polc.shared.codec.runtime import Codec, FrameEncoder
from polc.shared.data import render_video_frames
from polc.shared.errors import PolcError
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import default_codec_path
from polc.v1 import ingest_pb2, ingest_pb2_grpc

SIZES = ((512, 288), (1280, 720))
# paper estimate of GPU throughput: dense fp16 tensor-core peak (TFLOP/s, vendor figures) at an
# assumed utilisation for these small convolutions — stated assumptions, not measurements
GPUS = {"Jetson Orin Nano 8GB (~10 TFLOP/s fp16)": 10.0, "RTX 4090 (~165 TFLOP/s fp16)": 165.0}
UTILISATION = 0.3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default="bench-edge.json", help="output JSON path")
    p.add_argument(
        "--weights",
        default=None,
        help="codec weights (default: bundled; else random init of the default "
        "architecture — speed does not depend on the weights)",
    )
    add_option(p, "--frames", 20, "timed frames per configuration")
    add_option(p, "--threads", 0, "intra-op threads of both backends (0 = torch's current setting)")
    p.add_argument(
        "--sizes",
        default=",".join(f"{w}x{h}" for w, h in SIZES),
        help="frame sizes WxH, comma-separated",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="3 timed frames per configuration (a smoke run, noisy numbers)",
    )


class _Timed:
    """Wraps a callable (an EncoderTransforms' latents, the integer h_s), timing each call."""

    def __init__(self, fn):
        self.fn, self.times = fn, []

    def __call__(self, *args):
        t0 = time.perf_counter()
        out = self.fn(*args)
        self.times.append(time.perf_counter() - t0)
        return out


class _TimedTransforms:
    def __init__(self, inner):
        self.inner, self.latents = inner, _Timed(inner.latents)

    def scalable(self, r):
        return self.inner.scalable(r)


def _load_codec(weights: str | None):
    if weights or default_codec_path().is_file():
        return Codec.load(weights), "trained weights"
    torch.manual_seed(0)
    model = RDCCodec(ArchitectureConfig())
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "codec.pt"
        torch.save(export_codec(model, {"bench": "random-init"}), path)
        return Codec.load(path), "random init of the default architecture (no bundled weights)"


class _Sink:
    """A loopback IngestService that acks every frame at once (measures the send path)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> int:
        class Servicer(ingest_pb2_grpc.IngestServiceServicer):
            async def Ingest(self, request_iterator, context):  # noqa: N802
                async for req in request_iterator:
                    kind = req.WhichOneof("kind")
                    if kind == "hello":
                        yield ingest_pb2.IngestResponse(hello_ack=ingest_pb2.HelloAck(window=1))
                    elif kind == "frame":
                        yield ingest_pb2.IngestResponse(ack=ingest_pb2.FrameAck(seq=req.frame.seq))

        self.server = grpc.aio.server()
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(Servicer(), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _send_times(port: int, payloads: list[bytes]) -> list[float]:
    """Per-frame write → ack time over one Ingest stream (window 1)."""
    q: queue.Queue = queue.Queue()

    def requests():
        yield ingest_pb2.IngestRequest(hello=ingest_pb2.Hello(camera_id="bench"))
        while (item := q.get()) is not None:
            yield item

    times = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        responses = ingest_pb2_grpc.IngestServiceStub(ch).Ingest(requests())
        next(responses)  # HelloAck
        for seq, data in enumerate(payloads):
            t0 = time.perf_counter()
            q.put(
                ingest_pb2.IngestRequest(
                    frame=ingest_pb2.Frame(camera_id="bench", seq=seq, base_layer=data)
                )
            )
            next(responses)
            times.append(time.perf_counter() - t0)
        q.put(None)
    return times


def _flops(codec, width: int, height: int) -> float:
    """FLOPs of g_a + h_a for one frame (2 per multiply-add)."""
    ph, pw = FrameGeometry(width, height).padded
    x = torch.zeros(1, 3, ph, pw)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = codec.model.g_a(x)
        codec.model.h_a(y)
    return float(counter.get_total_flops())


def _ms(v: list[float]) -> float:
    return 1e3 * statistics.median(v) if v else 0.0


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()  # both backends get the same intra-op threads
    n = 3 if args.quick else args.frames
    try:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
        assert all(len(s) == 2 for s in sizes)
    except (ValueError, AssertionError):
        raise PolcError(f"--sizes must be WxH[,WxH...], got {args.sizes!r}") from None
    codec, weights_note = _load_codec(args.weights)
    print(
        f"bench edge: {weights_note}, arch {codec.model.arch.model_dump()}, "
        f"{n} timed frames per configuration, {threads} intra-op threads (torch and ORT)"
    )
    rows, report = [], {"weights": weights_note, "frames": n, "threads": threads, "configs": []}
    sink = _Sink()
    tmp = tempfile.TemporaryDirectory(prefix="polc-bench-edge-")
    try:
        with tempfile.TemporaryDirectory() as cache:
            backends = {}
            for name in ("torch", "onnx"):
                settings = EncoderSettings(
                    backend=name,
                    cache_dir=Path(cache),
                    threads=threads,
                    weights=args.weights,
                    temporal=TemporalSettings(enabled=False),
                )
                b = build_encoder(settings, codec)
                backends[name] = b
            hyper = codec.wire.hyper
            for width, height in sizes:
                t0 = time.perf_counter()
                frames = [img for img, _ in render_video_frames(n + 1, 5, (width, height))]
                capture = (time.perf_counter() - t0) / (n + 1)
                runs = {}
                for name, backend in backends.items():
                    enc = FrameEncoder(codec.wire, _TimedTransforms(backend.encoder.transforms))
                    enc.encode(frames[0], 0.5)  # warm-up (ORT graph optimisation, caches)
                    runs[name] = {
                        "enc": enc,
                        "hs": _Timed(hyper),
                        "totals": [],
                        "payloads": [],
                        "spool_t": [],
                        "spool": Spool(Path(tmp.name) / f"{name}-{width}", "bench"),
                    }
                    enc.transforms.latents.times.clear()
                for i, img in enumerate(frames[1:]):
                    order = list(runs) if i % 2 == 0 else list(runs)[::-1]
                    for name in order:
                        r = runs[name]
                        codec.wire.hyper = r["hs"]
                        t1 = time.perf_counter()
                        c = r["enc"].encode(img, 0.5)
                        r["totals"].append(time.perf_counter() - t1)
                        base = c.base_bytes()
                        r["payloads"].append(base)
                        t2 = time.perf_counter()
                        r["spool"].append(time.time_ns(), 0.5, base)
                        r["spool_t"].append(time.perf_counter() - t2)
                codec.wire.hyper = hyper
                for name, r in runs.items():
                    send = _send_times(sink.port, r["payloads"])
                    ga = _ms(r["enc"].transforms.latents.times)
                    hs, total = _ms(r["hs"].times), _ms(r["totals"])
                    row = {
                        "backend": backends[name].name,
                        "width": width,
                        "height": height,
                        "capture_ms": 1e3 * capture,
                        "g_a_h_a_ms": ga,
                        "h_s_ms": hs,
                        "entropy_ms": max(total - ga - hs, 0.0),
                        "encode_ms": total,
                        "spool_ms": _ms(r["spool_t"]),
                        "send_ms": _ms(send),
                        "encode_fps": 1e3 / total if total else 0.0,
                        "bpp": 8
                        * float(np.mean([len(p) for p in r["payloads"]]))
                        / (width * height),
                    }
                    rows.append(row)
        by = {(r["backend"].split(":")[0], r["width"]): r for r in rows}
        for width, height in sizes:
            t, o = by[("torch", width)], by[("onnx", width)]
            ratio = o["encode_fps"] / t["encode_fps"] if t["encode_fps"] else 0.0
            flops = _flops(codec, width, height)
            report["configs"].append(
                {
                    "width": width,
                    "height": height,
                    "torch": t,
                    "onnx": o,
                    "ort_over_torch": ratio,
                    "g_a_h_a_ort_over_torch": (
                        t["g_a_h_a_ms"] / o["g_a_h_a_ms"] if o["g_a_h_a_ms"] else 0.0
                    ),
                    "gflops_per_frame": flops / 1e9,
                    "gpu_paper_fps": {
                        gpu: UTILISATION * tflops * 1e12 / flops for gpu, tflops in GPUS.items()
                    },
                    "gpu_paper_assumption": f"{UTILISATION:.0%} of the fp16 peak, g_a + h_a only",
                }
            )
    finally:
        sink.stop()
        tmp.cleanup()

    head = (
        f"{'backend':<10} {'size':>9} {'fps':>7} {'capture':>8} {'g_a+h_a':>8} "
        f"{'h_s':>6} {'entropy':>8} {'spool':>7} {'send':>6}  (ms per frame, median)"
    )
    print(head)
    for r in rows:
        print(
            f"{r['backend']:<10} {r['width']:>4}x{r['height']:<4} {r['encode_fps']:>7.2f} "
            f"{r['capture_ms']:>8.1f} {r['g_a_h_a_ms']:>8.1f} {r['h_s_ms']:>6.1f} "
            f"{r['entropy_ms']:>8.1f} {r['spool_ms']:>7.2f} {r['send_ms']:>6.2f}"
        )
    for c in report["configs"]:
        est = ", ".join(f"{gpu}: {fps:.0f} fps" for gpu, fps in c["gpu_paper_fps"].items())
        print(
            f"{c['width']}x{c['height']}: ONNX Runtime / torch = {c['ort_over_torch']:.2f}x "
            f"(encoder), {c['g_a_h_a_ort_over_torch']:.2f}x (g_a+h_a alone); "
            f"g_a+h_a {c['gflops_per_frame']:.2f} GFLOP/frame -> paper GPU estimate "
            f"({UTILISATION:.0%} of fp16 peak, transforms only): {est}"
        )
    report["cpu_count"] = os.cpu_count()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")
    return 0
