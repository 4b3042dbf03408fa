"""`polc demo`: the whole system on the bundled default model, no arguments, no network.

    synthetic traffic clip ─► edge node (encode, spool, uplink) ══ gRPC, loopback ══►
        cloud service (store, decode, analyzer) ─► per-frame results ─► accuracy vs truth
    operator ─► Reconstruct(β = 1, 0.5, 0) ─► cloud ─► (β < 1: enhancement layer fetched
        from the edge on demand) ─► PNGs + PSNR

Everything runs in this process on free loopback ports and temporary directories; both
sides' Prometheus endpoints are up while the demo runs and are scraped into the output
folder at the end. Without the cloud package the demo falls back to the codec path only.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polc.shared.metrics.image import psnr

log = logging.getLogger(__name__)
BETAS = (1.0, 0.5, 0.0)


@dataclass
class _Frame:
    image: np.ndarray
    truth: list[str]
    alpha: float
    base_bpp: float
    encode_s: float
    ack_s: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    boxes: list[tuple[str, float, tuple[float, float, float, float]]] = field(
        default_factory=list)  # detections from the cloud: label, score, x0 y0 x1 y1
    truth_boxes: list[tuple[str, tuple[float, float, float, float]]] = field(
        default_factory=list)
    printed: bool = False


def _truth(annotations: list[dict] | None) -> list[str]:
    """The classes present in a frame (its annotations' categories)."""
    from polc.shared.data import CLASSES

    return sorted({CLASSES[a["category_id"] - 1] for a in annotations or []})


def _truth_boxes(annotations: list[dict] | None
                 ) -> list[tuple[str, tuple[float, float, float, float]]]:
    from polc.shared.data import CLASSES

    return [(CLASSES[a["category_id"] - 1],
             (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
              a["bbox"][1] + a["bbox"][3])) for a in annotations or []]


def detection_matches(frames: list[_Frame], iou: float = 0.5) -> tuple[int, int, int]:
    """(true positives, detections, ground-truth objects): each detection, best score
    first, takes the unmatched ground-truth box of its class with the highest IoU ≥ iou."""
    import torch
    from torchvision.ops import box_iou

    tp = n_det = n_gt = 0
    for f in frames:
        n_gt += len(f.truth_boxes)
        n_det += len(f.boxes)
        if not f.boxes or not f.truth_boxes:
            continue
        dets = sorted(f.boxes, key=lambda d: -d[1])
        ious = box_iou(torch.tensor([d[2] for d in dets]),
                       torch.tensor([g for _, g in f.truth_boxes]))
        same = torch.tensor([[d[0] == gl for gl, _ in f.truth_boxes] for d in dets])
        ious = torch.where(same, ious, torch.zeros(()))
        for row in ious:
            best = int(row.argmax())
            if row[best] >= iou:
                tp += 1
                ious[:, best] = 0  # this ground-truth box is taken
    return tp, n_det, n_gt


def _print_frame(seq: int, f: _Frame) -> None:
    if f.printed:
        return
    f.printed = True
    ack = f"{1e3 * f.ack_s:6.0f} ms" if f.ack_s is not None else "     - ms"
    if f.top:
        label, score = f.top[0]
        mark = "ok" if label in f.truth else "--"
        result = f"cloud: {label} {score:.2f} [{mark}]"
        if f.boxes:
            shown = ", ".join(f"{b[0]} {b[1]:.2f}" for b in f.boxes[:3])
            more = f" +{len(f.boxes) - 3}" if len(f.boxes) > 3 else ""
            result += f"  boxes: {shown}{more}"
    else:
        result = "cloud: (no analyzer)"
    truth = ", ".join(f.truth) or "empty road"
    print(f"frame {seq:3d}  alpha {f.alpha:.2f}  base {f.base_bpp:.3f} bpp  encode "
          f"{1e3 * f.encode_s:5.0f} ms  capture->ack {ack}  {result}  (truth: {truth})",
          flush=True)


def _scrape(url: str | None, path: Path) -> None:
    if not url:
        return
    try:
        path.write_bytes(urllib.request.urlopen(url, timeout=5).read())
    except OSError as exc:
        log.warning("could not scrape %s: %s", url, exc)


def run(args: argparse.Namespace) -> int:
    try:
        import polc.cloud.server  # noqa: F401
        import polc.edge.node  # noqa: F401
    except ImportError as exc:
        print(f"polc demo: the streaming part is unavailable ({exc}); running the codec path")
        return run_codec_only(args)
    return run_streaming(args)


def run_streaming(args: argparse.Namespace) -> int:
    from PIL import Image

    from polc.cloud.config import load_config as load_cloud_config
    from polc.cloud.server import ServerThread
    from polc.edge.backends import EncoderBackend, build_encoder
    from polc.edge.config import EdgeConfig, EncoderSettings
    from polc.edge.node import EdgeNode
    from polc.shared.codec.runtime import Codec
    from polc.shared.models.weights_file import WEIGHTS_DIR, default_teacher_path

    t_start = time.perf_counter()
    if not getattr(args, "verbose", False):  # the per-frame lines tell the story
        for name in ("polc.cloud", "polc.edge"):
            logging.getLogger(name).setLevel(logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    codec = Codec.load(args.weights)
    teacher = Path(args.teacher) if args.teacher else default_teacher_path()
    has_teacher = Path(teacher).is_file()
    # the product's path: POLC adapters straight on ŷ (no pixel decoding) when their
    # weights are bundled, else the pixel teacher on the decoded x̂₁
    adapters = has_teacher and (WEIGHTS_DIR / "adapter_cls.pt").is_file() and not args.teacher
    analyzer = "adapter" if adapters else "pixel-teacher" if has_teacher else "none"
    analyzer_text = {"adapter": "POLC adapters on the latent (classes + boxes, no pixel "
                                "decoding)", "pixel-teacher": "pixel teacher on x̂₁",
                     "none": "off (no teacher weights)"}[analyzer]
    work = tempfile.TemporaryDirectory(prefix="polc-demo-")
    tmp = Path(work.name)
    cloud_config = load_cloud_config(None, {
        "listen": "127.0.0.1:0", "metrics_listen": "127.0.0.1:0",
        "store.path": str(tmp / "cloud-store"), "store.synchronous": "normal",
        "codec.weights": args.weights,
        "analyzer.kind": analyzer,
        "analyzer.teacher_weights": str(teacher) if has_teacher else None,
        "batching.max_queue_delay_ms": 2.0, "connection.shutdown_grace_seconds": 2.0})
    rate = ({"mode": "target", "target_kbps": args.target_kbps} if args.target_kbps
            else {"mode": "fixed", "alpha": args.alpha})
    edge_config = EdgeConfig.model_validate({
        "camera_id": "demo-cam", "edge_id": "demo-edge", "metrics_listen": "127.0.0.1:0",
        "source": {"kind": "synthetic", "width": args.width, "height": args.height,
                   "frames": args.frames, "fps": args.fps, "seed": args.seed},
        "encoder": {"backend": args.backend, "weights": args.weights,
                    "cache_dir": str(tmp / "onnx")},
        "rate": rate, "enhancement": {"mode": "on-demand"},
        "spool": {"path": str(tmp / "edge-spool")},
        "uplink": {"server": "127.0.0.1:1", "backoff_initial_seconds": 0.2},
        "exit_when_drained": False})
    backend = (EncoderBackend(codec, codec.encoder, "torch:cpu") if args.backend == "torch"
               else build_encoder(EncoderSettings(backend="onnx", weights=args.weights,
                                                  cache_dir=tmp / "onnx"), codec))
    print(f"polc demo: codec {codec.fingerprint[:12]}, {args.frames} synthetic frames "
          f"{args.width}x{args.height} at {args.fps:g} fps, edge backend {backend.name}, "
          f"analyzer: {analyzer_text}",
          flush=True)

    cloud = ServerThread(cloud_config, codec).start()
    cloud_metrics = (f"http://127.0.0.1:{cloud.server.metrics_port}/metrics"
                     if cloud.server.metrics_port else None)
    print(f"cloud: serving on {cloud.address}, metrics {cloud_metrics}", flush=True)
    edge_config.uplink.server = cloud.address
    frames: dict[int, _Frame] = {}
    early: dict[int, list] = {}  # acks / results that beat on_encoded (another thread)
    lock = threading.Lock()

    def apply(seq: int, f: _Frame, event) -> None:
        if hasattr(event, "latency_seconds"):  # an AckInfo
            f.ack_s = event.latency_seconds
            if not has_teacher:
                _print_frame(seq, f)
        else:  # a FrameResult
            f.top = [(c.label, c.score) for c in event.classes]
            f.boxes = [(d.label, d.score, (d.box.x_min, d.box.y_min, d.box.x_max,
                                           d.box.y_max)) for d in event.detections]
            _print_frame(seq, f)

    def on_encoded(e) -> None:
        f = _Frame(e.captured.image, _truth(e.captured.annotations), e.alpha, e.base_bpp,
                   e.encode_seconds,
                   truth_boxes=_truth_boxes(e.captured.annotations))
        with lock:
            frames[e.seq] = f
            for event in early.pop(e.seq, []):
                apply(e.seq, f, event)

    def on_event(event) -> None:
        with lock:
            f = frames.get(event.seq)
            if f is None:
                early.setdefault(event.seq, []).append(event)
            else:
                apply(event.seq, f, event)

    try:
        node = EdgeNode(edge_config, backend=backend, on_encoded=on_encoded, on_ack=on_event,
                        on_result=on_event)
        recon = asyncio.run(_stream_and_reconstruct(node, cloud.address, frames, has_teacher,
                                                    args.timeout, args.hold, cloud_metrics))
        print(f"edge: metrics {node.metrics_url}", flush=True)
        _scrape(cloud_metrics, out / "metrics-cloud.txt")
        _scrape(node.metrics_url, out / "metrics-edge.txt")
        node.metrics.close()
    finally:
        cloud.stop()
        work.cleanup()

    # -- outputs ---------------------------------------------------------------------
    chosen = recon["seq"]
    Image.fromarray(frames[chosen].image).save(out / "original.png")
    psnr_by_beta: dict[float, list[float]] = {b: [] for b in BETAS}
    for seq, images in recon["images"].items():
        for beta, png in images.items():
            x = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            psnr_by_beta[beta].append(psnr(frames[seq].image, x))
            if seq == chosen:
                (out / f"beta{beta}.png").write_bytes(png)
    done = [f for f in frames.values() if f.ack_s is not None]
    n = len(done)
    mean_bpp = float(np.mean([f.base_bpp for f in done])) if done else 0.0
    ack_ms = np.array([1e3 * f.ack_s for f in done]) if done else np.zeros(1)
    enc_ms = float(np.mean([1e3 * f.encode_s for f in done])) if done else 0.0
    print(f"summary: {n}/{args.frames} frames stored in the cloud, mean base "
          f"{mean_bpp:.3f} bpp, encode {enc_ms:.0f} ms/frame, capture->ack latency p50 "
          f"{np.percentile(ack_ms, 50):.0f} ms p95 {np.percentile(ack_ms, 95):.0f} ms")
    scored = [f for f in done if f.top and f.truth]
    if scored:
        hit = np.mean([f.top[0][0] in f.truth for f in scored])
        # the classifier was trained on single-object crops: on a full frame its top-k
        # should name the classes present; recall of those in the top 3
        recall3 = np.mean([len(set(f.truth) & {c for c, _ in f.top[:3]}) / len(f.truth)
                           for f in scored])
        print(f"accuracy vs the clip's ground truth ({len(scored)} frames with objects): "
              f"top-1 class present in the frame {100 * hit:.1f}%, classes present found "
              f"in the top 3 {100 * recall3:.1f}%")
    else:
        print("accuracy: not measured (the cloud ran no analyzer; ship teacher weights)")
    if any(f.boxes for f in done):
        tp, n_det, n_gt = detection_matches(done)
        print(f"detection vs the clip's ground-truth boxes (IoU >= 0.5, same class): "
              f"recall {100 * tp / max(n_gt, 1):.1f}% ({tp}/{n_gt}), precision "
              f"{100 * tp / max(n_det, 1):.1f}% ({tp}/{n_det})")
    line = ", ".join(f"beta={b:g} {np.mean(v):.2f} dB" for b, v in psnr_by_beta.items() if v)
    print(f"reconstruction PSNR through the cloud's Reconstruct RPC over "
          f"{len(recon['images'])} frames: {line}")
    print(f"reconstructions of frame {chosen} at beta = 0, 0.5, 1: {out}/beta*.png "
          f"(original: {out}/original.png); metrics scraped to {out}/metrics-*.txt")
    print(f"metrics URLs (live while the demo ran): cloud {cloud_metrics}, edge "
          f"{node.metrics_url}")
    print(f"demo finished in {time.perf_counter() - t_start:.1f} s")
    return 0


async def _stream_and_reconstruct(node, address: str, frames: dict, expect_results: bool,
                                  timeout: float, hold: float = 0.0,
                                  cloud_metrics: str | None = None) -> dict:
    """Stream the clip, wait for every ack (and result), then reconstruct at each β."""
    import grpc

    from polc.shared.errors import PolcError
    from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc

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
                if (not expect_results or all(f.top for f in acked)
                        or time.monotonic() > results_deadline):
                    break
            elif time.monotonic() > deadline:
                raise PolcError(f"demo timed out after {timeout:.0f} s "
                                f"({node.spool.depth} frames still spooled)")
            await asyncio.sleep(0.05)
        for seq, f in frames.items():
            _print_frame(seq, f)  # frames whose result never came

        # the chosen frame: the one with the most objects; PSNR over every frame
        stored = sorted(s for s, f in frames.items() if f.ack_s is not None)
        if not stored:
            raise PolcError("the cloud stored none of the frames")
        chosen = max(stored, key=lambda s: (len(frames[s].truth), -s))

        def reconstruct_all() -> dict[int, dict[float, bytes]]:
            images: dict[int, dict[float, bytes]] = {}
            with grpc.insecure_channel(address) as ch:
                stub = reconstruct_pb2_grpc.ReconstructServiceStub(ch)
                for seq in stored:
                    images[seq] = {}
                    for beta in BETAS:
                        resp = stub.Reconstruct(reconstruct_pb2.ReconstructRequest(
                            camera_id=node.config.camera_id, seq=seq, beta=beta), timeout=60)
                        images[seq][beta] = resp.image
            return images

        print("operator: Reconstruct(beta = 1, 0.5, 0) of every frame through the cloud; "
              "beta < 1 pulls the enhancement layers from the edge on demand", flush=True)
        images = await asyncio.get_running_loop().run_in_executor(None, reconstruct_all)
        if hold > 0:
            print(f"holding for {hold:g} s: cloud {address} (metrics {cloud_metrics}), edge "
                  f"metrics {node.metrics_url}", flush=True)
            await asyncio.sleep(hold)
        return {"seq": chosen, "images": images}
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def run_codec_only(args: argparse.Namespace) -> int:
    """The codec path alone: encode, decode as the cloud would, reconstruct at β."""
    from PIL import Image

    from polc.shared.codec.runtime import Codec
    from polc.shared.data import render_video_frames

    codec = Codec.load(args.weights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"polc demo: codec {codec.fingerprint[:12]}, {args.frames} synthetic frames "
          f"{args.width}x{args.height}")
    totals = {"bpp_base": [], "bpp_enh": [], "psnr1": [], "psnr0": [], "enc": [], "dec": []}
    frames = render_video_frames(args.frames, args.seed, (args.width, args.height))
    for i, (image, objects) in enumerate(frames):
        t0 = time.perf_counter()
        data = codec.encode(image, args.alpha, enhancement=True)
        t1 = time.perf_counter()
        frame = codec.decode(data)
        x1 = codec.reconstruct(frame, 1.0)
        t2 = time.perf_counter()
        x0 = codec.reconstruct(frame, 0.0)
        base, enh = codec.bits_per_pixel(frame)
        p1, p0 = psnr(image, x1), psnr(image, x0)
        for k, v in zip(totals, (base, enh, p1, p0, t1 - t0, t2 - t1), strict=True):
            totals[k].append(v)
        print(f"frame {i:3d}  objects {len(objects):2d}  alpha {args.alpha:.2f}  "
              f"base {base:.3f} bpp + enh {enh:.3f} bpp  PSNR beta=1 {p1:5.2f} dB  "
              f"beta=0 {p0:5.2f} dB")
        if i == 0:
            Image.fromarray(image).save(out / "original.png")
            for beta in BETAS:
                Image.fromarray(codec.reconstruct(frame, beta)).save(out / f"beta{beta}.png")
    m = {k: float(np.mean(v)) for k, v in totals.items()}
    print(f"summary: {args.frames} frames, mean base {m['bpp_base']:.3f} bpp, enhancement "
          f"{m['bpp_enh']:.3f} bpp, PSNR beta=1 {m['psnr1']:.2f} dB, beta=0 {m['psnr0']:.2f} dB"
          f", encode {1e3 * m['enc']:.1f} ms, decode {1e3 * m['dec']:.1f} ms per frame")
    print(f"reconstructions at beta = 0, 0.5, 1: {out}/beta*.png")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=24, help="clip length in frames")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--fps", type=float, default=6.0, help="capture rate of the clip")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--alpha", type=float, default=0.5, help="fixed rate parameter α")
    parser.add_argument("--target-kbps", type=float, default=None,
                        help="rate control instead of a fixed α")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                        help="edge encoder backend")
    parser.add_argument("--out", default="polc-demo-output")
    parser.add_argument("--weights", default=None, help="codec weights (default: bundled)")
    parser.add_argument("--teacher", default=None,
                        help="teacher weights of the cloud analyzer (default: bundled)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the cloud to store and analyse the clip")
    parser.add_argument("--hold", type=float, default=0.0,
                        help="keep the cloud, edge and metrics up this many seconds at the end")
    parser.add_argument("--codec-only", action="store_true",
                        help="skip the edge/cloud streaming, run the codec path only")
    parser.set_defaults(handler=lambda a: run_codec_only(a) if a.codec_only else run(a))
