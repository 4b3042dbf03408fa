"""The operator's side of the demo: Reconstruct(β) of every stored frame through the
cloud's gRPC API (β < 1 makes the cloud fetch the enhancement layer from the edge), and
the PSNR of what came back against the captured frames."""

from __future__ import annotations

import io

import grpc
import numpy as np
from PIL import Image

from polc.app.demo import BETAS
from polc.app.demo.frames import DemoFrame
from polc.shared.metrics.image import psnr
from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc

# stored frame seq -> β -> the PNG the cloud returned
Reconstructions = dict[int, dict[float, bytes]]


def reconstruct_all(address: str, camera_id: str, seqs: list[int]) -> Reconstructions:
    """Every frame of ``seqs`` at each β of BETAS (blocking; one channel)."""
    images: Reconstructions = {}
    with grpc.insecure_channel(address) as ch:
        stub = reconstruct_pb2_grpc.ReconstructServiceStub(ch)
        for seq in seqs:
            images[seq] = {}
            for beta in BETAS:
                resp = stub.Reconstruct(
                    reconstruct_pb2.ReconstructRequest(camera_id=camera_id, seq=seq, beta=beta),
                    timeout=60,
                )
                images[seq][beta] = resp.image
    return images


def psnr_by_beta(frames: dict[int, DemoFrame], images: Reconstructions) -> dict[float, list[float]]:
    """β -> PSNR (dB) of each reconstruction against its captured frame."""
    by_beta: dict[float, list[float]] = {b: [] for b in BETAS}
    for seq, pngs in images.items():
        for beta, png in pngs.items():
            x = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            by_beta[beta].append(psnr(frames[seq].image, x))
    return by_beta
