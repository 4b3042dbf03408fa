"""ONNX export of the edge transforms and an ONNX Runtime implementation of them.

Only the float transforms (g_a, h_a, T_enc) run in ONNX Runtime. Everything that decides
symbols and entropy parameters stays in the shared ``WireModel`` (integer h_s), so frames
encoded here decode bit-exactly in the torch cloud.

The encoder runs ``latents.onnx`` — (x, G_y) → (v = g_a(x)·G_y, z = h_a(v)) — as one session
run per frame; g_a.onnx and h_a.onnx are kept for callers that need one transform alone.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from compressai.layers import GDN
from torch import nn

from polc.shared.models.codec.model import RDCCodec

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
        self.beta: torch.Tensor
        self.gamma: torch.Tensor
        with torch.no_grad():
            self.register_buffer("beta", gdn.beta_reparam(gdn.beta).clone())
            gamma = gdn.gamma_reparam(gdn.gamma)
            self.register_buffer("gamma", gamma.reshape(*gamma.shape, 1, 1).clone())
        self.inverse = gdn.inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = F.conv2d(x * x, self.gamma, self.beta)
        # x / sqrt(n) is one ONNX op (Div) where x * rsqrt(n) exports as two (Div + Mul)
        return x * torch.sqrt(norm) if self.inverse else x / torch.sqrt(norm)


def freeze_for_export(module: nn.Module) -> nn.Module:
    module = copy.deepcopy(module).eval()
    for name, child in list(module.named_children()):
        if isinstance(child, GDN):
            setattr(module, name, FrozenGDN(child))
        else:
            setattr(module, name, freeze_for_export(child))
    return module


class Latents(nn.Module):
    """(x, G_y) -> (v = g_a(x)·G_y, z = h_a(v)): the encoder's float part in one graph."""

    def __init__(self, g_a: nn.Module, h_a: nn.Module):
        super().__init__()
        self.g_a, self.h_a = g_a, h_a

    def forward(self, x: torch.Tensor, gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.g_a(x) * gain[None, :, None, None]
        return v, self.h_a(v)


def export_onnx(model: RDCCodec, out_dir: Path, opset: int = 17) -> dict[str, Path]:
    """Write latents.onnx, g_a.onnx, h_a.onnx, t_enc.onnx with dynamic spatial sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    M = model.arch.M
    image, latent = {2: "h", 3: "w"}, {2: "lh", 3: "lw"}
    specs = {  # name: (module, example inputs, input names -> axes, output names -> axes)
        "latents": (
            Latents(model.g_a, model.h_a),
            (torch.zeros(1, 3, 128, 128), torch.ones(M)),
            {"input": image, "gain": {}},
            {"v": latent, "z": {2: "zh", 3: "zw"}},
        ),
        "g_a": (model.g_a, (torch.zeros(1, 3, 128, 128),), {"input": image}, {"output": latent}),
        "h_a": (
            model.h_a,
            (torch.zeros(1, M, 8, 8),),
            {"input": latent},
            {"output": {2: "zh", 3: "zw"}},
        ),
        "t_enc": (model.t_enc, (torch.zeros(1, M, 8, 8),), {"input": latent}, {"output": latent}),
    }
    paths = {}
    for name, (module, example, inputs, outputs) in specs.items():
        path = out_dir / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                freeze_for_export(module),
                example,
                str(path),
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes={**inputs, **outputs},
                opset_version=opset,
                dynamo=False,
            )
        paths[name] = path
    return paths


def make_session(path: Path, provider: str = "cpu", threads: int = 0, warn: bool = True):
    """An ORT session on the requested provider, falling back to CPU with one warning."""
    # optional dependency: only the ONNX Runtime backend needs it (Jetson images bring
    # their own build; torch-only installs run without it)
    import onnxruntime as ort

    wanted = PROVIDERS.get(provider)
    if wanted is None:
        raise ValueError(
            f"unknown ONNX Runtime provider '{provider}' (choose from {', '.join(PROVIDERS)})"
        )
    available = ort.get_available_providers()
    providers = [p for p in wanted if p in available]
    # A GPU provider whose libraries are missing makes ORT log errors (its default logger)
    # and print an "EP Error" banner (its Python fallback) before it falls back to the next
    # provider: silence both, our one warning below says what happened.
    ort.set_default_logger_severity(4)
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # a chain: nothing to overlap
    # ORT's pool threads otherwise spin after each run and take the cores from what follows
    # on the edge (the integer h_s and the entropy coder run in torch / numpy right after)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    with contextlib.redirect_stdout(io.StringIO()):
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    active = session.get_providers()
    if warn and wanted[0] not in active:
        log.warning(
            "ONNX Runtime provider %s is not usable on this machine "
            "(missing GPU or CUDA/TensorRT libraries); running on %s",
            wanted[0],
            active[0],
        )
    return session


class OrtTransforms:
    """EncoderTransforms backed by ONNX Runtime sessions. The encoder's sessions (latents, or
    g_a + h_a from an export without latents.onnx, and t_enc) open at once, others on use."""

    def __init__(self, onnx_dir: Path, provider: str = "cpu", threads: int = 0):
        self.onnx_dir, self.provider_request, self.threads = onnx_dir, provider, threads
        self.sessions: dict = {}
        fused = (onnx_dir / "latents.onnx").is_file()
        for name in ("latents", "t_enc") if fused else ("g_a", "h_a", "t_enc"):
            self._session(name)

    @property
    def provider(self) -> str:
        """The provider the sessions actually run on (after any fallback)."""
        return next(iter(self.sessions.values())).get_providers()[0]

    def _session(self, name: str):
        if name not in self.sessions:
            self.sessions[name] = make_session(
                self.onnx_dir / f"{name}.onnx",
                self.provider_request,
                self.threads,
                warn=not self.sessions,
            )
        return self.sessions[name]

    def _run(self, name: str, a: np.ndarray) -> np.ndarray:
        return self._session(name).run(None, {"input": np.ascontiguousarray(a, np.float32)})[0]

    def latents(self, x: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if "latents" not in self.sessions:
            v = self.analysis(x) * gain[None, :, None, None]
            return v, self.hyper_analysis(v)
        v, z = self.sessions["latents"].run(None, {"input": x, "gain": gain})
        return v, z

    def analysis(self, x: np.ndarray) -> np.ndarray:
        return self._run("g_a", x)

    def hyper_analysis(self, v: np.ndarray) -> np.ndarray:
        return self._run("h_a", v)

    def scalable(self, residual: np.ndarray) -> np.ndarray:
        return self._run("t_enc", residual)
