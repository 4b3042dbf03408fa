"""Shared fixtures. Codec tests use a small *untrained* model exported exactly like the shipped
one: every bitstream property (round trip, determinism, error handling) holds for any weights,
and a small model keeps the suite fast."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from polc.shared.codec.export import export_codec
from polc.shared.codec.runtime import Codec
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec

SMALL_ARCH = ArchitectureConfig(N=16, M=24, aux_channels=8, levels=6, residual_channels=8)


@pytest.fixture(scope="session")
def small_codec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = RDCCodec(SMALL_ARCH)
    # give the gains a real spread so alpha changes the rate like a trained model
    with torch.no_grad():
        model.gain_y.log_gain.copy_(torch.linspace(0.0, 4.0, 6)[:, None].repeat(1, 24))
    path = tmp_path_factory.mktemp("weights") / "codec.pt"
    torch.save(export_codec(model, {"test": True}), path)
    return path


@pytest.fixture(scope="session")
def small_codec(small_codec_file: Path) -> Codec:
    return Codec.load(small_codec_file)


@pytest.fixture(scope="session")
def test_image() -> np.ndarray:
    """A smooth image with edges (96x80: not a multiple of 64, so padding is exercised)."""
    yy, xx = np.mgrid[0:80, 0:96]
    img = np.stack([xx * 2.5, yy * 3.0, (xx + yy) * 1.4], -1)
    img[20:50, 30:70] = [200, 40, 40]
    rng = np.random.default_rng(0)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away CA with a server and a client certificate for 127.0.0.1 (mTLS tests)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem",
                 cwd=d)
    return d
