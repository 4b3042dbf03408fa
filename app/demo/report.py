"""The demo's printed lines: one per frame as its result arrives, and the summary of the
streamed clip (rate, latency, accuracy against the ground truth, reconstruction PSNR)."""

from __future__ import annotations

import numpy as np

from polc.app.demo.frames import DemoFrame
from polc.app.demo.scoring import classification_score, detection_matches


def print_frame(seq: int, f: DemoFrame) -> None:
    """The frame's line, once (later calls for the same frame print nothing)."""
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
    kind = "I" if f.key_frame else "P"
    print(
        f"frame {seq:3d} {kind}  alpha {f.alpha:.2f}  base {f.base_bpp:.3f} bpp  encode "
        f"{1e3 * f.encode_s:5.0f} ms  capture->ack {ack}  {result}  (truth: {truth})",
        flush=True,
    )


def print_rate(done: list[DemoFrame], intra_bytes: int, fps: float) -> None:
    """The stream's bitrate (key frames and P-frames) beside what the same frames would have
    cost coded intra (``intra_bytes``: their base layers encoded as key frames)."""
    if not done:
        return

    def kbps(nbytes: int) -> float:
        return nbytes * 8 * fps / len(done) / 1000

    sent = sum(f.base_bytes for f in done)
    keys = sum(f.key_frame for f in done)
    saving = 100 * (1 - sent / intra_bytes) if intra_bytes else 0.0
    print(
        f"rate: temporal coding {kbps(sent):.1f} kbit/s ({keys} key frames, "
        f"{len(done) - keys} P-frames) vs intra coding {kbps(intra_bytes):.1f} kbit/s for "
        f"the same frames ({saving:.0f} % less)"
    )


def print_summary(
    done: list[DemoFrame],
    n_frames: int,
    psnr_by_beta: dict[float, list[float]],
    n_reconstructed: int,
) -> None:
    """``done``: the frames the cloud acknowledged (stored) out of ``n_frames`` captured."""
    n = len(done)
    mean_bpp = float(np.mean([f.base_bpp for f in done])) if done else 0.0
    ack_ms = np.array([1e3 * f.ack_s for f in done if f.ack_s is not None]) if done else np.zeros(1)
    enc_ms = float(np.mean([1e3 * f.encode_s for f in done])) if done else 0.0
    print(
        f"summary: {n}/{n_frames} frames stored in the cloud, mean base "
        f"{mean_bpp:.3f} bpp, encode {enc_ms:.0f} ms/frame, capture->ack latency p50 "
        f"{np.percentile(ack_ms, 50):.0f} ms p95 {np.percentile(ack_ms, 95):.0f} ms"
    )
    score = classification_score(done)
    if score is not None:
        print(
            f"accuracy vs the clip's ground truth ({score.frames} frames with objects): "
            f"top-1 class present in the frame {100 * score.top1_present:.1f}%, classes "
            f"present found in the top 3 {100 * score.recall_top3:.1f}%"
        )
    else:
        print("accuracy: not measured (the cloud ran no analyzer; ship teacher weights)")
    if any(f.boxes for f in done):
        tp, n_det, n_gt = detection_matches(done)
        print(
            f"detection vs the clip's ground-truth boxes (IoU >= 0.5, same class): "
            f"recall {100 * tp / max(n_gt, 1):.1f}% ({tp}/{n_gt}), precision "
            f"{100 * tp / max(n_det, 1):.1f}% ({tp}/{n_det})"
        )
    line = ", ".join(f"beta={b:g} {np.mean(v):.2f} dB" for b, v in psnr_by_beta.items() if v)
    print(
        f"reconstruction PSNR through the cloud's Reconstruct RPC over "
        f"{n_reconstructed} frames: {line}"
    )
