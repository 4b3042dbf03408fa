"""Cloud ingest throughput: N concurrent edge streams against a local `polc cloud` server.

Three runs in one process, same clients, same frames:

* ``full``        the real service: entropy decode + POLC adapters on ŷ (classes, boxes) +
                  durable store, ack after fsync;
* ``decode-off``  the real ingest path with decoding and analysis switched off
                  (``analyzer.decode = false``): parsing, exactly-once check, store, ack;
* ``bare``        a bare grpc.aio bidi stream that acks every message it reads.

The clients announce ``Capabilities.batched_acks`` (as ``polc edge`` does), so acks that a
group commit makes ready together come back as one AckBatch; ``decode-off-unbatched`` (not
run by default) is the same ingest path for a client without it: one message per ack.

Reports frames/s, p50/p99 ack latency (frame sent → ack received), the server's CPU time
per frame (all its threads; steadier than frames/s on a machine other jobs share) and the
ratio decode-off msg/s ÷ bare msg/s. With decoding off no FrameResult is sent (nothing was
analyzed), so both servers write one message per frame. Defaults are short (3 s per run);
the acceptance run is ``--streams 16 --seconds 60``::

    polc bench cloud-ingest --streams 16 --seconds 60 [--runs decode-off,bare] [--json OUT]
    python -m polc.bench.cloud_ingest ...           (the same)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import resource
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import torch

from polc.bench.arguments import add_option
from polc.bench.local_cloud import bench_cloud_config
from polc.bench.scaleout_cluster import postgres_schema
from polc.cloud.server_thread import ServerThread
from polc.shared.codec.export import export_codec
from polc.shared.codec.runtime import Codec
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import default_codec_path
from polc.v1 import ingest_pb2, ingest_pb2_grpc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streams", type=int, default=16)
    add_option(p, "--seconds", 3.0, "duration of each run")
    p.add_argument("--window", type=int, default=32)
    p.add_argument(
        "--weights",
        default=None,
        help="codec weights (default: bundled, else a small untrained codec)",
    )
    p.add_argument(
        "--teacher",
        default=None,
        help="teacher weights for the full run (default: shipped, else no analyzer)",
    )
    p.add_argument("--size", default="256x192", help="frame size WxH")
    p.add_argument("--runs", default="full,decode-off,bare")
    add_option(
        p,
        "--rounds",
        1,
        "split each run into this many slices, the runs taking turns (on a "
        "machine other jobs share, both sides of the ratio then see the "
        "same load)",
    )
    p.add_argument(
        "--dsn", default=None, help="store on PostgreSQL (a fresh schema per run) instead of SQLite"
    )
    p.add_argument("--json", default=None, help="write the results here")


def bench_codec(weights: str | None, workdir: Path):
    path = Path(weights) if weights else default_codec_path()
    if not path.is_file():  # the trained model is not shipped yet: a small untrained one
        torch.manual_seed(0)
        model = RDCCodec(
            ArchitectureConfig(N=16, M=24, aux_channels=8, levels=6, residual_channels=8)
        )
        path = workdir / "codec.pt"
        torch.save(export_codec(model, {"bench": True}), path)
    return Codec.load(path), path


def bench_frame(codec: Codec, size: str) -> bytes:
    """The benchmark frame: a WxH gradient image encoded at α = 0.5."""
    width, height = (int(v) for v in size.lower().split("x"))
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    return codec.encode(image, 0.5)


async def drive_stream(
    address: str,
    camera: str,
    frame: bytes,
    window: int,
    seconds: float,
    bare: bool,
    batched: bool,
    latencies: list[float],
    seq0: int = 0,
    rate: float | None = None,
) -> int:
    """One edge stream for ``seconds``: frames as fast as the window allows, or ``rate``
    per second; appends each ack's latency; returns the frames acked."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = ingest_pb2_grpc.IngestServiceStub(channel).Ingest()
        await call.write(
            ingest_pb2.IngestRequest(
                hello=ingest_pb2.Hello(
                    camera_id=camera, capabilities=ingest_pb2.Capabilities(batched_acks=batched)
                )
            )
        )
        if not bare:
            await call.read()  # HelloAck
        credits = asyncio.Semaphore(window)
        sent: dict[int, float] = {}
        acked = 0
        stop_at = time.perf_counter() + seconds

        async def reader() -> None:
            nonlocal acked
            while (msg := await call.read()) is not grpc.aio.EOF:
                kind = msg.WhichOneof("kind")
                answers = (
                    msg.acks.acks
                    if kind == "acks"
                    else [getattr(msg, kind)]
                    if kind in ("ack", "error")
                    else []
                )
                now = time.perf_counter()
                for answer in answers:
                    latencies.append(now - sent.pop(answer.seq))
                    credits.release()
                acked += len(answers) if kind != "error" else 0

        task = asyncio.create_task(reader())
        seq = seq0
        t0 = time.perf_counter()
        while (now := time.perf_counter()) < stop_at:
            if rate is not None and seq - seq0 > (now - t0) * rate:
                await asyncio.sleep(min(0.01, (seq - seq0) / rate - (now - t0)))
                continue
            await credits.acquire()
            sent[seq] = time.perf_counter()
            await call.write(
                ingest_pb2.IngestRequest(
                    frame=ingest_pb2.Frame(camera_id=camera, seq=seq, base_layer=frame)
                )
            )
            seq += 1
        await call.done_writing()
        await task
        return acked


class _BareServer:
    """grpc.aio IngestService that acks every frame it reads (no checks, no store)."""

    def __init__(self) -> None:
        class Servicer(ingest_pb2_grpc.IngestServiceServicer):
            async def Ingest(self, request_iterator, context):
                async for msg in request_iterator:
                    if msg.WhichOneof("kind") == "frame":
                        yield ingest_pb2.IngestResponse(
                            ack=ingest_pb2.FrameAck(
                                camera_id=msg.frame.camera_id, seq=msg.frame.seq
                            )
                        )

        self._servicer, self._register = Servicer(), ingest_pb2_grpc
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> str:
        self._thread.start()

        async def go() -> int:
            self._server = grpc.aio.server()
            self._register.add_IngestServiceServicer_to_server(self._servicer, self._server)
            port = self._server.add_insecure_port("127.0.0.1:0")
            await self._server.start()
            return port

        port = asyncio.run_coroutine_threadsafe(go(), self._loop).result(30)
        return f"127.0.0.1:{port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(0), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _clients(
    address: str,
    frame: bytes,
    streams: int,
    window: int,
    seconds: float,
    bare: bool,
    batched: bool,
    conn,
) -> None:
    """Client process: ``streams`` concurrent edge streams; sends (acked, latencies, wall)."""
    latencies: list[float] = []

    async def main() -> int:
        counts = await asyncio.gather(
            *(
                drive_stream(
                    address, f"bench-{i}", frame, window, seconds, bare, batched, latencies
                )
                for i in range(streams)
            )
        )
        return sum(counts)

    t0 = time.perf_counter()
    acked = asyncio.run(main())
    conn.send((acked, latencies, time.perf_counter() - t0))
    conn.close()


def _one_run(
    address: str,
    frame: bytes,
    seconds: float,
    bare: bool,
    args: argparse.Namespace,
    batched: bool = True,
) -> tuple[int, list[float], float, float]:
    """Drive a server from a separate client process (edges are other machines: the
    clients must not share the server's interpreter lock); (acked, latencies, wall seconds,
    server CPU seconds)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_clients,
        args=(address, frame, args.streams, args.window, seconds, bare, batched, child),
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    proc.start()
    acked, latencies, wall = parent.recv()
    after = resource.getrusage(resource.RUSAGE_SELF)
    proc.join(30)
    # the server's CPU time (all its threads): per frame it hardly depends on what else the
    # machine runs, unlike frames/s, so it compares runs on a shared machine
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return acked, latencies, wall, cpu


def _serve_and_run(
    name: str,
    workdir: Path,
    weights: Path,
    codec,
    frame: bytes,
    seconds: float,
    args: argparse.Namespace,
    tag: str,
) -> tuple[int, list[float], float, float]:
    """One slice of run ``name`` against a fresh server (and a fresh store)."""
    if name == "bare":
        server = _BareServer()
        address = server.start()
        try:
            return _one_run(address, frame, seconds, True, args)
        finally:
            server.stop()
    with contextlib.ExitStack() as stack:
        store = {}
        if args.dsn:
            store = {
                "store.backend": "postgres",
                "store.postgres_dsn": stack.enter_context(postgres_schema(args.dsn)),
            }
        analysis = {
            "analyzer.kind": "adapter" if name == "full" else "none",
            "analyzer.teacher_weights": args.teacher if name == "full" else None,
            "analyzer.decode": name == "full",
        }
        cfg = bench_cloud_config(
            weights, workdir / f"store-{tag}", args.window, **analysis, **store
        )
        with ServerThread(cfg, codec) as st:
            return _one_run(
                st.address, frame, seconds, False, args, batched=name != "decode-off-unbatched"
            )


def _summary(
    name: str, slices: list[tuple[int, list[float], float, float]], args: argparse.Namespace
) -> dict:
    acked = sum(s[0] for s in slices)
    wall = sum(s[2] for s in slices)
    cpu = sum(s[3] for s in slices)
    latencies = [x for s in slices for x in s[1]]
    lat = np.array(latencies) if latencies else np.zeros(1)
    out = {
        "run": name,
        "streams": args.streams,
        "rounds": len(slices),
        "acked": acked,
        "seconds": wall,
        "frames_per_second": acked / wall,
        "server_cpu_us_per_frame": cpu / max(acked, 1) * 1e6,
        "ack_p50_ms": float(np.percentile(lat, 50) * 1e3),
        "ack_p99_ms": float(np.percentile(lat, 99) * 1e3),
        "server_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if name != "bare":
        out["store"] = "postgres" if args.dsn else "sqlite"
    return out


def run(args: argparse.Namespace) -> int:
    names = args.runs.split(",")
    slices: dict[str, list] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="polc-bench-") as tmp:
        workdir = Path(tmp)
        codec, weights = bench_codec(args.weights, workdir)
        frame = bench_frame(codec, args.size)
        for k in range(args.rounds):
            for name in names:
                slices[name].append(
                    _serve_and_run(
                        name,
                        workdir,
                        weights,
                        codec,
                        frame,
                        args.seconds / args.rounds,
                        args,
                        f"{name}-{k}",
                    )
                )
    results = [_summary(name, slices[name], args) for name in names]
    by = {r["run"]: r for r in results}
    if "decode-off" in by and "bare" in by:
        ratio = by["decode-off"]["frames_per_second"] / by["bare"]["frames_per_second"]
        for r in results:
            r["decode_off_vs_bare"] = ratio
    if "decode-off-unbatched" in by and "bare" in by:
        by["decode-off-unbatched"]["vs_bare"] = (
            by["decode-off-unbatched"]["frames_per_second"] / by["bare"]["frames_per_second"]
        )
    print(
        f"{'run':<11} {'streams':>7} {'frames/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu µs/f':>8} {'rss MB':>7}"
    )
    for r in results:
        print(
            f"{r['run']:<11} {r['streams']:>7} {r['frames_per_second']:>9.1f} "
            f"{r['ack_p50_ms']:>8.2f} {r['ack_p99_ms']:>8.2f} "
            f"{r['server_cpu_us_per_frame']:>8.1f} {r['server_max_rss_mb']:>7.0f}"
        )
    if "decode-off" in by and "bare" in by:
        print(f"ingest path (decode off) / bare grpc.aio: {results[0]['decode_off_vs_bare']:.0%}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"frame_bytes": len(frame), "size": args.size, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
