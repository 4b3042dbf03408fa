"""`polc bench tasks` on users' data: a tiny ImageFolder and a tiny COCO folder written here,
evaluated with random-weights torchvision adapters (on the small test codec) and with the
bundled adapters (on the bundled codec); the JSON's structure and ranges, the plots, and
the one-line errors (exit 2) of bad data and mismatched models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polc.app.cli import main
from polc.shared.codec.runtime import Codec
from polc.shared.data import CLASSES
from polc.shared.models.adapters.torchvision_adapter_file import save_torchvision_adapter
from polc.shared.models.adapters.torchvision_adapters import (
    TorchvisionLatentClassifier,
    TorchvisionLatentDetector,
)
from polc.shared.models.vision.torchvision_models import TorchvisionSpec

FOLDER_CLASSES = ["bus", "car"]  # two of the bundled adapter's classes
METHODS = {"adapter_on_latent", "pixel_on_x1", "pixel_on_beta0", "pixel_on_jpeg"}


def _picture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth background with a coloured rectangle (something to code and to find)."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 200 / width, yy * 200 / height, np.full_like(xx, 90)], -1)
    y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
    image[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.integers(0, 255, 3)
    noisy = image + rng.normal(0, 5, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """DIR/<class>/<n>.png: 3 images in each of two class folders, two sizes."""
    root = tmp_path_factory.mktemp("cls-data")
    rng = np.random.default_rng(0)
    for name in FOLDER_CLASSES:
        (root / name).mkdir()
        for i, (h, w) in enumerate([(72, 80), (72, 80), (60, 100)]):
            Image.fromarray(_picture(rng, h, w)).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def coco_folder(tmp_path_factory) -> Path:
    """DIR/annotations.json + DIR/images/: 3 frames of 128 × 96 (not a multiple of 64),
    one box each, in the synthetic set's categories."""
    root = tmp_path_factory.mktemp("det-data")
    (root / "images").mkdir()
    rng = np.random.default_rng(1)
    images, annotations = [], []
    for i in range(3):
        frame = _picture(rng, 96, 128)
        frame[30:70, 40:90] = (200, 30, 30)
        Image.fromarray(frame).save(root / "images" / f"{i}.png")
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": 128, "height": 96})
        annotations.append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "bbox": [40, 30, 50, 40],
                "category_id": 1 + i,
                "area": 2000.0,
                "iscrowd": 0,
            }
        )
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(CLASSES)]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    (root / "annotations.json").write_text(json.dumps(coco))
    return root


@pytest.fixture(scope="module")
def torchvision_files(tmp_path_factory, small_codec: Codec) -> dict[str, Path]:
    """Random-weights resnet18 / fcos_resnet18_fpn saved as a user saves them, and adapters
    on them for the small test codec's latents (M = 24), written as training writes them."""
    tmp = tmp_path_factory.mktemp("tv-models")
    torch.manual_seed(0)
    files: dict[str, Path] = {}
    for task, name, classes in (
        ("cls", "resnet18", FOLDER_CLASSES),
        ("det", "fcos_resnet18_fpn", list(CLASSES)),
    ):
        spec = TorchvisionSpec(name=name)
        model = spec.build(len(classes)).eval()
        if task == "det":  # an eager random head (scores ≈ 0.5): boxes everywhere
            torch.nn.init.zeros_(model.head.classification_head.cls_logits.bias)
        files[f"{task}_weights"] = tmp / f"{name}.pth"
        torch.save({"state_dict": model.state_dict(), "classes": classes}, files[f"{task}_weights"])
        build = TorchvisionLatentClassifier if task == "cls" else TorchvisionLatentDetector
        adapter = build(spec, model, 24)
        files[f"{task}_adapter"] = tmp / f"adapter_{task}.pt"
        save_torchvision_adapter(
            files[f"{task}_adapter"], adapter, classes, small_codec.fingerprint
        )
    return files


def _bench(tmp_path: Path, *args: str | Path) -> tuple[int, dict]:
    out = tmp_path / "tasks.json"
    code = main(["bench", "tasks", "--quick", "--json", str(out), *map(str, args)])
    return code, json.loads(out.read_text()) if code == 0 else {}


def _check_section(section: dict, images: int, metric_keys: tuple[str, ...]) -> None:
    assert section["images"] == images
    curves = section["curves"]
    assert METHODS | {"pixel_on_original"} == set(curves)
    assert [r["alpha"] for r in curves["adapter_on_latent"]] == [
        r["alpha"] for r in curves["pixel_on_x1"]
    ]
    for name in METHODS:
        for row in curves[name]:
            assert 0.0 < row["bpp"] < 24.0 and math.isfinite(row["bpp"])
            for key in metric_keys:
                assert 0.0 <= row[key] <= 1.0
    assert curves["pixel_on_original"][0]["bpp"] == 24.0
    # more bits at higher α; β = 0 adds the enhancement layer's bits
    rates = [r["bpp"] for r in curves["adapter_on_latent"]]
    assert rates == sorted(rates)
    for base, enhanced in zip(curves["pixel_on_x1"], curves["pixel_on_beta0"], strict=True):
        assert enhanced["bpp"] > base["bpp"]
    bd = section["bd_rate_vs_jpeg"]
    assert isinstance(bd, float) and (math.isnan(bd) or bd > -100.0)  # NaN: no overlap
    assert 0 < section["adapter_trainable_params"] <= section["full_finetune_params"]
    for key in ("flops_compressed_domain", "flops_decode_plus_pixel"):
        assert section[key] > 0
    for key in ("cpu_ms_compressed_domain", "cpu_ms_decode_plus_pixel"):
        assert 0 < section[key] < 60_000
    assert len(section["gap_to_pixel_on_x1"]) == len(curves["adapter_on_latent"])
    assert all(abs(g["gap"]) <= 1.0 for g in section["gap_to_pixel_on_x1"])


def test_torchvision_adapters_on_users_data(
    tmp_path, image_folder, coco_folder, torchvision_files, small_codec_file, capsys
):
    code, result = _bench(
        tmp_path,
        "--data", image_folder,
        "--det-data", coco_folder,
        "--adapter", torchvision_files["cls_adapter"],
        "--pixel-model", torchvision_files["cls_weights"],
        "--det-adapter", torchvision_files["det_adapter"],
        "--det-pixel-model", torchvision_files["det_weights"],
        "--codec", small_codec_file,
        "--size", "64x64",
        "--max-images", "4",
    )  # fmt: skip
    assert code == 0
    assert set(result) == {"cls", "det"}
    cls, det = result["cls"], result["det"]
    _check_section(cls, 4, ("metric",))
    _check_section(det, 3, ("metric", "metric_map"))
    assert cls["crop"] == [64, 64] and det["frame"] == [64, 64]
    assert cls["data"] == {"source": str(image_folder), "size": "64x64"}
    assert det["data"]["source"] == str(coco_folder)
    assert cls["models"] == {
        "adapter": str(torchvision_files["cls_adapter"]),
        "adapter_model": "torchvision:resnet18",
        "pixel_model": str(torchvision_files["cls_weights"]),
        "codec": str(small_codec_file),
        "codec_fingerprint": Codec.load(small_codec_file).fingerprint,
    }
    assert det["models"]["adapter_model"] == "torchvision:fcos_resnet18_fpn"
    # the stem alone is trained: a small share of the user's model
    assert cls["adapter_trainable_params"] == cls["adapter_stem_params"]
    assert (tmp_path / "tasks.png").is_file() and (tmp_path / "tasks-det.png").is_file()
    printed = capsys.readouterr().out
    assert f"classification on {image_folder}" in printed and "torchvision:resnet18" in printed


def test_bundled_adapters_on_users_data(tmp_path, image_folder, coco_folder):
    code, result = _bench(tmp_path, "--data", image_folder, "--det-data", coco_folder)
    assert code == 0
    cls, det = result["cls"], result["det"]
    _check_section(cls, 6, ("metric",))  # two sizes as stored: batched by size
    _check_section(det, 3, ("metric", "metric_map"))
    assert cls["crop"] is None and det["frame"] == [128, 96]
    assert cls["models"]["adapter_model"] == "SmallResNet"
    assert Path(cls["models"]["pixel_model"]).name == "teacher.pt"
    assert Path(det["models"]["pixel_model"]).name == "detector.pt"
    # the pixel model on the originals is the upper bound it is on the bundled models' data
    assert cls["curves"]["pixel_on_original"][0]["metric"] >= 0.5


def _error(capsys, tmp_path: Path, *args: str | Path) -> str:
    code = main(["bench", "tasks", "--json", str(tmp_path / "x.json"), *map(str, args)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert not (tmp_path / "x.json").exists()
    return lines[0]


def test_bad_data_stops_with_one_line(tmp_path, capsys, image_folder, coco_folder):
    assert "not found" in _error(capsys, tmp_path, "--data", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "no class folders" in _error(capsys, tmp_path, "--data", tmp_path / "empty")
    (tmp_path / "empty" / "car").mkdir()
    assert "no images" in _error(capsys, tmp_path, "--data", tmp_path / "empty")
    assert "not found" in _error(capsys, tmp_path, "--det-data", tmp_path / "missing")
    line = _error(capsys, tmp_path, "--det-data", image_folder)
    assert "no COCO file annotations.json" in line
    line = _error(capsys, tmp_path, "--det-data", coco_folder, "--label-offset", "1")
    assert "categories [9] have no output" in line


def test_mismatched_models_stop_with_one_line(
    tmp_path, capsys, image_folder, torchvision_files, small_codec_file
):
    tv = torchvision_files
    # an adapter trained on another codec's latents (the small codec's, not the bundled one)
    line = _error(
        capsys, tmp_path, "--adapter", tv["cls_adapter"], "--pixel-model", tv["cls_weights"]
    )
    assert "trained on the latents of codec" in line and "--codec" in line
    # a torchvision adapter needs the user's weights for its pixel model
    line = _error(capsys, tmp_path, "--adapter", tv["cls_adapter"], "--codec", small_codec_file)
    assert "torchvision:resnet18" in line and "--pixel-model" in line
    # class folders that are not the adapter's classes
    (tmp_path / "other" / "llama").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(tmp_path / "other" / "llama" / "0.png")
    line = _error(capsys, tmp_path, "--data", tmp_path / "other")
    assert "['llama'] are not classes of the adapter" in line
    # the pixel model of another architecture
    line = _error(
        capsys,
        tmp_path,
        "--adapter", tv["cls_adapter"],
        "--pixel-model", tv["det_weights"],
        "--codec", small_codec_file,
    )  # fmt: skip
    assert str(tv["det_weights"]) in line and "not a resnet18" in line
