"""Compressed-domain classification adapter: shapes, batching API, a train step learns."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from polc.cloud.latent_runners import ClassificationRunner
from polc.shared.models.adapters.classification import LatentClassifier
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.teacher_file import save_teacher


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
    deeper = LatentClassifier(_teacher(), latent_channels=24, rank=8, first_stage="layer1")
    assert [f.shape for f in deeper.features(y)] == [f1.shape, f2.shape, f3.shape, f4.shape]
    assert deeper.trainable_parameters() == adapter.trainable_parameters()  # layer1: frozen


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
    runner = ClassificationRunner(adapter, [f"c{i}" for i in range(9)])
    latents = [torch.randn(1, 24, 8, 8), torch.randn(24, 4, 8), torch.randn(1, 24, 8, 8)]
    results = runner(latents, k=3)
    assert [len(r) for r in results] == [3, 3, 3]
    single = runner([latents[1]], k=3)[0]
    assert [c.label for c in single] == [c.label for c in results[1]]
    assert all(0.0 <= c.score <= 1.0 for r in results for c in r)
    assert results[0][0].score >= results[0][1].score


def _save_teacher(tmp_path):
    """The teacher file as ``polc train teacher`` writes it."""
    teacher = _teacher()
    path = tmp_path / "teacher.pt"
    save_teacher(path, teacher, [f"c{i}" for i in range(9)])
    return teacher, path


def test_adapter_file_round_trips_stem_blocks_and_unfrozen_stages(tmp_path):
    from polc.training.adapter import save_cls_adapter

    teacher, teacher_path = _save_teacher(tmp_path)
    torch.manual_seed(2)
    adapter = LatentClassifier(
        teacher, latent_channels=24, rank=8, train_stages=("layer4",), latent_blocks=1, blocks=2
    )
    with torch.no_grad():  # stand-in for training: the unfrozen stage moves off the teacher
        for p in adapter.layer4.parameters():
            p.add_(0.05 * torch.randn_like(p))
    adapter.eval()
    save_cls_adapter(adapter, [f"c{i}" for i in range(9)], "fp", tmp_path / "a.pt")
    loaded = ClassificationRunner.load(tmp_path / "a.pt", teacher_path).model
    assert len(loaded.stem.latent_blocks) == 1 and len(loaded.stem.blocks) == 2
    assert loaded.train_stages == ("layer4",)
    assert loaded.trainable_parameters() == adapter.trainable_parameters()
    y = torch.randn(2, 24, 8, 8)
    torch.testing.assert_close(loaded(y), adapter(y), atol=2e-2, rtol=2e-2)  # fp16 file
    unchanged = LatentClassifier(teacher, latent_channels=24, rank=8, latent_blocks=1, blocks=2)
    unchanged.stem.load_state_dict(loaded.stem.state_dict())
    assert (unchanged.eval()(y) - loaded(y)).abs().max() > 1e-3  # layer4 came from the file


def test_adapter_files_from_before_block_counts_still_load(tmp_path):
    from polc.shared.models.weights_file import save_torch_file

    teacher, teacher_path = _save_teacher(tmp_path)
    adapter = LatentClassifier(teacher, latent_channels=24, rank=8).eval()
    old_stem = {
        k.replace("blocks.0.", "block."): v.half() for k, v in adapter.stem.state_dict().items()
    }
    save_torch_file(
        {
            "format": "polc-adapter-cls-1",
            "stem": old_stem,
            "classes": ["c"] * 9,
            "latent_channels": 24,
            "rank": 8,
            "codec_fingerprint": "fp",
        },
        tmp_path / "old.pt",
    )
    loaded = ClassificationRunner.load(tmp_path / "old.pt", teacher_path).model
    y = torch.randn(1, 24, 8, 8)
    torch.testing.assert_close(loaded(y), adapter(y), atol=2e-2, rtol=2e-2)


def test_adapter_config_merges_defaults_file_and_flags_and_names_bad_fields(tmp_path):
    import pytest

    from polc.shared.errors import ConfigError
    from polc.training.adapter_config import load_adapter_config

    good = tmp_path / "a.yaml"
    good.write_text(
        "task: det\nsteps: 10\nstem: {rank: 16, latent_blocks: 1}\ntrain_stages: [layer4]\n"
    )
    cfg = load_adapter_config(good, None, {"steps": 20, "images": None})
    assert (
        cfg.task,
        cfg.steps,
        cfg.batch_size,
        cfg.stem.rank,
        cfg.stem.latent_blocks,
        cfg.stem.blocks,
        cfg.train_stages,
    ) == ("det", 20, 8, 16, 1, 1, ("layer4",))
    assert load_adapter_config(None, "cls").batch_size == 64
    cases = {
        "stem: {rank: 0}\n": "stem.rank",
        "steps: -1\n": "steps",
        "train_stages: [fcos]\n": "train_stages",
        "wings: 2\n": "wings",
        "stem: {first_stage: layer3}\n": "stem.first_stage",
    }
    for text, field in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            load_adapter_config(bad, "cls")
    with pytest.raises(ConfigError, match="field 'task'"):
        load_adapter_config(good, "cls")


def test_warm_start_grows_the_stem_latent_rank_and_blocks_without_changing_its_output(tmp_path):
    from polc.training.adapter import init_from_adapter_file, save_cls_adapter

    teacher = _teacher()
    torch.manual_seed(3)
    small = LatentClassifier(teacher, latent_channels=24, rank=8).eval()
    save_cls_adapter(small, ["c"] * 9, "fp", tmp_path / "small.pt")
    wide = LatentClassifier(teacher, latent_channels=24, rank=12).eval()
    init_from_adapter_file(wide, tmp_path / "small.pt")
    y = torch.randn(2, 24, 8, 8)
    torch.testing.assert_close(wide(y), small(y), atol=2e-2, rtol=2e-2)  # fp16 file
    assert wide.stem.reduce.weight[8:].abs().sum() > 0  # new directions can still learn
    deep = LatentClassifier(teacher, latent_channels=24, rank=12, blocks=3).eval()
    init_from_adapter_file(deep, tmp_path / "small.pt")  # more blocks: also unchanged
    torch.testing.assert_close(deep(y), small(y), atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(
        deep.stem.blocks[0].gamma, small.stem.blocks[0].gamma, atol=1e-3, rtol=1e-3
    )
    wider = LatentClassifier(teacher, latent_channels=40, rank=12).eval()  # a wider codec
    init_from_adapter_file(wider, tmp_path / "small.pt")
    y_wide = torch.cat([y, torch.randn(2, 16, 8, 8)], dim=1)  # the new channels: no influence
    torch.testing.assert_close(wider(y_wide), small(y), atol=2e-2, rtol=2e-2)
    assert wider.stem.reduce.weight[:8, 24:].abs().sum() == 0  # trained rows read them with 0
    assert all(
        b.gamma.abs().sum() == 0 and b.pw1.weight.abs().sum() > 0 for b in deep.stem.blocks[1:]
    )  # new blocks: identity, but trainable
    import pytest

    with pytest.raises(ValueError, match="rank"):
        init_from_adapter_file(LatentClassifier(teacher, 24, rank=4), tmp_path / "small.pt")
    with pytest.raises(ValueError, match="latent channels"):  # a narrower codec
        init_from_adapter_file(LatentClassifier(teacher, 16, rank=8), tmp_path / "small.pt")
    init_from_adapter_file(
        deep := LatentClassifier(teacher, 24, rank=12, blocks=3), tmp_path / "small.pt"
    )
    save_cls_adapter(deep, ["c"] * 9, "fp", tmp_path / "deep.pt")
    with pytest.raises(ValueError, match="blocks"):  # fewer blocks cannot be grown
        init_from_adapter_file(LatentClassifier(teacher, 24, rank=12), tmp_path / "deep.pt")


def test_resuming_a_checkpoint_of_another_configuration_names_the_run_dir(tmp_path):
    import pytest

    from polc.shared.errors import ConfigError
    from polc.training.checkpoint import restore_training_state, save_training_state

    teacher = _teacher()
    save_training_state(tmp_path / "ckpt.pt", LatentClassifier(teacher, 24, rank=8), 7)
    same = LatentClassifier(teacher, 24, rank=8)
    assert restore_training_state(tmp_path / "ckpt.pt", same) == 7
    other = LatentClassifier(teacher, 24, rank=8, first_stage="layer1")
    with pytest.raises(ConfigError, match="differently configured.*--run-dir"):
        restore_training_state(tmp_path / "ckpt.pt", other)
