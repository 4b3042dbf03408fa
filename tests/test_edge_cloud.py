"""The edge node against the real cloud service on loopback: a cloud outage mid-stream,
the cloud's maximum connection age, β < 1 reconstruction through the on-demand path, mutual
TLS with bearer tokens, and `polc edge run` killed with -9 and restarted."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import yaml
from fixtures.cloud import SHORT_CONNECTION_AGE, make_config, mutual_tls
from fixtures.edge import edge_settings
from PIL import Image

from polc.cloud.server_thread import ServerThread
from polc.edge.config import EdgeConfig, TlsSettings
from polc.edge.node import EdgeNode
from polc.edge.uplink import UplinkFatalError
from polc.v1 import query_pb2, query_pb2_grpc, reconstruct_pb2, reconstruct_pb2_grpc


def _edge_config(tmp_path: Path, address: str, weights: Path, **source) -> EdgeConfig:
    return EdgeConfig.model_validate(
        edge_settings(tmp_path, address, weights, camera_id="cam-e", **source)
    )


def _stored_seqs(address: str, camera: str = "cam-e") -> list[int]:
    seqs, token = [], ""
    with grpc.insecure_channel(address) as ch:
        stub = query_pb2_grpc.QueryServiceStub(ch)
        while True:
            page = stub.ListFrames(
                query_pb2.ListFramesRequest(camera_id=camera, page_size=1000, page_token=token),
                timeout=10,
            )
            seqs += [f.seq for f in page.frames]
            token = page.next_page_token
            if not token:
                return seqs


@pytest.mark.parametrize(
    "outage, frames", [(1.5, 60), pytest.param(30.0, 340, marks=pytest.mark.slow)]
)
def test_cloud_outage_mid_stream(
    tmp_path: Path, small_codec, small_codec_file, outage: float, frames: int
) -> None:
    """Stop the cloud while the edge streams, restart it on the same port and store."""
    config = make_config(tmp_path, small_codec_file, None)
    cloud = ServerThread(config, small_codec).start()
    address = cloud.address
    acked: list[int] = []

    async def main() -> None:
        nonlocal cloud
        fps = 20 if frames <= 60 else 10
        node = EdgeNode(
            _edge_config(tmp_path, address, small_codec_file, frames=frames, fps=fps),
            on_ack=lambda a: acked.append(a.seq),
        )
        task = asyncio.create_task(node.run_async())
        while len(acked) < 8:
            assert not task.done(), task.result()
            await asyncio.sleep(0.02)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, cloud.stop, 0.5)  # outage
        await asyncio.sleep(outage)
        assert node.spool.depth > 0 and not node.capture_done.is_set()
        restarted = make_config(tmp_path, small_codec_file, None, listen=address)
        cloud = await loop.run_in_executor(
            None, lambda: ServerThread(restarted, small_codec).start()
        )
        await asyncio.wait_for(task, 120)
        assert node.spool.depth == 0 and node.uplink.sessions >= 2

    try:
        asyncio.run(main())
        seqs = _stored_seqs(address)
    finally:
        cloud.stop()
    assert seqs == list(range(frames))  # every frame, once each


def test_max_connection_age_and_on_demand_reconstruct(
    tmp_path: Path, small_codec, small_codec_file
) -> None:
    config = make_config(
        tmp_path,
        small_codec_file,
        None,
        **SHORT_CONNECTION_AGE,
    )
    cloud = ServerThread(config, small_codec).start()
    images: dict[int, np.ndarray] = {}

    async def main() -> tuple[reconstruct_pb2.ReconstructResponse, int]:
        cfg = _edge_config(tmp_path, cloud.address, small_codec_file, frames=60)
        cfg.exit_when_drained = False
        node = EdgeNode(cfg, on_encoded=lambda e: images.__setitem__(e.seq, e.captured.image))
        stop = asyncio.Event()
        task = asyncio.create_task(node.run_async(stop))
        while not (node.capture_done.is_set() and node.spool.depth == 0):
            assert not task.done(), task.result()
            await asyncio.sleep(0.05)

        def reconstruct() -> reconstruct_pb2.ReconstructResponse:
            with grpc.insecure_channel(cloud.address) as ch:
                return reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct(
                    reconstruct_pb2.ReconstructRequest(camera_id="cam-e", seq=10, beta=0.0),
                    timeout=30,
                )

        resp = await asyncio.get_running_loop().run_in_executor(None, reconstruct)
        stop.set()
        await asyncio.wait_for(task, 30)
        return resp, node.uplink.sessions

    try:
        resp, sessions = asyncio.run(main())
        seqs = _stored_seqs(cloud.address)
    finally:
        cloud.stop()
    assert sessions >= 2  # the connection aged out at least once (60 frames take 3 s)
    assert seqs == list(range(60))
    assert resp.enhancement_fetched and resp.beta == 0.0
    image = np.asarray(Image.open(io.BytesIO(resp.image)).convert("RGB"))
    assert image.shape == images[10].shape


def test_mutual_tls_and_bearer_token(
    tmp_path: Path, small_codec, small_codec_file, pki: Path
) -> None:
    token, other = "camera-token-0123456789", "other-camera-token-0123"
    config = make_config(
        tmp_path,
        small_codec_file,
        None,
        **{
            **mutual_tls(pki),
            "auth.tokens": [
                {"token": token, "role": "camera", "cameras": ["cam-e"]},
                {"token": other, "role": "camera", "cameras": ["cam-x"]},
            ],
        },
    )
    cloud = ServerThread(config, small_codec).start()

    def edge(tok: str, frames: int) -> EdgeConfig:
        cfg = _edge_config(
            tmp_path / tok,
            f"localhost:{cloud.server.port}",
            small_codec_file,
            frames=frames,
            realtime=False,
        )
        cfg.uplink.token = tok
        cfg.uplink.tls = TlsSettings(
            ca_file=pki / "ca.pem", cert_file=pki / "client.pem", key_file=pki / "client.key"
        )
        return cfg

    try:
        node = EdgeNode(edge(token, 5))
        asyncio.run(asyncio.wait_for(node.run_async(), 60))
        assert node.spool.depth == 0 and node.metrics.acked._value.get() == 5
        wrong = EdgeNode(edge(other, 1))  # a valid token bound to another camera
        with pytest.raises(UplinkFatalError, match="PERMISSION_DENIED"):
            asyncio.run(asyncio.wait_for(wrong.run_async(), 60))
        # nothing lost: every frame it captured waits in the spool (the refusal may come
        # before the source produced its frame, then there is none: that is timing)
        assert wrong.spool.depth == wrong.metrics.captured._value.get() <= 1
    finally:
        cloud.stop()


def test_edge_killed_and_restarted_against_the_real_cloud(
    tmp_path: Path, small_codec, small_codec_file
) -> None:
    """`polc edge run` in a subprocess, kill -9 mid-stream, restart: every frame once."""
    config = make_config(tmp_path, small_codec_file, None, **{"ingest.window": 1})
    cloud = ServerThread(config, small_codec).start()
    cfg = tmp_path / "edge.yaml"

    def write_config(frames: int) -> None:
        values = edge_settings(
            tmp_path,
            cloud.address,
            small_codec_file,
            camera_id="cam-k",
            frames=frames,
            fps=50,
            backoff=(0.1, 30.0),  # the uplink's default maximum
            fsync=True,
        )
        values["enhancement"]["mode"] = "never"
        cfg.write_text(yaml.safe_dump(values))

    def spawn() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "polc.app.cli", "edge", "run", "--config", str(cfg)],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    try:
        write_config(200)
        proc = spawn()
        deadline = time.monotonic() + 60
        while len(_stored_seqs(cloud.address, "cam-k")) < 10:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.05)
        proc.kill()  # SIGKILL
        proc.wait()
        write_config(5)
        proc = spawn()
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()
        next_seq = json.loads((tmp_path / "spool" / "state.json").read_text())["next_seq"]
        seqs = _stored_seqs(cloud.address, "cam-k")
    finally:
        cloud.stop()
    assert next_seq >= 15
    assert seqs == list(range(next_seq))  # nothing lost, nothing twice, no gaps
