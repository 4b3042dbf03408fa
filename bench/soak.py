"""Soak: one `polc cloud serve` process, N concurrent edge streams for M minutes, the
server's resident memory (RSS) sampled every few seconds.

The clients are light (like cloud_ingest.py's): one asyncio process, one Ingest stream per
camera, each sending pre-encoded frames at ``--fps`` within the server's window and
reconnecting (resending every unacknowledged frame) when its stream fails. The server runs
the small test codec + random-init pixel teacher (every frame decoded, analyzed and stored)
on SQLite, or PostgreSQL with ``--dsn``.

Reports RSS after the warm-up (``start``), at the end, the maximum, the growth
(end − start) / start, frames stored, frame errors and stream failures; writes JSON and a
plot of RSS over time. Acceptance: ``--streams 64 --minutes 10``, growth < 10 %::

    polc bench soak --streams 64 --minutes 10 --json soak.json   [--plot soak.png]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

import grpc
import matplotlib
from matplotlib import pyplot as plt

from polc.bench.arguments import add_option, add_output_arguments
from polc.bench.cloud_process import CloudProcess, small_cloud_config
from polc.bench.scaleout_cluster import (
    encode_frames,
    make_small_codec,
    make_small_teacher,
    postgres_schema,
)
from polc.v1 import ingest_pb2, ingest_pb2_grpc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streams", type=int, default=64)
    add_option(p, "--minutes", 10.0, "duration after the warm-up")
    add_option(p, "--warmup", 30.0, "seconds of streaming before the start RSS is taken")
    add_option(p, "--fps", 2.0, "frames per second per stream")
    add_option(p, "--window", 8, "frames in flight per stream")
    p.add_argument("--size", default="128x96", help="frame size WxH")
    add_option(p, "--sample", 5.0, "seconds between RSS samples")
    p.add_argument("--dsn", default=None, help="store on PostgreSQL (a fresh schema)")
    add_option(p, "--max-growth", 10.0, "exit 1 when RSS grew more than this many percent")
    add_output_arguments(p, "RSS plot (default: next to --json, .png)")


async def _stream(
    address: str,
    camera: str,
    frames: list[bytes],
    fps: float,
    window: int,
    stop_at: float,
    counts: dict[str, int],
) -> None:
    """One camera: paced frames, resend of the unacknowledged after a failed stream."""
    seq, pending = 0, {}  # seq -> frame bytes, sent but not acknowledged
    period = 1.0 / fps
    while time.monotonic() < stop_at:
        credits = asyncio.Semaphore(window)
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                call = ingest_pb2_grpc.IngestServiceStub(channel).Ingest()
                await call.write(
                    ingest_pb2.IngestRequest(
                        hello=ingest_pb2.Hello(
                            camera_id=camera,
                            capabilities=ingest_pb2.Capabilities(batched_acks=True),
                        )
                    )
                )
                await call.read()  # HelloAck

                async def reader(call=call, credits=credits) -> None:
                    while (msg := await call.read()) is not grpc.aio.EOF:
                        kind = msg.WhichOneof("kind")
                        acks = (
                            list(msg.acks.acks)
                            if kind == "acks"
                            else [msg.ack]
                            if kind == "ack"
                            else []
                        )
                        for ack in acks:
                            if pending.pop(ack.seq, None) is not None:
                                counts["stored" if not ack.duplicate else "duplicate"] += 1
                            credits.release()
                        if kind == "error":
                            counts["frame_errors"] += 1
                            credits.release()

                task = asyncio.create_task(reader())
                for old in sorted(pending):  # resend after a reconnect
                    await credits.acquire()
                    await call.write(_frame(camera, old, pending[old]))
                next_at = time.monotonic()
                while time.monotonic() < stop_at and not task.done():
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += period
                    await credits.acquire()
                    pending[seq] = frames[seq % len(frames)]
                    await call.write(_frame(camera, seq, pending[seq]))
                    seq += 1
                await call.done_writing()
                await task
                return
        except (grpc.RpcError, grpc.aio.AioRpcError, asyncio.InvalidStateError):
            counts["stream_failures"] += 1
            await asyncio.sleep(0.5)


def _frame(camera: str, seq: int, data: bytes) -> ingest_pb2.IngestRequest:
    f = ingest_pb2.Frame(camera_id=camera, seq=seq, base_layer=data)
    f.capture_time.FromMicroseconds(int(time.time() * 1e6))
    return ingest_pb2.IngestRequest(frame=f)


def _clients(
    address: str, frames: list[bytes], streams: int, fps: float, window: int, seconds: float, conn
) -> None:
    """Client process: ``streams`` cameras for ``seconds``; sends the counts back."""
    counts = {"stored": 0, "duplicate": 0, "frame_errors": 0, "stream_failures": 0}

    async def main() -> None:
        stop_at = time.monotonic() + seconds
        await asyncio.gather(
            *(
                _stream(address, f"soak-{i}", frames, fps, window, stop_at, counts)
                for i in range(streams)
            )
        )

    asyncio.run(main())
    conn.send(counts)
    conn.close()


def soak(args: argparse.Namespace, workdir: Path) -> dict:
    """Run the soak in ``workdir``; the results (also what the JSON holds)."""
    codec = make_small_codec(workdir / "codec.pt")
    teacher = make_small_teacher(workdir / "teacher.pt")
    frames = encode_frames(codec, args.size)
    with contextlib.ExitStack() as stack:
        config = small_cloud_config(workdir / "store", codec, teacher)
        config["ingest"] = {"window": args.window}
        env = {}
        if args.dsn:
            config["store"]["backend"] = "postgres"
            env["POLC_CLOUD_STORE__POSTGRES_DSN"] = stack.enter_context(postgres_schema(args.dsn))
        cloud = stack.enter_context(CloudProcess(config, workdir, env=env))
        seconds = args.warmup + args.minutes * 60
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        clients = ctx.Process(
            target=_clients,
            args=(cloud.address, frames, args.streams, args.fps, args.window, seconds, child),
        )
        t0 = time.monotonic()
        clients.start()
        samples: list[tuple[float, int]] = []
        crashed = False
        while clients.is_alive() and not parent.poll(args.sample):
            if not cloud.alive():
                crashed = True
                break
            samples.append((time.monotonic() - t0, cloud.rss_bytes()))
            print(
                f"\r{samples[-1][0]:7.0f} s  RSS {samples[-1][1] / 2**20:7.1f} MiB",
                end="",
                flush=True,
            )
        print()
        try:
            counts = parent.recv() if not crashed else {}
        except EOFError:  # the client process died
            counts = {"clients_died": 1}
        clients.join(30)
    after = [rss for t, rss in samples if t >= args.warmup] or [rss for _, rss in samples]
    start, end = after[0], after[-1]
    return {
        "streams": args.streams,
        "minutes": args.minutes,
        "warmup_seconds": args.warmup,
        "fps_per_stream": args.fps,
        "size": args.size,
        "store": "postgres" if args.dsn else "sqlite",
        "server_crashed": crashed,
        "rss_start_mib": start / 2**20,
        "rss_end_mib": end / 2**20,
        "rss_max_mib": max(after) / 2**20,
        "rss_growth_percent": (end - start) / start * 100,
        "samples": [{"t": t, "rss_mib": rss / 2**20} for t, rss in samples],
        **counts,
    }


def plot(result: dict, path: Path) -> None:
    matplotlib.use("Agg")  # files only, no display
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot([s["t"] for s in result["samples"]], [s["rss_mib"] for s in result["samples"]])
    ax.axvline(result["warmup_seconds"], color="grey", linestyle=":", label="end of warm-up")
    ax.set_xlabel("seconds")
    ax.set_ylabel("cloud RSS (MiB)")
    ax.set_title(f"soak: {result['streams']} streams, growth {result['rss_growth_percent']:+.1f} %")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="polc-soak-") as tmp:
        result = soak(args, Path(tmp))
    print(
        f"RSS start {result['rss_start_mib']:.1f} MiB, end {result['rss_end_mib']:.1f} MiB, "
        f"max {result['rss_max_mib']:.1f} MiB, growth {result['rss_growth_percent']:+.1f} %; "
        f"stored {result.get('stored', 0)}, frame errors {result.get('frame_errors', 0)}, "
        f"stream failures {result.get('stream_failures', 0)}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    plot_path = args.plot or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if plot_path:
        plot(result, Path(plot_path))
    ok = not result["server_crashed"] and result["rss_growth_percent"] < args.max_growth
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
