"""ONNX export of the edge transforms and an ONNX Runtime implementation of them.

Only the float transforms (g_a, h_a, T_enc) run in ONNX Runtime. Everything that decides
symbols and entropy parameters stays in the shared ``WireModel`` (integer h_s), so frames
encoded here decode bit-exactly in the torch cloud.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from compressai.layers import GDN
from torch import nn

from polc.shared.codec.model import RDCCodec

log = logging.getLogger(__name__)

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class FrozenGDN(nn.Module):
    """GDN with its reparametrised β, γ baked in (CompressAI's LowerBound blocks export)."""

    def __init__(self, gdn: GDN):
        super().__init__()
        with torch.no_grad():
            self.register_buffer("beta", gdn.beta_reparam(gdn.beta).clone())
            gamma = gdn.gamma_reparam(gdn.gamma)
            self.register_buffer("gamma", gamma.reshape(*gamma.shape, 1, 1).clone())
        self.inverse = gdn.inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = F.conv2d(x * x, self.gamma, self.beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def freeze_for_export(module: nn.Module) -> nn.Module:
    module = copy.deepcopy(module).eval()
    for name, child in list(module.named_children()):
        if isinstance(child, GDN):
            setattr(module, name, FrozenGDN(child))
        else:
            setattr(module, name, freeze_for_export(child))
    return module


def export_onnx(model: RDCCodec, out_dir: Path, opset: int = 17) -> dict[str, Path]:
    """Write g_a.onnx, h_a.onnx, t_enc.onnx with dynamic spatial sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    M = model.arch.M
    specs = {"g_a": (model.g_a, torch.zeros(1, 3, 128, 128)),
             "h_a": (model.h_a, torch.zeros(1, M, 8, 8)),
             "t_enc": (model.t_enc, torch.zeros(1, M, 8, 8))}
    paths = {}
    for name, (module, example) in specs.items():
        path = out_dir / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(freeze_for_export(module), (example,), str(path),
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {2: "h", 3: "w"},
                                            "output": {2: "oh", 3: "ow"}},
                              opset_version=opset, dynamo=False)
        paths[name] = path
    return paths


def make_session(path: Path, provider: str = "cpu", threads: int = 0, warn: bool = True):
    """An ORT session on the requested provider, falling back to CPU with one warning."""
    import onnxruntime as ort

    wanted = PROVIDERS.get(provider)
    if wanted is None:
        raise ValueError(f"unknown ONNX Runtime provider '{provider}' "
                         f"(choose from {', '.join(PROVIDERS)})")
    available = ort.get_available_providers()
    providers = [p for p in wanted if p in available]
    ort.set_default_logger_severity(3)  # ORT's own provider-creation warning -> ours below
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # our own warning below replaces ORT's error spam
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    active = session.get_providers()
    if warn and wanted[0] not in active:
        log.warning("ONNX Runtime provider %s is not usable on this machine "
                    "(missing GPU or CUDA/TensorRT libraries); running on %s",
                    wanted[0], active[0])
    return session


class OrtTransforms:
    """EncoderTransforms backed by ONNX Runtime sessions."""

    def __init__(self, onnx_dir: Path, provider: str = "cpu", threads: int = 0):
        self.sessions = {name: make_session(onnx_dir / f"{name}.onnx", provider, threads,
                                            warn=(i == 0))
                         for i, name in enumerate(("g_a", "h_a", "t_enc"))}

    def _run(self, name: str, a: np.ndarray) -> np.ndarray:
        return self.sessions[name].run(None, {"input": np.ascontiguousarray(a, np.float32)})[0]

    def analysis(self, x: np.ndarray) -> np.ndarray:
        return self._run("g_a", x)

    def hyper_analysis(self, v: np.ndarray) -> np.ndarray:
        return self._run("h_a", v)

    def scalable(self, residual: np.ndarray) -> np.ndarray:
        return self._run("t_enc", residual)
