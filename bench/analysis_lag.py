"""Ack latency and analysis lag at twice the analysis capacity (acknowledge on durability,
analyse behind it).

In one process, against the real service (entropy decode in the ingest path, POLC adapters
behind the acks, durable store):

1. ``capacity``  16 unpaced streams for a few seconds build a backlog; the frames/s at
                 which it drains once they stopped is the analysis capacity (while
                 streams are on, the analysis yields the CPU to the ingest path);
2. ``2x``        a fresh server and store, 16 streams paced to twice that capacity in
                 total: p50/p99 ack latency (frame sent → ack received), the analysis lag
                 (``polc_cloud_analysis_lag_seconds``) and backlog sampled every 0.5 s,
                 then the time to drain the backlog once the streams stop;
3. checks        every acked frame is stored, none is left pending once drained, none was
                 analysed twice (analysed keys recorded, results written = stored frames,
                 ``polc_cloud_analysis_skipped_total`` = 0).

    polc bench analysis-lag [--streams 16 --seconds 30] [--json OUT.json] [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from polc.bench.arguments import add_option, add_output_arguments
from polc.bench.cloud_ingest import bench_codec, bench_frame, drive_stream
from polc.bench.local_cloud import bench_cloud_config
from polc.cloud.server_thread import ServerThread


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streams", type=int, default=16)
    add_option(p, "--seconds", 30.0, "duration of the 2x run")
    add_option(p, "--capacity-seconds", 10.0, "duration of the capacity measurement")
    add_option(p, "--overload", 2.0, "offered load ÷ capacity")
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--weights", default=None, help="codec weights (default: bundled)")
    p.add_argument("--size", default="256x192", help="frame size WxH")
    add_output_arguments(p, "write the lag-over-time plot here (PNG)")


def _clients(
    address: str, frame: bytes, streams: int, window: int, seconds: float, rate: float | None, conn
) -> None:
    """Client process (edges are other machines): sends (acked, latencies)."""
    latencies: list[float] = []

    async def main() -> int:
        per = None if rate is None else rate / streams
        return sum(
            await asyncio.gather(
                *(
                    drive_stream(
                        address,
                        f"cam-{i}",
                        frame,
                        window,
                        seconds,
                        False,
                        True,
                        latencies,
                        rate=per,
                    )
                    for i in range(streams)
                )
            )
        )

    conn.send((asyncio.run(main()), latencies))
    conn.close()


def _metric(server: ServerThread, name: str) -> float:
    return server.server.metrics.registry.get_sample_value(name, {"site": ""}) or 0.0


def _drive(
    server: ServerThread,
    frame: bytes,
    args: argparse.Namespace,
    seconds: float,
    rate: float | None,
    samples: list[dict],
) -> tuple[int, list[float], float]:
    """Clients in another process; samples lag / backlog / analysed every 0.5 s meanwhile."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_clients,
        args=(server.address, frame, args.streams, args.window, seconds, rate, child),
    )
    t0 = time.perf_counter()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append(
                {
                    "t": time.perf_counter() - t0,
                    "lag_s": _metric(server, "polc_cloud_analysis_lag_seconds"),
                    "backlog": _metric(server, "polc_cloud_analysis_queue_frames"),
                    "analyzed": _metric(server, "polc_cloud_frames_analyzed_total"),
                    "stored": _metric(server, "polc_cloud_frames_decoded_total"),
                }
            )

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc.start()
    acked, latencies = parent.recv()
    proc.join(30)
    stop.set()
    sampler.join()
    return acked, latencies, time.perf_counter() - t0


def _server(workdir: Path, weights: Path, codec, tag: str, window: int) -> ServerThread:
    cfg = bench_cloud_config(
        weights, workdir / f"store-{tag}", window, **{"analyzer.kind": "adapter"}
    )
    return ServerThread(cfg, codec).start()


def _record_analysed(server: ServerThread) -> Counter:
    """Count every (camera, seq) the worker analyses (to prove none twice)."""
    seen: Counter = Counter()
    worker = server.server.analysis
    inner = worker._analyze

    def analyze(batch):
        seen.update((e.camera_id, e.seq) for e in batch)
        return inner(batch)

    worker._analyze = analyze
    return seen


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="polc-bench-") as tmp:
        workdir = Path(tmp)
        codec, weights = bench_codec(args.weights, workdir)
        frame = bench_frame(codec, args.size)

        # 1. capacity: the analyzer saturated (acks run ahead of it)
        server = _server(workdir, weights, codec, "capacity", args.window)
        try:
            cap_samples: list[dict] = []
            _drive(server, frame, args, args.capacity_seconds, None, cap_samples)
            # analysed frames/s while frames were waiting (the analyzer saturated)
            drain: list[dict] = []
            for _ in range(40):  # the backlog drains with the ingest path idle
                drain.append(
                    {
                        "t": time.perf_counter(),
                        "backlog": server.server.store.pending_summary()[0],
                        "analyzed": _metric(server, "polc_cloud_frames_analyzed_total"),
                    }
                )
                if drain[-1]["backlog"] <= 16:
                    break
                time.sleep(0.5)
            # analysed frames/s of the analyzer alone: while a backlog drains after the
            # streams stopped (with the streams on, it yields the CPU to the ingest path)
            if len(drain) < 3:
                raise SystemExit(
                    "no backlog to measure the analysis capacity on: raise --capacity-seconds"
                )
            first, last = drain[0], drain[-1]
            capacity = (last["analyzed"] - first["analyzed"]) / (last["t"] - first["t"])
        finally:
            server.stop()
        offered = args.overload * capacity

        # 2. twice the capacity
        server = _server(workdir, weights, codec, "2x", args.window)
        try:
            seen = _record_analysed(server)
            samples: list[dict] = []
            acked, latencies, wall = _drive(server, frame, args, args.seconds, offered, samples)
            t_end = time.perf_counter()
            while server.server.store.pending_summary()[0] and time.perf_counter() - t_end < 600:
                samples.append(
                    {
                        "t": wall + time.perf_counter() - t_end,
                        "lag_s": _metric(server, "polc_cloud_analysis_lag_seconds"),
                        "backlog": server.server.store.pending_summary()[0],
                        "analyzed": _metric(server, "polc_cloud_frames_analyzed_total"),
                        "stored": _metric(server, "polc_cloud_frames_decoded_total"),
                    }
                )
                time.sleep(0.5)
            drain = time.perf_counter() - t_end
            # 3. checks against the store
            store = server.server.store
            stored = {(c.camera_id, c.frame_count) for c in store.list_cameras()}
            n_stored = sum(n for _, n in stored)
            pending_left = store.pending_summary()[0]
            twice = sum(1 for n in seen.values() if n > 1)
            analysed_total = _metric(server, "polc_cloud_frames_analyzed_total")
            skipped = _metric(server, "polc_cloud_analysis_skipped_total")
        finally:
            server.stop()
    lat = np.array(latencies) if latencies else np.zeros(1)
    lags = [s["lag_s"] for s in samples]
    result = {
        "streams": args.streams,
        "size": args.size,
        "frame_bytes": len(frame),
        "capacity_frames_per_second": capacity,
        "offered_frames_per_second": offered,
        "seconds": args.seconds,
        "acked": acked,
        "ack_p50_ms": float(np.percentile(lat, 50) * 1e3),
        "ack_p99_ms": float(np.percentile(lat, 99) * 1e3),
        "ack_max_ms": float(lat.max() * 1e3),
        "max_lag_s": max(lags, default=0.0),
        "streams_done_s": wall,
        "drain_seconds": drain,
        "stored": n_stored,
        "frames_lost": max(0, acked - n_stored),
        "analysed": int(analysed_total),
        "analysed_twice": twice,
        "results_skipped": int(skipped),
        "pending_left": pending_left,
        "lag_over_time": samples,
    }
    print(
        f"analysis capacity {capacity:.1f} frames/s; offered {offered:.1f} frames/s "
        f"({args.overload:g}x) on {args.streams} streams for {args.seconds:g} s"
    )
    print(
        f"acked {acked}, ack p50 {result['ack_p50_ms']:.1f} ms, p99 "
        f"{result['ack_p99_ms']:.1f} ms, max {result['ack_max_ms']:.1f} ms"
    )
    print(
        f"analysis lag max {result['max_lag_s']:.1f} s, backlog drained "
        f"{drain:.1f} s after the streams ended"
    )
    print(
        f"stored {n_stored}, lost {result['frames_lost']}, analysed {int(analysed_total)}, "
        f"analysed twice {twice}, results skipped {int(skipped)}, pending left "
        f"{pending_left}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.plot:
        _plot(samples, result, Path(args.plot))
    return 0


def _plot(samples: list[dict], result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in samples]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, [s["lag_s"] for s in samples], label="analysis lag (s)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("analysis lag (s)")
    ax2 = ax.twinx()
    ax2.plot(t, [s["backlog"] for s in samples], color="tab:orange", label="backlog (frames)")
    ax2.set_ylabel("frames stored, not analysed")
    ax.axvline(result["streams_done_s"], color="grey", linestyle=":")  # streams ended
    ax.set_title(
        f"{result['streams']} streams at {result['offered_frames_per_second']:.0f} "
        f"frames/s (2x analysis capacity); ack p99 {result['ack_p99_ms']:.0f} ms"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
