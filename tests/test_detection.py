"""Detection: pixel FCOS detector and the compressed-domain detection adapter.

Shapes, the padded-frame -> original-frame box mapping, a few train steps reduce the loss
(pixel and latent detector), and the shipped weights beat chance by a wide margin.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polc.cloud.latent_runners import DetectionRunner
from polc.shared.codec.runtime import image_to_array
from polc.shared.models.adapters.detection import LatentDetector, clip_to_frame, keep_visible
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.detector import PixelDetector
from polc.shared.models.vision.detector_file import detector_state, load_detector
from polc.shared.models.weights_file import WEIGHTS_DIR, default_codec_path, default_detector_path
from polc.training.adapter_det import pad_frames

CLASSES = [f"c{i}" for i in range(3)]


def _detector() -> PixelDetector:
    torch.manual_seed(0)
    return PixelDetector(SmallResNet(3, (8, 16, 24, 32)), 3, channels=32, head_convs=1)


def _scene(n: int, seed: int, h: int = 64, w: int = 96) -> tuple[torch.Tensor, list[dict]]:
    """Flat background with 1–2 bright rectangles whose colour is the class."""
    gen = torch.Generator().manual_seed(seed)
    colours = torch.tensor([[1.0, 0.1, 0.1], [0.1, 1.0, 0.1], [0.1, 0.1, 1.0]])
    images = torch.full((n, 3, h, w), 0.4)
    targets = []
    for i in range(n):
        boxes, labels = [], []
        for _ in range(1 + i % 2):
            bw, bh = torch.randint(12, 30, (2,), generator=gen).tolist()
            x0 = int(torch.randint(0, w - bw, (1,), generator=gen))
            y0 = int(torch.randint(0, h - bh, (1,), generator=gen))
            c = int(torch.randint(0, 3, (1,), generator=gen))
            images[i, :, y0 : y0 + bh, x0 : x0 + bw] = colours[c, :, None, None]
            boxes.append([x0, y0, x0 + bw, y0 + bh])
            labels.append(c)
        targets.append(
            {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}
        )
    return images, targets


def _fit(model, inputs, targets, steps: int = 25, lr: float = 3e-3) -> tuple[float, float]:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = sum(model(inputs, targets).values())
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(np.mean(losses[:3])), float(np.mean(losses[-3:]))


def test_pixel_detector_shapes_and_outputs():
    det = _detector().eval()
    x = torch.rand(2, 3, 96, 160)
    c3, c4, c5 = det.stages(x)
    assert c3.shape == (2, 16, 12, 20) and c4.shape == (2, 24, 6, 10) and c5.shape == (2, 32, 3, 5)
    with torch.no_grad():
        out = det(x)
    assert len(out) == 2 and set(out[0]) == {"boxes", "scores", "labels"}
    assert out[0]["boxes"].shape[1] == 4
    assert (out[0]["boxes"][:, 2:] <= torch.tensor([160.0, 96.0])).all()  # xyxy, input pixels
    assert (out[0]["labels"] < 3).all()


def test_latent_detector_reproduces_the_pixel_stage_shapes_and_freezes_the_detector():
    pixel = _detector()
    adapter = LatentDetector(pixel, latent_channels=24, rank=8)
    y = torch.randn(2, 24, 6, 10)  # the latent of a 96x160 frame
    assert [f.shape for f in adapter.stages(y)] == [
        f.shape for f in pixel.stages(torch.rand(2, 3, 96, 160))
    ]
    frozen = [n for n, p in adapter.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("layer", "fcos")) for n in frozen)
    assert adapter.trainable_parameters() == sum(p.numel() for p in adapter.stem.parameters())
    adapter.train()
    assert not adapter.layer3.training  # frozen BN statistics stay fixed
    unfrozen = LatentDetector(pixel, 24, 8, train_stages=("layer4",))
    assert unfrozen.trainable_parameters() > adapter.trainable_parameters()


def test_anchor_placeholder_is_zero_copy():
    from polc.shared.models.vision.detector import placeholder_images

    images = placeholder_images(4, (320, 512), torch.zeros(1))
    assert images.tensors.shape == (4, 3, 320, 512) and images.tensors.stride() == (0, 0, 0, 0)


def test_padding_matches_the_encoder_and_boxes_map_back_to_the_original_frame():
    image = (np.random.default_rng(0).random((70, 100, 3)) * 255).astype(np.uint8)
    expected, geometry = image_to_array(image)
    padded = pad_frames(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)
    assert padded.shape[-2:] == geometry.padded == (128, 128)
    assert torch.allclose(padded, torch.from_numpy(expected), atol=1e-6)
    boxes = torch.tensor(
        [
            [90.0, 60.0, 120.0, 100.0],
            [5.0, 5.0, 20.0, 20.0],
            [101.0, 10.0, 127.0, 30.0],
            [10.0, 71.0, 30.0, 90.0],
        ]
    )
    assert torch.equal(clip_to_frame(boxes, 100, 70)[0], torch.tensor([90.0, 60.0, 100.0, 70.0]))
    kept = keep_visible(
        {"boxes": boxes, "scores": torch.ones(4), "labels": torch.zeros(4)}, 100, 70
    )
    assert kept["boxes"].shape == (2, 4)  # the two boxes wholly inside the padding are gone


def test_batched_latent_detection_clips_to_each_original_size():
    runner = DetectionRunner(LatentDetector(_detector(), 24, 8), CLASSES)
    runner.model.fcos.score_thresh = 0.0  # untrained: keep every candidate
    latents = [torch.randn(1, 24, 2, 2), torch.randn(24, 3, 4), torch.randn(1, 24, 2, 2)]
    sizes = [(20, 30), (60, 48), (32, 32)]
    results = runner(latents, sizes, min_score=0.0)
    assert sum(map(len, results)) > 0
    for dets, (w, h) in zip(results, sizes, strict=True):
        for d in dets:
            assert 0 <= d.box[0] < d.box[2] <= w and 0 <= d.box[1] < d.box[3] <= h
            assert d.label == CLASSES[d.class_index] and 0.0 <= d.score <= 1.0
    alone = runner([latents[1]], [sizes[1]], min_score=0.0)[0]
    assert len(alone) == len(results[1])  # batched = alone (scores nearly tied: compare sorted)
    assert sorted(d.score for d in alone) == pytest.approx(
        sorted(d.score for d in results[1]), abs=1e-4
    )


def test_a_few_steps_reduce_the_pixel_detector_loss():
    torch.manual_seed(1)
    images, targets = _scene(4, 0)
    first, last = _fit(_detector(), images, targets)
    assert last < 0.8 * first


def test_a_few_steps_reduce_the_latent_detector_loss():
    """Stem-only training (the real configuration) on a detector that knows the scenes."""
    torch.manual_seed(2)
    images, targets = _scene(4, 1)
    pixel = _detector()
    _fit(pixel, images, targets, steps=40)
    encoder = torch.randn(24, 3, 1, 1, generator=torch.Generator().manual_seed(0))
    y = F.conv2d(F.avg_pool2d(images, 16), encoder)  # a stand-in latent: 1/16, 24 channels
    first, last = _fit(LatentDetector(pixel, 24, 8), y, targets, steps=30, lr=1e-2)
    assert last < 0.8 * first


def test_stem_feeding_layer1_runs_the_frozen_pixel_layer1_and_round_trips(tmp_path):
    from polc.shared.models.adapters.adapter_file import AdapterFile
    from polc.training.adapter_det import save_det_adapter

    pixel = _detector().eval()
    torch.manual_seed(5)
    adapter = LatentDetector(pixel, 24, rank=8, train_norms=True, first_stage="layer1").eval()
    y = torch.randn(1, 24, 6, 10)
    with torch.no_grad():  # the stem's output goes through the pixel detector's own layer1
        expected = pixel.body.layer2(pixel.body.layer1(adapter.stem(y)))
        torch.testing.assert_close(adapter.stages(y)[0], expected)
    assert not any(
        p.requires_grad for n, p in adapter.layer1.named_parameters() if "conv" in n
    )  # frozen convs; its norm layers train with train_norms
    assert "layer1.0.bn1" in adapter.train_stages
    save_det_adapter(adapter, CLASSES, "fp", tmp_path / "a.pt")
    assert AdapterFile.read(tmp_path / "a.pt").first_stage == "layer1"
    back = DetectionRunner.load(tmp_path / "a.pt", _saved_detector(pixel, tmp_path)).model
    assert back.first_stage == "layer1"
    with torch.no_grad():
        torch.testing.assert_close(back.stages(y)[2], adapter.stages(y)[2], atol=0.05, rtol=0.05)
    with pytest.raises(ValueError, match="first_stage"):
        LatentDetector(pixel, 24, rank=8, first_stage="layer3")
    with pytest.raises(ValueError, match="layer1"):  # not part of a layer2-fed adapter
        LatentDetector(pixel, 24, rank=8, train_stages=("layer1.0.bn1",))


def _saved_detector(det: PixelDetector, tmp_path) -> object:
    torch.save(detector_state(det, CLASSES), tmp_path / "d.pt")
    return tmp_path / "d.pt"


def test_detector_file_round_trip(tmp_path):
    det = _detector().eval()
    torch.save(detector_state(det, CLASSES), tmp_path / "d.pt")
    back = load_detector(tmp_path / "d.pt")
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(back.stages(x)[2], det.stages(x)[2], atol=0.05)
    assert back.classes == CLASSES


# --- shipped weights ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    from polc.shared.data import ensure_synthetic
    from polc.training.detection_data import DetectionSet

    return DetectionSet.load(ensure_synthetic("det", 6, 777, workers=1, progress=False))


@pytest.mark.skipif(not default_detector_path().is_file(), reason="no shipped detector.pt")
def test_shipped_pixel_detector_beats_chance(sample):
    from polc.shared.metrics.coco import coco_map
    from polc.training.detector import detect_all

    result = coco_map(sample.coco, detect_all(load_detector(default_detector_path()), sample))
    assert result["map50"] > 0.5  # chance is ~0


@pytest.mark.skipif(
    not (WEIGHTS_DIR / "adapter_det.pt").is_file()
    or not default_detector_path().is_file()
    or not default_codec_path().is_file(),
    reason="no shipped adapter_det.pt",
)
def test_shipped_detection_adapter_beats_chance_on_the_wire(sample):
    from polc.shared.codec.runtime import Codec
    from polc.shared.metrics.coco import coco_map

    codec = Codec.load()
    runner = DetectionRunner.load(WEIGHTS_DIR / "adapter_det.pt", default_detector_path())
    frames = [codec.decode(codec.encode(im.permute(1, 2, 0).numpy(), 0.5)) for im in sample.images]
    found = runner([f.y_hat for f in frames], [(512, 288)] * len(frames), min_score=0.05)
    h, w = sample.images.shape[-2:]
    assert all(d.box[2] <= w and d.box[3] <= h for dets in found for d in dets)
    dets = {
        i: {
            "boxes": torch.tensor([d.box for d in ds]).reshape(-1, 4),
            "scores": torch.tensor([d.score for d in ds]),
            "labels": torch.tensor([d.class_index for d in ds], dtype=torch.int64),
        }
        for i, ds in zip(sample.image_ids, found, strict=True)
    }
    assert coco_map(sample.coco, dets)["map50"] > 0.3  # chance is ~0


@pytest.mark.skipif(
    not default_detector_path().is_file() or not default_codec_path().is_file(),
    reason="no shipped detector.pt / codec.pt",
)
def test_cloud_adapter_analyzer_reports_boxes_inside_the_original_frame(tmp_path):
    from polc.cloud.analyzer import build_analyzer
    from polc.shared.codec.runtime import Codec
    from polc.shared.errors import ConfigError
    from polc.training.adapter_det import save_det_adapter

    codec = Codec.load()
    adapter = LatentDetector(load_detector(default_detector_path()), codec.model.arch.M)
    save_det_adapter(
        adapter, [f"c{i}" for i in range(9)], codec.fingerprint, tmp_path / "adapter_det.pt"
    )
    analyzer = build_analyzer(
        "adapter", codec, None, 3, detector_adapter_weights=tmp_path / "adapter_det.pt"
    )
    analyzer.min_score = 0.0  # an untrained stem: keep everything it finds
    image = (np.random.default_rng(1).random((100, 200, 3)) * 255).astype(np.uint8)
    result = analyzer.analyze([codec.decode(codec.encode(image, 0.5))])[0]
    assert len(result.classes) == 3 and result.detections  # padded to 256 x 128 on the wire
    assert all(
        0 <= d.box[0] < d.box[2] <= 200 and 0 <= d.box[1] < d.box[3] <= 100
        for d in result.detections
    )
    with pytest.raises(ConfigError, match="analyzer.detector_adapter_weights"):
        build_analyzer("adapter", codec, None, 3, detector_adapter_weights=tmp_path / "no.pt")


def test_detection_adapter_unfreezes_head_layers_by_dotted_path():
    """train_stages may name a single layer of the FCOS head; everything else stays frozen
    and an unknown path is refused with the path in the message."""
    torch.manual_seed(0)
    pixel = PixelDetector.from_teacher(SmallResNet(9, (8, 16, 24, 32)), num_classes=3)
    path = "fcos.head.regression_head.bbox_reg"
    adapter = LatentDetector(pixel, latent_channels=24, rank=8, train_stages=(path,))
    trainable = {n.rsplit(".", 1)[0] for n, p in adapter.named_parameters() if p.requires_grad}
    assert path in trainable and all(n.startswith(("stem.", path)) for n in trainable)
    adapter.train()
    assert not adapter.layer2.training and adapter.fcos.training
    with pytest.raises(ValueError, match="fcos.head.nothing"):
        LatentDetector(pixel, latent_channels=24, rank=8, train_stages=("fcos.head.nothing",))
