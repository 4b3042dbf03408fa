"""`polc bench latent-width`: the linear bound grows with the number of components and is exact
with all 768; a model's ceiling is reported at its M; bad --components exit 2 with one line."""

from __future__ import annotations

import json
import math

import torch

from polc.app.cli import main
from polc.bench.codec_photos import PHOTOS
from polc.shared.codec.config import CodecConfig
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import save_torch_file


def test_bound_grows_with_components_and_model_ceiling_is_reported(tmp_path, capsys):
    cfg = CodecConfig(arch=ArchitectureConfig(N=16, M=24, aux_channels=8, residual_channels=8))
    torch.manual_seed(0)
    ckpt = tmp_path / "codec_float.pt"
    model = RDCCodec(cfg.arch)
    save_torch_file({"model": model.state_dict(), "config": cfg.model_dump(mode="json")}, ckpt)
    out = tmp_path / "width.json"
    args = ["bench", "latent-width", "--components", "64,8,768", "--fit-images", "2"]
    assert main([*args, "--model", str(ckpt), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["components"] == [8, 64, 768]
    assert set(r["linear_bound"]) == set(PHOTOS)
    for name, row in r["linear_bound"].items():
        psnrs = [row[str(k)] for k in r["components"]]
        assert psnrs[0] < psnrs[1] < psnrs[2], name
        assert psnrs[2] > 100, f"{name}: all 768 components reconstruct the blocks exactly"
    m = r["models"][str(ckpt)]
    assert (m["M"], m["N"]) == (24, 16)
    for name in PHOTOS:
        c = m["photos"][name]
        assert math.isfinite(c["ceiling_psnr"]) and math.isfinite(c["top_level_psnr"])
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "coffee" in capsys.readouterr().out


def test_bad_components_exit_2_with_one_line(tmp_path, capsys):
    for bad in ("0,8", "8,x", "800"):
        code = main(["bench", "latent-width", "--components", bad, "--json", str(tmp_path / "j")])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--components" in err[0]
