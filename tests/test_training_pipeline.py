"""The committed training commands end to end on a toy budget: codec stage I + II on a folder
of images, `polc train ship`, then the shipped file loads and round-trips a frame."""

from __future__ import annotations

import numpy as np
import yaml
from PIL import Image

from polc.app.cli import main
from polc.shared.codec.runtime import Codec


def test_train_codec_resume_and_ship(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "images"
    data.mkdir()
    for i in range(6):
        img = (rng.random((96, 160, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(data / f"{i}.png")
    cfg = {
        "arch": {"N": 16, "M": 24, "aux_channels": 8, "residual_channels": 8},
        "stage1": {
            "steps": 3,
            "batch_size": 2,
            "crop": 64,
            "eval_every": 3,
            "checkpoint_every": 1,
            "warmup_steps": 1,
        },
        "stage2": {
            "steps": 2,
            "batch_size": 2,
            "crop": 64,
            "eval_every": 2,
            "checkpoint_every": 1,
            "warmup_steps": 1,
        },
        "loss": {"w_feat": 0.0},
        "data": {"source": "folder", "folder": str(data), "eval_images": 2},
    }
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    args = ["train", "codec", "--config", str(cfg_path), "--run-dir", str(run), "--device", "cpu"]
    assert main([*args, "--stages", "1"]) == 0
    assert (run / "stage1_ckpt.pt").is_file() and (run / "config.yaml").is_file()
    assert (run / "stage1_eval.jsonl").read_text().count("\n") == 1
    assert main(args) == 0  # resumes: stage I already complete, runs stage II only
    assert (run / "stage2_eval.jsonl").is_file()
    out = tmp_path / "weights"
    assert main(["train", "ship", "--run-dir", str(run), "--out", str(out)]) == 0
    codec = Codec.load(out / "codec.pt")
    img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    frame = codec.decode(codec.encode(img, 0.5, enhancement=True))
    assert codec.reconstruct(frame, 0.0).shape == img.shape
    assert (out / "codec.json").is_file()


def test_train_rejects_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage1: {steps: 0}\n")
    assert main(["train", "codec", "--config", str(bad), "--run-dir", str(tmp_path)]) == 2
    assert "stage1.steps" in capsys.readouterr().err
