"""`polc edge run`: the edge node from a config file, environment and flags."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from polc.edge.config import load_config
from polc.edge.spool_directory import SpoolError

log = logging.getLogger(__name__)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    source_kind = None
    source_path = None
    if args.source is not None:
        if args.source == "synthetic":
            source_kind = "synthetic"
        elif (
            args.source.startswith(("rtsp://", "rtsps://", "http://", "https://"))
            or args.source.isdigit()
        ):
            source_kind, source_path = "rtsp", args.source
        else:
            source_kind = "folder" if Path(args.source).is_dir() else "video"
            source_path = args.source
    rate_mode = None
    if args.target_kbps is not None:
        rate_mode = "target"
    elif args.alpha is not None:
        rate_mode = "fixed"
    return {
        "uplink.server": args.server,
        "uplink.token": args.token,
        "camera_id": args.camera,
        "source.kind": source_kind,
        "source.path": source_path,
        "source.fps": args.fps,
        "source.max_frames": args.max_frames,
        "rate.mode": rate_mode,
        "rate.alpha": args.alpha,
        "rate.target_kbps": args.target_kbps,
        "encoder.backend": args.backend,
        "encoder.device": args.device,
        "encoder.provider": args.provider,
        "encoder.weights": args.weights,
        "spool.path": args.spool,
        "enhancement.mode": args.enhancement,
        "metrics_listen": args.metrics_listen,
    }


def run(args: argparse.Namespace) -> int:
    from polc.edge.node import EdgeNode  # command handler (rule a): torch, grpc

    config = load_config(args.config, _overrides(args))
    logging.getLogger("polc").setLevel(config.log_level.upper())
    node = EdgeNode(config)
    log.info(
        "edge %s: camera %s, %s backend, %s source at %.1f fps → %s",
        config.edge_id,
        config.camera_id,
        node.backend.name,
        config.source.kind,
        config.source.fps,
        config.uplink.server,
    )
    node.run()
    print(
        f"edge: {int(node.metrics.encoded._value.get())} frames encoded, "
        f"{int(node.metrics.acked._value.get())} acknowledged, {node.spool.depth} spooled"
    )
    return 0


def status(args: argparse.Namespace) -> int:
    """What a spool holds (read-only: safe while the node runs)."""
    path = Path(args.spool) if args.spool else load_config(args.config).spool.path
    state_file = path / "state.json"
    if not state_file.is_file():
        raise SpoolError(f"{path} is not an edge spool (no state.json)")
    state = json.loads(state_file.read_text())
    frames = sorted(int(f.stem) for f in (path / "frames").glob("*.frame"))
    size = sum(f.stat().st_size for f in (path / "frames").glob("*.frame"))
    layers = list((path / "enhancement").glob("*.pole"))
    print(
        f"spool {path}: camera {state['camera_id']}, next seq {state['next_seq']}, "
        f"{len(frames)} frames waiting for an ack ({size} bytes)"
        + (f", seq {frames[0]}..{frames[-1]}" if frames else "")
        + f", {len(layers)} enhancement layers kept "
        f"({sum(f.stat().st_size for f in layers)} bytes)"
    )
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="edge_command", metavar="COMMAND", required=True)
    st = sub.add_parser("status", help="what an edge spool holds (pending frames, layers)")
    st.add_argument("--spool", default=None, help="spool directory")
    st.add_argument("--config", default=None, help="or the node's config file")
    st.set_defaults(handler=status)
    p = sub.add_parser(
        "run",
        help="capture, encode and stream one camera to the cloud",
        description="Run the edge node. Settings: --config FILE, then "
        "POLC_EDGE_* environment variables, then these flags (highest).",
    )
    p.add_argument("--config", default=None, help="YAML config (see deploy/edge.example.yaml)")
    p.add_argument("--server", default=None, help="cloud address HOST:PORT")
    p.add_argument("--token", default=None, help="bearer token (prefer POLC_EDGE_UPLINK__TOKEN)")
    p.add_argument("--camera", default=None, help="camera id")
    p.add_argument(
        "--source",
        default=None,
        help="'synthetic', an image folder, a video file or an RTSP/camera URL",
    )
    p.add_argument("--fps", type=float, default=None, help="frames per second")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--alpha", type=float, default=None, help="fixed rate parameter α in [0, 1]")
    p.add_argument(
        "--target-kbps",
        type=float,
        default=None,
        help="target bitrate (kbit/s): α chosen per frame",
    )
    p.add_argument("--backend", choices=["torch", "onnx"], default=None)
    p.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    p.add_argument(
        "--provider",
        choices=["cpu", "cuda", "tensorrt"],
        default=None,
        help="ONNX Runtime provider",
    )
    p.add_argument("--weights", default=None, help="codec weights (default: bundled)")
    p.add_argument("--spool", default=None, help="spool directory")
    p.add_argument("--enhancement", choices=["always", "never", "on-demand"], default=None)
    p.add_argument("--metrics-listen", default=None, help="HOST:PORT of /metrics ('' = off)")
    p.set_defaults(handler=run)
