"""Gain interpolation, configuration validation and the `polc codec` command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fixtures.codec import small_codec_model
from PIL import Image

from polc.app.cli import main
from polc.shared.codec.config import load_codec_config
from polc.shared.codec.wire import interpolate_gain
from polc.shared.errors import ConfigError
from polc.shared.models.codec.gain import GainUnit


def test_gain_interpolation_hits_levels_and_is_log_linear():
    unit = GainUnit(4, 6)
    with torch.no_grad():
        unit.log_gain.copy_(torch.arange(6, dtype=torch.float32)[:, None].repeat(1, 4))
    assert torch.allclose(unit.interpolate(0.0), unit.level(0))
    assert torch.allclose(unit.interpolate(1.0), unit.level(5))
    assert torch.allclose(unit.interpolate(0.1), torch.exp(torch.full((4,), 0.5)))
    table = unit.log_gain.detach().double().numpy()
    for a in (0.0, 0.13, 0.5, 0.77, 1.0):  # numpy twin used on the wire agrees
        assert np.allclose(
            interpolate_gain(table, a), unit.interpolate(a).detach().numpy(), rtol=1e-6
        )
    batch = unit.interpolate(torch.tensor([0.0, 1.0]))
    assert batch.shape == (2, 4)


def test_config_errors_name_the_field(tmp_path):
    bad = tmp_path / "c.yaml"
    for text, field in (
        ("arch:\n  N: 2\n", "arch.N"),
        ("loss:\n  lambdas: [0.1, 0.2]\n", "lambdas"),
        ("data:\n  source: folder\n", "data.folder"),
        ("nonsense: 1\n", "nonsense"),
    ):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=field):
            load_codec_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_codec_config(tmp_path / "missing.yaml")
    assert load_codec_config("paper").arch.M == 320


def test_codec_cli_round_trip_and_errors(tmp_path, small_codec_file, test_image, capsys):
    img = tmp_path / "in.png"
    Image.fromarray(test_image).save(img)
    f = tmp_path / "f.polc"
    w = ["--weights", str(small_codec_file)]
    assert (
        main(["codec", "encode", str(img), "-o", str(f), "--alpha", "0.3", "--enhancement", *w])
        == 0
    )
    assert main(["codec", "info", str(f)]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["width"] == 96 and info["height"] == 80 and info["has_enhancement"]
    assert abs(info["alpha"] - 0.3) < 1e-4
    out = tmp_path / "out.png"
    assert main(["codec", "decode", str(f), "-o", str(out), "--beta", "0", *w]) == 0
    assert Image.open(out).size == (96, 80)
    # base-only file: beta < 1 is a clear error, not a silent beta = 1
    g = tmp_path / "g.polc"
    assert main(["codec", "encode", str(img), "-o", str(g), *w]) == 0
    assert main(["codec", "decode", str(g), "-o", str(out), "--beta", "0.5", *w]) == 2
    assert "enhancement layer" in capsys.readouterr().err
    # corrupt and missing inputs: exit 2 with a one-line reason
    f.write_bytes(f.read_bytes()[:-5])
    assert main(["codec", "decode", str(f), "-o", str(out), *w]) == 2
    assert main(["codec", "info", str(tmp_path / "nope.polc")]) == 2
    assert main(["codec", "encode", str(tmp_path / "nope.png"), "-o", str(g), *w]) == 2
    with pytest.raises(SystemExit):
        main(["codec", "encode", str(img), "-o", str(g), "--alpha", "1.5"])
    err = capsys.readouterr().err
    assert "alpha" in err


def test_shipped_weights_keep_constant_buffers_exact(small_codec_file):
    """fp16 is for learned weights only: a 1e-9 likelihood bound must not round to 0
    (training continued from shipped weights would take log2(0) and go NaN)."""
    from polc.training.codec import restore_constant_buffers

    state = torch.load(small_codec_file, map_location="cpu", weights_only=True)["state_dict"]
    bounds = {k: v for k, v in state.items() if k.endswith("likelihood_lower_bound.bound")}
    assert len(bounds) == 3
    for name, value in bounds.items():
        assert value.dtype == torch.float32 and float(value) == pytest.approx(1e-9), name
    weights = [v for k, v in state.items() if k.endswith(".weight")]
    assert weights and all(w.dtype == torch.float16 for w in weights)

    model = small_codec_model()
    with torch.no_grad():
        model.gaussian.likelihood_lower_bound.bound.zero_()  # as an old fp16 file held it
    restore_constant_buffers(model)
    assert float(model.gaussian.likelihood_lower_bound.bound) == pytest.approx(1e-9)
