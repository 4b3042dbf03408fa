"""Fuzz over the wire: a real `polc cloud serve` process on loopback and a client sending
mutated inputs (bench/fuzz_inputs.py) over real gRPC streams and calls — ingest frames on open
streams, whole ingest streams, query and reconstruct calls.

Every answer is classified by its gRPC status and, for a refused frame, the FrameError code
and reason. Counted as failures: a **crash** (the server process died; it is restarted and
the run goes on), a **hang** (no answer within ``--deadline`` seconds), an **UNKNOWN** answer
(an exception nobody mapped) and an **untyped INTERNAL** (a call ending INTERNAL, or a
FrameError INTERNAL that is not the documented retryable ``internal``). Exit code 1 when any
of them occurred. Writes JSON (counts per service / answer, failures with the (seed, index)
that rebuilds the input) and a bar chart of the answers by status::

    polc bench fuzz-wire --inputs 100000 --json fuzz.json   [--plot fuzz.png] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import tempfile
import time
from pathlib import Path

import grpc
import matplotlib
import numpy as np
from matplotlib import pyplot as plt
from tqdm import tqdm

from polc.bench.arguments import add_option, add_output_arguments
from polc.bench.cloud_process import CloudProcess, small_cloud_config
from polc.bench.fuzz_inputs import SEED_CAMERA, SEED_FRAMES, FuzzInput, make_input
from polc.bench.scaleout_cluster import make_small_codec, make_small_teacher
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.runtime import Codec
from polc.v1 import (
    ingest_pb2,
    ingest_pb2_grpc,
    query_pb2_grpc,
    reconstruct_pb2_grpc,
)

CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    add_option(p, "--workers", 8, "concurrent client streams")
    add_option(p, "--deadline", 15.0, "seconds an answer may take before it counts as a hang")
    add_output_arguments(p, "bar chart (default: next to --json, .png)")


class Tally:
    """Answers by (service, answer) and the failures (crash, hang, UNKNOWN, untyped
    INTERNAL) with the input that caused them."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.answers: collections.Counter[tuple[str, str]] = collections.Counter()
        self.statuses: collections.Counter[str] = collections.Counter()
        self.failures: dict[str, list[dict]] = {
            "crash": [],
            "hang": [],
            "unknown": [],
            "untyped_internal": [],
        }
        # typed, but worth a look: a fuzzed input the server calls a transient failure
        self.retryable_internal: list[dict] = []

    def answer(self, i: int, item: FuzzInput, status: str, detail: str = "") -> None:
        self.answers[(item.service, f"{status} {detail}".strip())] += 1
        self.statuses[status] += 1
        if status == "UNKNOWN":
            self.fail("unknown", i, item, detail)
        elif status == "INTERNAL" and detail != "retryable/internal":
            self.fail("untyped_internal", i, item, detail)
        elif status == "INTERNAL" and len(self.retryable_internal) < 20:
            self.retryable_internal.append(
                {"seed": self.seed, "index": i, "service": item.service, "kind": item.kind}
            )

    def fail(self, what: str, i: int, item: FuzzInput, detail: str = "") -> None:
        self.failures[what].append(
            {
                "seed": self.seed,
                "index": i,
                "service": item.service,
                "kind": item.kind,
                "detail": detail[:300],
            }
        )


def frame_error_detail(err: ingest_pb2.FrameError) -> tuple[str, str]:
    status = CODE_NAMES.get(err.code, f"code-{err.code}")
    return status, f"{'retryable/' if err.retryable else ''}{err.reason}"


#: the label of a write that failed because the server had just ended the stream: grpc.aio
#: then reports its own client-side INTERNAL "Internal error from Core" instead of the
#: server's status, which is not observable any more (not a server answer)
ENDED_DURING_WRITE = "ENDED_DURING_WRITE"


async def write(call, msg: ingest_pb2.IngestRequest) -> bool:
    """Write ``msg`` on the stream; False when the server has already ended it."""
    try:
        await call.write(msg)
        return True
    except asyncio.InvalidStateError:
        return False
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.INTERNAL and exc.details() == "Internal error from Core":
            raise StreamEndedDuringWrite from exc
        raise


class StreamEndedDuringWrite(Exception):
    """The server ended the stream while the client wrote (see ENDED_DURING_WRITE)."""


class IngestWorker:
    """One open ingest stream sending one fuzzed frame at a time and reading its answer;
    a stream that ends is classified and reopened."""

    def __init__(
        self, cloud: CloudProcess, camera: str, fingerprint: bytes, deadline: float
    ) -> None:
        self.cloud, self.camera, self.fingerprint, self.deadline = (
            cloud,
            camera,
            fingerprint,
            deadline,
        )
        self.channel: grpc.aio.Channel | None = None
        self.call = None

    async def _open(self) -> None:
        await self.close()
        self.channel = self.cloud.aio_channel()
        self.call = ingest_pb2_grpc.IngestServiceStub(self.channel).Ingest()
        await self.call.write(
            ingest_pb2.IngestRequest(
                hello=ingest_pb2.Hello(camera_id=self.camera, model_fingerprint=self.fingerprint)
            )
        )
        msg = await asyncio.wait_for(self.call.read(), self.deadline)
        if msg is grpc.aio.EOF or not msg.HasField("hello_ack"):
            raise RuntimeError(f"no HelloAck: {msg}")

    async def close(self) -> None:
        if self.call is not None:
            self.call.cancel()
        if self.channel is not None:
            await self.channel.close()
        self.call = self.channel = None

    async def send(self, i: int, item: FuzzInput, tally: Tally) -> None:
        if self.call is None:
            await self._open()
        try:
            if not await write(self.call, ingest_pb2.IngestRequest(frame=item.frame)):
                status = await self.call.code()
                tally.answer(
                    i, item, status.name, f"stream ended before: {await self.call.details() or ''}"
                )
                await self.close()
                return
            while True:
                msg = await asyncio.wait_for(self.call.read(), self.deadline)
                if msg is grpc.aio.EOF:
                    status = await self.call.code()
                    tally.answer(
                        i, item, status.name, f"stream ended: {await self.call.details() or ''}"
                    )
                    await self.close()
                    return
                kind = msg.WhichOneof("kind")
                if kind in ("ack", "acks"):
                    tally.answer(i, item, "OK", "ack")
                    return
                if kind == "error":
                    status, detail = frame_error_detail(msg.error)
                    tally.answer(i, item, status, detail)
                    return
                # FrameResult of an earlier frame, EnhancementRequest: not this frame's answer
        except TimeoutError:
            tally.fail("hang", i, item)
            await self.close()
        except StreamEndedDuringWrite:
            tally.answer(i, item, ENDED_DURING_WRITE)
            await self.close()
        except grpc.aio.AioRpcError as exc:
            tally.answer(i, item, exc.code().name, exc.details() or "")
            await self.close()


async def whole_stream(
    cloud: CloudProcess, i: int, item: FuzzInput, tally: Tally, deadline: float
) -> None:
    """Send the input's messages on a fresh stream, half-close, read every answer."""
    async with cloud.aio_channel() as channel:
        call = ingest_pb2_grpc.IngestServiceStub(channel).Ingest()
        answers: list[str] = []  # the kinds of the messages read
        try:
            for msg in item.stream:
                if not await write(call, msg):
                    break  # the server ended the stream: its status is read below
            else:
                await call.done_writing()
            while (msg := await asyncio.wait_for(call.read(), deadline)) is not grpc.aio.EOF:
                kind = msg.WhichOneof("kind")
                if kind == "error":
                    status, detail = frame_error_detail(msg.error)
                    tally.answer(i, item, status, detail)
                answers.append(kind)
            if "error" not in answers:
                tally.answer(i, item, "OK", "stream ended")
        except TimeoutError:
            call.cancel()
            tally.fail("hang", i, item, f"after {answers}")
        except StreamEndedDuringWrite:
            tally.answer(i, item, ENDED_DURING_WRITE)
        except grpc.aio.AioRpcError as exc:
            tally.answer(i, item, exc.code().name, exc.details() or "")


async def unary(
    cloud: CloudProcess,
    i: int,
    item: FuzzInput,
    tally: Tally,
    deadline: float,
    channel: grpc.aio.Channel,
) -> None:
    stub = (
        reconstruct_pb2_grpc.ReconstructServiceStub(channel)
        if item.service == "reconstruct"
        else query_pb2_grpc.QueryServiceStub(channel)
    )
    try:
        await getattr(stub, item.method)(item.request, timeout=deadline)
        tally.answer(i, item, "OK")
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            tally.fail("hang", i, item, exc.details() or "")
        else:
            tally.answer(i, item, exc.code().name, exc.details() or "")


def seed_frames(codec: Codec) -> tuple[list[bytes], list[bytes], bytes]:
    """(full and base-only containers, enhancement layers, model fingerprint) to mutate."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:64, 0:96]
    containers, layers = [], []
    for k, alpha in enumerate((0.0, 0.5, 1.0)):
        img = np.stack([(xx * 2 + k * 40) % 256, (yy * 3) % 256, (xx + yy) % 256], -1)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        full = codec.encode(img, alpha, enhancement=True)
        c = FrameContainer.from_bytes(full)
        containers += [full, c.base_bytes()]
        layers.append(c.enhancement.to_bytes())
    return containers, layers, codec.wire.fingerprint


async def store_seed_camera(cloud: CloudProcess, containers: list[bytes]) -> None:
    """Valid frames 0..SEED_FRAMES-1 of SEED_CAMERA, so queries and reconstructions find
    something."""
    async with cloud.aio_channel() as channel:
        call = ingest_pb2_grpc.IngestServiceStub(channel).Ingest()
        await call.write(ingest_pb2.IngestRequest(hello=ingest_pb2.Hello(camera_id=SEED_CAMERA)))
        for seq in range(SEED_FRAMES):
            frame = ingest_pb2.Frame(
                camera_id=SEED_CAMERA, seq=seq, base_layer=containers[seq % len(containers)]
            )
            frame.capture_time.FromMicroseconds(1_700_000_000_000_000 + seq * 40_000)
            await call.write(ingest_pb2.IngestRequest(frame=frame))
        await call.done_writing()
        async for _ in call:
            pass


async def fuzz(args: argparse.Namespace, workdir: Path) -> dict:
    codec_file = make_small_codec(workdir / "codec.pt")
    teacher = make_small_teacher(workdir / "teacher.pt")
    containers, layers, fingerprint = seed_frames(Codec.load(codec_file))
    config = small_cloud_config(workdir / "store", codec_file, teacher)
    config["ingest"] = {"enhancement_wait_seconds": 1, "max_enhancement_wait_seconds": 2}
    tally = Tally(args.seed)
    cloud = CloudProcess(config, workdir)
    await asyncio.to_thread(cloud.start)
    try:
        await store_seed_camera(cloud, containers)
    except BaseException:
        cloud.kill()
        raise
    counter = iter(range(args.inputs))
    bar = tqdm(total=args.inputs, unit="input", smoothing=0.05, mininterval=2.0)
    restart = asyncio.Lock()
    t0 = time.monotonic()

    async def check_alive(i: int, item: FuzzInput) -> None:
        async with restart:
            if not cloud.alive():
                tally.fail("crash", i, item, cloud.log_tail(1000))
                await asyncio.to_thread(cloud.start)

    async def worker(k: int) -> None:
        ingest = IngestWorker(cloud, f"fuzz-w{k}", fingerprint, args.deadline)
        channel = cloud.aio_channel()
        try:
            for i in counter:
                item = make_input(args.seed, i, ingest.camera, containers, layers, fingerprint)
                if item.service == "ingest-frame":
                    await ingest.send(i, item, tally)
                elif item.service == "ingest-stream":
                    await whole_stream(cloud, i, item, tally, args.deadline)
                else:
                    await unary(cloud, i, item, tally, args.deadline, channel)
                if i % 200 == 0 or not cloud.alive():
                    await check_alive(i, item)
                bar.update()
        finally:
            await ingest.close()
            await channel.close()

    try:
        await asyncio.gather(*(worker(k) for k in range(args.workers)))
    finally:
        bar.close()
        crashed_at_end = not cloud.alive()
        exit_code = cloud.stop(30)
    seconds = time.monotonic() - t0
    if crashed_at_end:
        tally.failures["crash"].append(
            {"seed": args.seed, "index": args.inputs, "detail": cloud.log_tail(1000)}
        )
    failures = {k: len(v) for k, v in tally.failures.items()}
    return {
        "inputs": args.inputs,
        "seed": args.seed,
        "workers": args.workers,
        "deadline_seconds": args.deadline,
        "seconds": seconds,
        "inputs_per_second": args.inputs / seconds,
        "server_starts": cloud.starts,
        "server_exit_code": exit_code,
        **failures,
        "by_status": dict(tally.statuses.most_common()),
        "by_service": {f"{s}: {a}": n for (s, a), n in sorted(tally.answers.items())},
        "failure_examples": {k: v[:20] for k, v in tally.failures.items()},
        "retryable_internal_examples": tally.retryable_internal,
    }


def plot(result: dict, path: Path) -> None:
    matplotlib.use("Agg")  # files only, no display
    names = list(result["by_status"])
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.barh(names[::-1], [result["by_status"][n] for n in names[::-1]])
    ax.set_xscale("log")
    ax.set_xlabel("answers (log scale)")
    ax.set_title(
        f"fuzz-wire: {result['inputs']:,} inputs, crashes {result['crash']}, "
        f"hangs {result['hang']}, UNKNOWN {result['unknown']}, "
        f"untyped INTERNAL {result['untyped_internal']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="polc-fuzz-") as tmp:
        result = asyncio.run(fuzz(args, Path(tmp)))
    print(
        f"{result['inputs']:,} inputs in {result['seconds']:.0f} s "
        f"({result['inputs_per_second']:.0f}/s): crashes {result['crash']}, hangs "
        f"{result['hang']}, UNKNOWN {result['unknown']}, untyped INTERNAL "
        f"{result['untyped_internal']}"
    )
    for status, n in result["by_status"].items():
        print(f"  {status:<28} {n:>8}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    plot_path = args.plot or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if plot_path:
        plot(result, Path(plot_path))
    bad = result["crash"] + result["hang"] + result["unknown"] + result["untyped_internal"]
    return 1 if bad else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
