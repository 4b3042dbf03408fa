"""`polc demo --serve`: the demo's cloud and edge kept running with the web console on —
the edge loops the synthetic clip, the cloud stores, analyses and tracks it, and an
operator watches it in a browser until Ctrl-C (or SIGTERM) stops everything cleanly.

Auth is on with two random tokens made for this run: the edge's camera token and the
operator token printed with the console URL (paste it into the console's login form).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import tempfile
from pathlib import Path

from polc.app.demo.setup import choose_analyzer, cloud_config, edge_config, encoder_backend
from polc.cloud.server_thread import ServerThread
from polc.edge.node import EdgeNode
from polc.shared.addresses import parse_host_port
from polc.shared.codec.runtime import Codec
from polc.shared.models.weights_file import temporal_path_for

log = logging.getLogger(__name__)


def console_url(http_listen: str, port: int) -> str:
    """Where a browser on this machine reaches the console (a wildcard host: loopback)."""
    host, _ = parse_host_port(http_listen, allow_port_zero=True)
    if host in ("0.0.0.0", "[::]", "::", "*"):
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


def run_serve(args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", False):
        for name in ("polc.cloud", "polc.edge"):
            logging.getLogger(name).setLevel(logging.WARNING)
    codec = Codec.load(args.weights, temporal_path=temporal_path_for(args.weights))
    analyzer = choose_analyzer(args)
    operator_token, camera_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="polc-demo-") as work:
        tmp = Path(work)
        tokens = [
            {"name": "demo-edge", "token": camera_token, "role": "camera", "cameras": ["*"]},
            {"name": "operator", "token": operator_token, "role": "operator"},
        ]
        cloud = ServerThread(
            cloud_config(
                args, tmp, analyzer, **{"http.listen": args.http_listen, "auth.tokens": tokens}
            ),
            codec,
        ).start()
        try:
            edge = edge_config(
                args,
                tmp,
                source={"loop": True},
                uplink={"server": cloud.address, "token": camera_token},
            )
            node = EdgeNode(edge, backend=encoder_backend(args, codec, tmp))
            assert cloud.server.http_port is not None
            print(
                f"polc demo --serve: camera {edge.camera_id} loops the {args.frames}-frame "
                f"synthetic clip at {args.fps:g} fps into the cloud (analyzer: {analyzer.text})\n"
                f"console:        {console_url(args.http_listen, cloud.server.http_port)}\n"
                f"operator token: {operator_token}\n"
                f"gRPC:           {cloud.address} (same token, e.g. polc events list "
                f"--server {cloud.address} --token ...)\n"
                "Ctrl-C stops everything.",
                flush=True,
            )
            asyncio.run(_run_until_signal(node))
        finally:
            cloud.stop()
            print("polc demo --serve: stopped", flush=True)
    return 0


async def _run_until_signal(node: EdgeNode) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(node.run_async(stop))
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(task, 30)  # the edge's error, if it stopped by itself
    node.metrics.close()
