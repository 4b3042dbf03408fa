"""`polc bench codec --photos` on one photograph with a small untrained codec given as a
training checkpoint (``--model``): the JSON has every curve, BD-rate and mean it promises."""

from __future__ import annotations

import json
import math

import pytest
import torch

from polc.app.cli import main
from polc.shared.codec.config import CodecConfig
from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.shared.models.weights_file import save_torch_file


def _small_checkpoint(path):
    cfg = CodecConfig(arch=ArchitectureConfig(N=16, M=24, aux_channels=8, residual_channels=8))
    torch.manual_seed(0)
    model = RDCCodec(cfg.arch)
    save_torch_file({"model": model.state_dict(), "config": cfg.model_dump(mode="json")}, path)


def test_photos_json_has_curves_bd_rates_and_means(tmp_path, capsys):
    ckpt = tmp_path / "codec_float.pt"
    _small_checkpoint(ckpt)
    out = tmp_path / "photos.json"
    args = ["bench", "codec", "--photos", "--photo", "chelsea", "--quick"]
    assert main([*args, "--model", str(ckpt), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["photos"] == ["chelsea"] and r["model"] == str(ckpt)
    assert "evaluation only" in r["note"]
    assert {"jpeg", "webp"} <= set(r["anchors"])
    p = r["per_photo"]["chelsea"]
    assert p["size"] == [451, 300]
    assert [row["alpha"] for row in p["polc"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for row in p["polc"]:
        assert row["bpp_base"] > 0 and row["bpp_enhancement"] >= 0
        assert 0 < row["msssim_beta0"] <= 1 and math.isfinite(row["psnr_beta1"])
    for anchor in r["anchors"]:
        rows = p["anchors"][anchor]
        assert len(rows) >= 3
        bpps = [x["bpp"] for x in rows]
        assert bpps == sorted(bpps), f"{anchor}: rate grows with quality"
        assert rows[-1]["psnr"] > rows[0]["psnr"] + 3
        for beta in ("beta0", "beta1"):
            assert set(p["bd_rate"][beta][anchor]) == {"psnr", "msssim"}
            for metric in ("psnr", "msssim"):
                one = p["bd_rate"][beta][anchor][metric]
                mean = r["mean_bd_rate"][beta][anchor][metric]
                assert mean["photos"] == (1 if math.isfinite(one) else 0)
                if math.isfinite(one):
                    assert mean["mean"] == mean["min"] == mean["max"] == one
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "chelsea" in capsys.readouterr().out


def test_unknown_photo_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "codec", "--photos", "--photo", "lena"])
    assert exc.value.code == 2
    assert "invalid choice: 'lena'" in capsys.readouterr().err
