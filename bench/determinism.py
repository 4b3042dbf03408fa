"""`polc bench determinism`: do encoder and decoder agree on ŷ's entropy parameters?

Every frame of a synthetic clip is encoded by three edge backends — torch with 1 thread,
torch with N threads, ONNX Runtime (CPU provider, the edge's exported models) — at an α that
cycles over [0, 1], and decoded by the torch cloud path.

* before (float h_s, what a naive port does): the edge computes the scale indexes with h_s
  in its own runtime (ONNX Runtime / torch), the cloud with torch. We count frames with at
  least one differing index and the total of differing indexes.
* after (polc's integer h_s + checksums): the cloud decodes each container and we count
  frames whose decoded ŷ symbols differ from the encoder's, or that fail to decode.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from polc.shared.codec.onnx_backend import OrtTransforms, export_onnx, make_session
from polc.shared.codec.runtime import Codec, FrameEncoder, TorchTransforms, image_to_array
from polc.shared.data import render_video_frames


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default="bench-determinism.json")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=288)
    p.add_argument("--threads", type=int, default=2, help="N of the multi-thread torch run")
    p.add_argument("--weights", default=None)


class _FloatHyper:
    """Float h_s in torch and in ONNX Runtime, with CompressAI's index rule."""

    def __init__(self, codec, onnx_dir: Path):
        self.model = codec.model
        path = onnx_dir / "h_s.onnx"
        torch.onnx.export(
            codec.model.h_s,
            (torch.zeros(1, codec.model.arch.N, 2, 2),),
            str(path),
            input_names=["input"],
            output_names=["means", "scales"],
            dynamic_axes={"input": {2: "h", 3: "w"}},
            opset_version=17,
            dynamo=False,
        )
        self.session = make_session(path, "cpu")
        self.table = codec.model.gaussian.scale_table.numpy()

    def _indexes(self, scales: np.ndarray) -> np.ndarray:
        scales = np.maximum(scales, 0.11)
        return np.searchsorted(self.table[:-1], scales, side="left")

    def torch_indexes(self, z_sym: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            _, s = self.model.h_s(torch.from_numpy(z_sym).float()[None])
        return self._indexes(s[0].numpy())

    def ort_indexes(self, z_sym: np.ndarray) -> np.ndarray:
        _, s = self.session.run(None, {"input": z_sym.astype(np.float32)[None]})
        return self._indexes(s[0])


def run(args: argparse.Namespace) -> int:
    codec = Codec.load(args.weights)
    tmp = Path(tempfile.mkdtemp(prefix="polc-onnx-"))
    export_onnx(codec.model, tmp)
    backends = {
        "torch-1thread": FrameEncoder(codec.wire, TorchTransforms(codec.model)),
        f"torch-{args.threads}threads": FrameEncoder(codec.wire, TorchTransforms(codec.model)),
        "onnxruntime-cpu": FrameEncoder(codec.wire, OrtTransforms(tmp, "cpu")),
    }
    float_hs = _FloatHyper(codec, tmp)
    before = {"frames_with_mismatch": 0, "index_mismatches": 0, "indexes_compared": 0}
    after = {name: {"frames_with_mismatch": 0, "decode_errors": 0} for name in backends}
    t0 = time.time()
    frames = render_video_frames(args.frames, 4242, (args.width, args.height))
    for i, (image, _) in enumerate(tqdm(frames, total=args.frames, desc="frames")):
        alpha = (i % 11) / 10.0
        # ---- before: float h_s on each side -------------------------------------------
        x, _ = image_to_array(image)
        ort = backends["onnxruntime-cpu"].transforms
        v = ort.analysis(x) * codec.wire.gain_y(alpha)[None, :, None, None]
        z_sym = np.round(ort.hyper_analysis(v.astype(np.float32))[0]).astype(np.int64)
        edge_idx, cloud_idx = float_hs.ort_indexes(z_sym), float_hs.torch_indexes(z_sym)
        flips = int((edge_idx != cloud_idx).sum())
        before["index_mismatches"] += flips
        before["indexes_compared"] += edge_idx.size
        before["frames_with_mismatch"] += int(flips > 0)
        # ---- after: polc's path, decoded by the torch cloud ---------------------------
        for name, enc in backends.items():
            torch.set_num_threads(1 if name == "torch-1thread" else args.threads)
            container, sent = enc.encode_with_symbols(image, alpha)
            try:
                decoded = codec.wire.decode_symbols(
                    type(container).from_bytes(container.to_bytes())
                )
            except Exception:
                after[name]["decode_errors"] += 1
                continue
            if not np.array_equal(decoded.y_symbols, sent):
                after[name]["frames_with_mismatch"] += 1
    torch.set_num_threads(args.threads)
    result = {
        "frames": args.frames,
        "size": [args.width, args.height],
        "alphas": "i % 11 / 10",
        "before_float_hs_torch_vs_onnxruntime": before,
        "after_integer_hs": after,
        "seconds": time.time() - t0,
        "model_fingerprint": codec.fingerprint,
    }
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(
        f"before (float h_s, ONNX Runtime edge vs torch cloud): "
        f"{before['frames_with_mismatch']}/{args.frames} frames with mismatched indexes, "
        f"{before['index_mismatches']} of {before['indexes_compared']} indexes differ"
    )
    for name, a in after.items():
        print(
            f"after  (integer h_s) {name:>18}: {a['frames_with_mismatch']} frames with a "
            f"different ŷ, {a['decode_errors']} decode errors"
        )
    print(f"wrote {args.json}")
    return 0
