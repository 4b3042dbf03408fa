"""`polc bench codec` on synthetic frames with a small codec and a ``--baseline``: a codec
held against itself has BD-rates of zero and an encode-time ratio near 1; against another
codec the JSON holds both curves and every BD-rate."""

from __future__ import annotations

import json

import pytest
import torch

from polc.app.cli import main
from polc.shared.codec.config import CodecConfig
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import save_torch_file


def _checkpoint(path, seed: int):
    cfg = CodecConfig(arch=ArchitectureConfig(N=16, M=24, aux_channels=8, residual_channels=8))
    torch.manual_seed(seed)
    model = RDCCodec(cfg.arch)
    save_torch_file({"model": model.state_dict(), "config": cfg.model_dump(mode="json")}, path)
    return path


@pytest.fixture(scope="module")
def codecs(tmp_path_factory):
    root = tmp_path_factory.mktemp("codecs")
    return _checkpoint(root / "a" / "codec_float.pt", 0), _checkpoint(root / "b.pt", 1)


def _run(tmp_path, model, baseline) -> dict:
    out = tmp_path / "codec.json"
    args = ["bench", "codec", "--quick", "--images", "2", "--json", str(out)]
    assert main([*args, "--model", str(model), "--baseline", str(baseline)]) == 0
    return json.loads(out.read_text())


def test_codec_against_itself_has_zero_bd_rate(tmp_path, codecs, capsys):
    a, _ = codecs
    r = _run(tmp_path, a, a)
    b = r["baseline"]
    assert b["model_fingerprint"] == r["model_fingerprint"]
    assert [x["alpha"] for x in b["rows"]] == [x["alpha"] for x in r["rows"]]
    for beta in ("beta0", "beta1"):
        for metric in ("psnr", "msssim"):
            assert b["bd_rate_percent"][beta][metric] == pytest.approx(0.0, abs=1e-6)
    assert "vs baseline" in capsys.readouterr().out
    assert (tmp_path / "codec.png").stat().st_size > 10_000


def test_codec_against_another_has_both_curves(tmp_path, codecs):
    a, other = codecs
    r = _run(tmp_path, a, other)
    b = r["baseline"]
    assert b["model"] == str(other) and b["model_fingerprint"] != r["model_fingerprint"]
    for row in b["rows"]:
        assert row["bpp_base"] > 0 and "jpeg_bpp" not in row
    assert {beta: set(m) for beta, m in b["bd_rate_percent"].items()} == {
        "beta0": {"psnr", "msssim"},
        "beta1": {"psnr", "msssim"},
    }
    assert b["timing"]["512x288"]["encode_ms"] > 0
