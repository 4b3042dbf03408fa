"""Compressed-domain classification adapter: shapes, batching API, a train step learns."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from polc.cloud.adapters.classification import LatentClassifier
from polc.cloud.adapters.inference import LatentClassification
from polc.shared.vision.backbone import SmallResNet


def _teacher() -> SmallResNet:
    torch.manual_seed(0)
    return SmallResNet(9, (8, 16, 24, 32)).eval()


def test_adapter_maps_latent_to_backbone_stage_shapes():
    adapter = LatentClassifier(_teacher(), latent_channels=24, rank=8)
    y = torch.randn(2, 24, 8, 8)  # a 128x128 crop's latent
    f1, f2, f3, f4 = adapter.features(y)
    assert f1.shape == (2, 8, 32, 32)  # layer1 output of the pixel backbone: 1/4 resolution
    assert f2.shape == (2, 16, 16, 16) and f3.shape == (2, 24, 8, 8) and f4.shape == (2, 32, 4, 4)
    assert adapter(y).shape == (2, 9)


def test_backbone_is_frozen_and_adapter_is_small():
    teacher = _teacher()
    adapter = LatentClassifier(teacher, latent_channels=24, rank=8)
    frozen = [n for n, p in adapter.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("layer", "fc")) for n in frozen)
    assert adapter.trainable_parameters() < sum(p.numel() for p in teacher.parameters())
    adapter.train()
    assert not adapter.layer3.training  # frozen BN statistics stay fixed


def test_a_few_train_steps_reduce_the_loss():
    torch.manual_seed(1)
    adapter = LatentClassifier(_teacher(), latent_channels=24, rank=8)
    y = torch.randn(16, 24, 8, 8)
    labels = torch.randint(0, 9, (16,))
    opt = torch.optim.Adam([p for p in adapter.parameters() if p.requires_grad], lr=1e-2)
    adapter.train()
    first = None
    for _ in range(60):
        loss = F.cross_entropy(adapter(y), labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first


def test_batched_inference_handles_mixed_shapes_in_order():
    adapter = LatentClassifier(_teacher(), latent_channels=24, rank=8)
    runner = LatentClassification(adapter, [f"c{i}" for i in range(9)])
    latents = [torch.randn(1, 24, 8, 8), torch.randn(24, 4, 8), torch.randn(1, 24, 8, 8)]
    results = runner(latents, k=3)
    assert [len(r) for r in results] == [3, 3, 3]
    single = runner([latents[1]], k=3)[0]
    assert [c.label for c in single] == [c.label for c in results[1]]
    assert all(0.0 <= c.score <= 1.0 for r in results for c in r)
    assert results[0][0].score >= results[0][1].score
