"""Adapters on users' torchvision models: random-weights torchvision models saved to a file
(nothing is downloaded) are adapted, trained a few steps, saved, loaded by the cloud's
runners from the adapter file alone, and answer through a real cloud server's ingest path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fixtures.cloud import make_config
from ingest_client import EdgeClient

from polc.cloud.latent_runners import ClassificationRunner, DetectionRunner
from polc.cloud.server_thread import ServerThread
from polc.shared.codec.runtime import Codec
from polc.shared.data import CLASSES, ensure_synthetic
from polc.shared.errors import ModelError
from polc.shared.models.adapters.torchvision_adapter_file import read_torchvision_adapter
from polc.shared.models.adapters.torchvision_adapters import (
    TorchvisionLatentClassifier,
    TorchvisionLatentDetector,
)
from polc.shared.models.vision.torchvision_models import (
    PixelStages,
    TorchvisionSpec,
    load_torchvision_model,
)
from polc.training.adapter_config import load_adapter_config
from polc.training.torchvision_adapter import train_torchvision_adapter

DET_CLASSES = [f"user-{name}" for name in CLASSES]  # the user's names for the synthetic set


def _saved(tmp_path: Path, name: str, num_classes: int, classes: list[str] | None = None) -> Path:
    """A random-weights torchvision model's state dict, as a user would save theirs."""
    torch.manual_seed(0)
    model = TorchvisionSpec(name=name).build(num_classes)
    if name.startswith("fcos"):  # an eager random head (scores ≈ 0.5): boxes everywhere
        torch.nn.init.zeros_(model.head.classification_head.cls_logits.bias)
    path = tmp_path / f"{name}.pth"
    state = model.state_dict()
    torch.save(state if classes is None else {"state_dict": state, "classes": classes}, path)
    return path


def test_spec_strings_name_supported_models_only():
    assert TorchvisionSpec.parse("torchvision:resnet50").task == "cls"
    assert TorchvisionSpec.parse("torchvision:convnext_tiny").family == "convnext"
    assert TorchvisionSpec.parse("torchvision:retinanet_resnet18_fpn").task == "det"
    for bad in ("resnet50", "torchvision:vit_b_16", "torchvision:fcos_vgg16_fpn"):
        with pytest.raises(ValueError):
            TorchvisionSpec.parse(bad)


def test_user_weights_load_with_their_classes_and_are_checked(tmp_path):
    path = _saved(tmp_path, "resnet18", 4, ["a", "b", "c", "d"])
    model, classes = load_torchvision_model(TorchvisionSpec(name="resnet18"), path)
    assert classes == ["a", "b", "c", "d"] and model.fc.out_features == 4
    plain = _saved(tmp_path, "resnet18", 3)
    assert load_torchvision_model(TorchvisionSpec(name="resnet18"), plain)[1] == [
        "class_0",
        "class_1",
        "class_2",
    ]
    with pytest.raises(ModelError, match="not a convnext_tiny"):
        load_torchvision_model(TorchvisionSpec(name="convnext_tiny"), plain)


@pytest.mark.parametrize("name", ["resnet18", "convnext_tiny"])
def test_classifier_adapter_feeds_stage_3_and_freezes_the_model(tmp_path, name):
    spec = TorchvisionSpec(name=name)
    model, _ = load_torchvision_model(spec, _saved(tmp_path, name, 5))
    last = "layer4" if name == "resnet18" else "features.7"
    adapter = TorchvisionLatentClassifier(spec, model, 24, train_stages=(last,))
    y = torch.randn(2, 24, 4, 4)  # ŷ of a 64 × 64 image
    feats = adapter.features(y)
    target = PixelStages(spec, model).features(torch.rand(2, 3, 64, 64))
    assert [f.shape for f in feats] == [t.shape for t in target]  # stem -> stage 3's input
    assert feats[0].shape[-1] == 8 and adapter(y).shape == (2, 5)
    trainable = {n.split(".")[0] for n, p in adapter.named_parameters() if p.requires_grad}
    assert trainable == {"stem", "model"}
    stem = sum(p.numel() for p in adapter.stem.parameters())
    stage = sum(p.numel() for p in model.get_submodule(last).parameters())
    assert adapter.trainable_parameters() == stem + stage
    assert adapter.parameter_share() == pytest.approx(
        (stem + stage) / sum(p.numel() for p in model.parameters())
    )
    frozen = TorchvisionLatentClassifier(spec, model, 24)
    assert frozen.trainable_parameters() == stem
    assert frozen.parameter_share() < 0.05  # a small adapter, not a fine-tuned model
    assert all(p.requires_grad for p in model.parameters())  # copied, not frozen in place
    frozen.train()  # frozen stages keep the model's statistics (eval mode)
    assert frozen.stem.training and not frozen.model.get_submodule(last).training


def test_detector_adapter_losses_and_detections(tmp_path):
    spec = TorchvisionSpec(name="fcos_resnet18_fpn")
    model, _ = load_torchvision_model(spec, _saved(tmp_path, "fcos_resnet18_fpn", 3))
    model.head.classification_head.cls_logits.bias.data.fill_(-4.0)
    adapter = TorchvisionLatentDetector(spec, model, 24)
    y = torch.randn(2, 24, 4, 4)
    assert [s.shape[1] for s in adapter.stages(y)] == [128, 256, 512]
    targets = [{"boxes": torch.tensor([[4.0, 4.0, 40.0, 50.0]]), "labels": torch.tensor([1])}] * 2
    losses = adapter.train()(y, targets)
    assert set(losses) == {"classification", "bbox_regression", "bbox_ctrness"}
    dets = adapter.eval()(y)
    assert len(dets) == 2 and dets[0]["boxes"].shape[-1] == 4
    assert adapter.trainable_parameters() == sum(p.numel() for p in adapter.stem.parameters())


def _curve(run_dir: Path, task: str) -> list[float]:
    lines = (run_dir / "curves" / f"adapter_{task}_train.csv").read_text().splitlines()[1:]
    return [float(line.split(",")[1]) for line in lines]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_codec: Codec) -> dict[str, Path]:
    """A classification and a detection adapter trained for a few steps on the small test
    codec's latents (synthetic data) on random torchvision models."""
    tmp = tmp_path_factory.mktemp("tv")
    cls_cfg = load_adapter_config(
        None,
        "cls",
        {
            "model": "torchvision:resnet18",
            "weights": _saved(tmp, "resnet18", len(CLASSES), list(CLASSES)),
            "steps": 12,
            "batch_size": 16,
            "images": 64,
            "held_out": ensure_synthetic("cls", 64, 1),  # small: evaluation is not tested here
            "eval_every": 12,
            "lr": 3e-3,
        },
    )
    det_cfg = load_adapter_config(
        None,
        "det",
        {
            "model": "torchvision:fcos_resnet18_fpn",
            "weights": _saved(tmp, "fcos_resnet18_fpn", len(DET_CLASSES)),
            "class_names": _names(tmp / "names.txt", DET_CLASSES),
            "steps": 4,
            "batch_size": 2,
            "images": 4,
            "window": 8,
            "eval_every": 4,
        },
    )
    return {
        "cls": train_torchvision_adapter(cls_cfg, small_codec, tmp / "cls"),
        "det": train_torchvision_adapter(det_cfg, small_codec, tmp / "det"),
        "dir": tmp,
    }


def _names(path: Path, names: list[str]) -> Path:
    path.write_text("\n".join(names) + "\n")
    return path


def test_training_reduces_the_loss_and_writes_a_self_describing_file(trained, small_codec):
    losses = _curve(trained["dir"] / "cls", "cls")
    assert len(losses) == 12 and sum(losses[-4:]) < sum(losses[:4])
    stored = read_torchvision_adapter(trained["cls"], "cls")
    assert stored.classes == list(CLASSES)
    assert stored.codec_fingerprint == small_codec.fingerprint
    assert isinstance(stored.adapter, TorchvisionLatentClassifier)
    assert (trained["dir"] / "cls" / "curves" / "adapter_cls.png").is_file()
    det = read_torchvision_adapter(trained["det"])
    assert det.classes == DET_CLASSES and isinstance(det.adapter, TorchvisionLatentDetector)
    runner = ClassificationRunner.load(trained["cls"], None)
    scores = runner([torch.randn(1, 24, 4, 4)], k=3)[0]
    assert len(scores) == 3 and all(s.label in CLASSES for s in scores)
    assert DetectionRunner.load(trained["det"], None).classes == DET_CLASSES


def test_cloud_serves_torchvision_adapters_by_config(
    tmp_path, trained, small_codec, small_codec_file, test_image
):
    cfg = make_config(
        tmp_path,
        small_codec_file,
        None,
        **{
            "analyzer.kind": "adapter",
            "analyzer.adapter_weights": str(trained["cls"]),
            "analyzer.detector_adapter_weights": str(trained["det"]),
        },
    )
    server = ServerThread(cfg, small_codec).start()
    try:
        edge = EdgeClient(server.address, "cam-1")
        assert edge.recv().WhichOneof("kind") == "hello_ack"
        for seq in range(2):
            edge.frame(seq, small_codec.encode(test_image, 0.5))
        got = edge.collect(2)
        results = got["result"] + [m.result for m in edge.close() if m.HasField("result")]
    finally:
        server.stop()
    assert not got["error"] and sorted(r.seq for r in results) == [0, 1]
    for r in results:
        assert r.analyzer == "adapter" and len(r.classes) == 5
        assert {c.label for c in r.classes} <= set(CLASSES)
        assert r.detections and {d.label for d in r.detections} <= set(DET_CLASSES)
