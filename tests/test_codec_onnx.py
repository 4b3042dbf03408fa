"""ONNX Runtime edge transforms: exported, run on the CPU provider, decoded by the torch cloud."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from polc.shared.codec.onnx_backend import OrtTransforms, export_onnx
from polc.shared.codec.runtime import FrameEncoder, image_to_array


@pytest.fixture(scope="module")
def onnx_dir(small_codec, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx")
    export_onnx(small_codec.model, path)
    return path


def test_onnx_transforms_match_torch_closely(small_codec, onnx_dir, test_image):
    ort = OrtTransforms(onnx_dir, "cpu")
    x, _ = image_to_array(test_image)
    y_t = small_codec.encoder.transforms.analysis(x)
    y_o = ort.analysis(x)
    assert y_o.shape == y_t.shape
    assert np.abs(y_o - y_t).max() < 1e-3


def test_frames_encoded_in_onnx_runtime_decode_exactly_in_torch(small_codec, onnx_dir):
    ort = FrameEncoder(small_codec.wire, OrtTransforms(onnx_dir, "cpu"))
    rng = np.random.default_rng(3)
    for i in range(6):
        img = (rng.random((64 + 16 * i, 128, 3)) * 255).astype(np.uint8)
        alpha = i / 5
        container = ort.encode(img, alpha, enhancement=True)
        decoded = small_codec.wire.decode_symbols(type(container).from_bytes(container.to_bytes()))
        x, _ = image_to_array(img)
        v = ort.transforms.analysis(x) * small_codec.wire.gain_y(alpha)[None, :, None, None]
        expected = np.round(v[0].astype(np.float64) - decoded.params.means).astype(np.int64)
        assert np.array_equal(decoded.y_symbols, expected)
        assert decoded.s_symbols is not None


@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_missing_gpu_provider_falls_back_with_one_warning(onnx_dir, caplog, capfd, provider):
    """onnxruntime-gpu without the CUDA / TensorRT libraries (this machine) logs errors from
    its C++ logger and prints an "EP Error" banner before falling back: none of that may
    reach the terminal, only our one warning."""
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        ort = OrtTransforms(onnx_dir, provider)
    assert all(s.get_providers()[0] == "CPUExecutionProvider" for s in ort.sessions.values())
    assert ort.provider == "CPUExecutionProvider"
    warnings = [r for r in caplog.records if "not usable" in r.getMessage()]
    assert len(warnings) == 1  # one warning of ours, naming the provider
    assert "ExecutionProvider" in warnings[0].getMessage()
    out, err = capfd.readouterr()
    assert "onnxruntime" not in (out + err).lower() and "EP Error" not in out + err
    if provider == "cuda":
        with pytest.raises(ValueError, match="unknown ONNX Runtime provider"):
            OrtTransforms(onnx_dir, "npu")
