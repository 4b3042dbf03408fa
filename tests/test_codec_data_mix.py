"""The codec's training-data mix (``data.mix`` / ``--data DIR``): validation errors name the
field, and a toy run trains on procedural images plus a folder of any-size photos and
evaluates on every source's held-out set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from polc.app.cli import main
from polc.shared.codec.config import load_codec_config
from polc.shared.errors import ConfigError


def _load(tmp_path, data: dict, **extra):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": data, **extra}))
    return load_codec_config(path)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"mix": {"dead_leaves": 0.5, "spectral": 0.2}}, "'data.mix'"),
        ({"mix": {"dead_leaves": 1.5, "spectral": -0.5}}, "'data.mix.dead_leaves'"),
        ({"mix": {"dead_leaves": 1.0, "photos": 0.0}}, "'data.mix.photos'"),
        ({"mix": {"spectral": 1.0}, "procedural": {"pool": 2}}, "'data.procedural.pool'"),
    ],
)
def test_bad_mix_names_the_field(tmp_path, data, named):
    with pytest.raises(ConfigError, match=named):
        _load(tmp_path, data)


def test_folder_share_needs_a_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.folder \(or --data DIR\) is required"):
        _load(tmp_path, {"mix": {"folder": 0.5, "spectral": 0.5}})


def test_crop_larger_than_the_pool_images_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="stage1.crop 256 exceeds data.procedural.size 128"):
        _load(
            tmp_path, {"mix": {"spectral": 1.0}, "procedural": {"size": 128}}, stage1={"crop": 256}
        )


def test_data_dir_joins_the_mix(tmp_path):
    plain = load_codec_config(None, tmp_path)
    assert plain.data.mix is not None and plain.data.mix.shares() == {"folder": 1.0}
    assert plain.data.folder == tmp_path
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": {"mix": {"folder": 0.25, "dead_leaves": 0.75}}}))
    mixed = load_codec_config(path, tmp_path)
    assert mixed.data.mix.shares() == {"dead_leaves": 0.75, "folder": 0.25}
    path.write_text(yaml.safe_dump({"data": {"mix": {"spectral": 1.0}}}))
    with pytest.raises(ConfigError, match="data.mix.folder"):
        load_codec_config(path, tmp_path)


def test_toy_run_on_procedural_images_and_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (h, w) in enumerate([(90, 120), (70, 70), (130, 100), (64, 200), (100, 90)]):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(photos / f"{i}.png")
    stage = {"steps": 3, "batch_size": 2, "crop": 64, "eval_every": 3, "checkpoint_every": 1}
    cfg = {
        "arch": {"N": 16, "M": 24, "aux_channels": 8, "residual_channels": 8, "levels": 3},
        "loss": {"w_feat": 0.0, "lambdas": [0.001, 0.01, 0.1], "lambdas_aux": [0.01, 0.1, 1]},
        "stage1": {**stage, "warmup_steps": 1},
        "stage2": {**stage, "steps": 1, "eval_every": 1, "warmup_steps": 0},
        "data": {
            "mix": {"dead_leaves": 0.4, "spectral": 0.3, "folder": 0.3},
            "procedural": {"pool": 8, "size": 64, "refresh_every": 1, "eval_images": 2},
            "eval_images": 1,
        },
    }
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    args = ["train", "codec", "--config", str(cfg_path), "--run-dir", str(run)]
    assert main([*args, "--data", str(photos), "--stages", "1"]) == 0
    record = json.loads((run / "stage1_eval.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 3
    assert list(record["sets"]) == ["dead_leaves", "spectral", "folder"]
    assert record["rows"] == record["sets"]["dead_leaves"]
    assert [r["level"] for r in record["sets"]["folder"]] == [0, 1, 2]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["folder"] == str(photos) and saved["data"]["mix"]["folder"] == 0.3
    assert main([*args, "--data", str(photos)]) == 0  # stage I done: resumes with stage II
    assert "sets" in json.loads((run / "stage2_eval.jsonl").read_text())
