"""Stage 0: training the pixel-domain teacher (a small torchvision-style ResNet) from scratch.

It is the frozen network of the codec's cognition-oriented loss, and the pixel model and
distillation teacher of the compressed-domain adapters. The model is
``polc.shared.models.vision.backbone.SmallResNet``; its file is read by
``polc.shared.models.vision.teacher_file.load_teacher``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from polc.shared.codec.config import CodecConfig
from polc.shared.data import CLASSES, ensure_synthetic
from polc.shared.data.loaders import ImageFolderDataset
from polc.shared.errors import DatasetError
from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.vision.teacher_file import save_teacher
from polc.training.datasets import load_image_tensor
from polc.training.loop import Evaluation, StepResult, TrainLoop
from polc.training.schedule import WarmupCosine

log = logging.getLogger(__name__)


def load_labelled_folder(root: Path, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageFolder layout -> (uint8 images, labels); labels follow CLASSES order."""
    folder = ImageFolderDataset(root)
    unknown = sorted(set(folder.classes) - set(CLASSES))
    if unknown:
        raise DatasetError(f"{root}: folders {unknown} are not known classes {CLASSES}")
    paths = [Path(path) for path, _ in folder.samples]
    labels = [CLASSES.index(folder.classes[label]) for _, label in folder.samples]
    return load_image_tensor(paths, desc), torch.tensor(labels)


def augment(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip + small random translation (reflect-padded)."""
    flips = torch.rand(batch.shape[0], generator=gen) < 0.5
    batch = torch.where(flips[:, None, None, None], batch.flip(-1), batch)
    pad = batch.shape[-1] // 16
    padded = F.pad(batch, (pad, pad, pad, pad), mode="reflect")
    dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    return padded[..., dy : dy + batch.shape[-2], dx : dx + batch.shape[-1]]


@torch.no_grad()
def evaluate(
    model: SmallResNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 200
) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        x = images[i : i + batch].float() / 255.0
        correct += (model(x).argmax(1) == labels[i : i + batch]).sum().item()
    model.train()
    return correct / len(images)


def train_teacher(cfg: CodecConfig, run_dir: Path, device: str = "cpu") -> Path:
    tc = cfg.teacher
    run_dir.mkdir(parents=True, exist_ok=True)
    train_x, train_y = load_labelled_folder(
        ensure_synthetic("cls", tc.train_images, tc.seed, (tc.crop, tc.crop)), "teacher train"
    )
    test_x, test_y = load_labelled_folder(
        ensure_synthetic("cls", 1000, tc.seed + 1000, (tc.crop, tc.crop)), "teacher eval"
    )
    torch.manual_seed(cfg.seed)
    model = SmallResNet(len(CLASSES), tc.widths).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=5e-4)
    loop = TrainLoop(
        "teacher",
        model,
        opt,
        steps=tc.steps,
        schedule=WarmupCosine(tc.lr, tc.lr * 0.01, 100),
        checkpoint=run_dir / "teacher_ckpt.pt",
        eval_every=500,
    )
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + loop.step)

    def step(_: int) -> StepResult:
        idx = loop.shard(torch.randint(0, len(train_x), (tc.batch_size,), generator=gen))
        x = augment(train_x[idx].float() / 255.0, gen).to(device)
        return StepResult(F.cross_entropy(model(x), train_y[idx].to(device), label_smoothing=0.05))

    def held_out(step: int) -> Evaluation:
        acc = evaluate(model.cpu(), test_x, test_y)
        model.to(device)
        return Evaluation(f"teacher step {step}: held-out top-1 {acc:.3f}", {"top1": acc})

    loop.run(step, held_out)
    model = model.cpu().eval()
    acc = evaluate(model, test_x, test_y)
    out = run_dir / "teacher.pt"
    if loop.ranks.is_main:
        save_teacher(out, model, list(CLASSES), held_out_top1=acc, train_seconds=loop.elapsed())
        log.info("teacher saved to %s (held-out top-1 %.3f)", out, acc)
    return out
