"""``polc bench data``: how hard is the synthetic classification data?

Generates (or reuses from the cache) N training crops (seed 1) and a held-out test set
(seed 2), trains a small pixel-domain CNN from scratch for a fixed wall-clock budget and
reports top-1 on the clean test crops and on the same crops JPEG-compressed at quality 10
and 20. A useful dataset is learnable (75-95 % clean) but loses accuracy when a codec
throws details away (taxi / police details, spokes, windows).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from polc.bench.arguments import add_option
from polc.shared.data import CLASSES, ensure_synthetic
from polc.shared.data.loaders import ImageFolderDataset, load_rgb

JPEG_QUALITIES = (20, 10)


def _load(
    root: Path, res: int, jpeg_quality: int | None, desc: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """All crops of an ImageFolder as uint8 [N, 3, res, res] (+ labels in CLASSES order).

    JPEG compression is applied at the stored resolution, before downsampling to ``res``.
    """
    ds = ImageFolderDataset(root)
    if tuple(ds.classes) != CLASSES:
        raise SystemExit(f"{root}: class folders {ds.classes} are not {CLASSES}")
    images = torch.empty((len(ds), 3, res, res), dtype=torch.uint8)
    for i, (path, _) in enumerate(tqdm(ds.samples, desc=desc, unit="img", leave=False)):
        im = load_rgb(path)
        if jpeg_quality is not None:
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=jpeg_quality)
            buf.seek(0)
            im = Image.open(buf).convert("RGB")
        if im.size != (res, res):
            im = im.resize((res, res), Image.Resampling.BOX)
        images[i] = torch.from_numpy(np.array(im)).permute(2, 0, 1)
    return images, torch.tensor(ds.targets, dtype=torch.int64)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SmallCNN(nn.Module):
    """A plain 7-conv network (full-resolution stem, three stride-2 stages, global pool)."""

    def __init__(self, n_classes: int = len(CLASSES), width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _block(3, w, 1),
            _block(w, w, 2),
            _block(w, w, 1),
            _block(w, 2 * w, 2),
            _block(2 * w, 2 * w, 1),
            _block(2 * w, 4 * w, 2),
            _block(4 * w, 4 * w, 1),
        )
        self.head = nn.Linear(4 * w, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def _prep(x: torch.Tensor) -> torch.Tensor:
    """uint8 / float 0-255 NCHW -> normalised float in channels-last layout (2x faster)."""
    return ((x.float() / 255.0 - 0.5) / 0.25).contiguous(memory_format=torch.channels_last)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip + random translation by up to 4 px (reflect padding)."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    pad = 4
    xp = F.pad(x.float(), (pad, pad, pad, pad), mode="reflect")
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=gen))
    return xp[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


@torch.no_grad()
def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256
) -> tuple[float, list[float]]:
    model.eval()
    pred = torch.cat([model(_prep(x[i : i + batch])).argmax(1) for i in range(0, len(x), batch)])
    correct = pred == y
    per_class = [
        float(correct[y == c].float().mean()) if (y == c).any() else float("nan")
        for c in range(len(CLASSES))
    ]
    return float(correct.float().mean()), per_class


def run(args: argparse.Namespace) -> int:
    """Handler of ``polc bench data``."""
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    t_start = time.time()
    train_dir = ensure_synthetic("cls", args.n_train, 1, (args.crop, args.crop))
    test_dir = ensure_synthetic("cls", args.n_test, 2, (args.crop, args.crop))
    gen_s = time.time() - t_start
    x_train, y_train = _load(train_dir, args.res, None, "loading train")
    tests = {"clean": _load(test_dir, args.res, None, "loading test")}
    for q in JPEG_QUALITIES:
        tests[f"jpeg q{q}"] = _load(test_dir, args.res, q, f"loading test q{q}")
    model = SmallCNN(width=args.width).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(args.seed)
    budget = args.minutes * 60.0
    t0, step, seen = time.time(), 0, 0
    model.train()
    bar = tqdm(total=int(budget), desc="training", unit="s", leave=False)
    while (elapsed := time.time() - t0) < budget:
        frac = elapsed / budget
        lr = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(x_train), (args.batch,), generator=gen)
        xb = _augment(x_train[idx], gen)
        loss = F.cross_entropy(model(_prep(xb)), y_train[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seen += args.batch
        bar.n = int(min(budget, time.time() - t0))
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        bar.update(0)
    bar.close()
    train_s = time.time() - t0
    results = {}
    for name, (x, y) in tests.items():
        acc, per_class = _evaluate(model, x, y)
        results[name] = {"top1": acc, "per_class": dict(zip(CLASSES, per_class, strict=True))}
    report = {
        "benchmark": "data_difficulty",
        "train": {"n": args.n_train, "seed": 1},
        "test": {"n": args.n_test, "seed": 2},
        "crop": args.crop,
        "res": args.res,
        "minutes": args.minutes,
        "train_seconds": round(train_s, 1),
        "steps": step,
        "epochs": round(seen / len(x_train), 2),
        "batch": args.batch,
        "width": args.width,
        "generation_seconds": round(gen_s, 1),
        "threads": args.threads,
        "results": results,
    }
    print(
        f"synthetic cls difficulty: {args.n_train} train crops (seed 1), {args.n_test} test "
        f"crops (seed 2), {args.res}x{args.res}, {train_s / 60:.1f} min CPU training, "
        f"{step} steps ({report['epochs']} epochs)"
    )
    print(f"{'test set':<10} {'top-1':>7}   " + " ".join(f"{c[:5]:>5}" for c in CLASSES))
    for name, r in results.items():
        cells = " ".join(f"{100 * v:5.1f}" for v in r["per_class"].values())
        print(f"{name:<10} {100 * r['top1']:6.1f}%   {cells}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``polc bench data`` options."""
    p.description = __doc__.splitlines()[0] if __doc__ else None
    add_option(p, "--n-train", 20000, "training crops (seed 1)")
    add_option(p, "--n-test", 2000, "test crops (seed 2)")
    add_option(p, "--minutes", 4.0, "training budget (wall clock)")
    add_option(p, "--crop", 128, "generated crop size")
    add_option(p, "--res", 64, "resolution the CNN sees")
    add_option(p, "--width", 32, "CNN base width")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    add_option(
        p, "--threads", 1, "torch CPU threads (1 avoids oversubscription on a shared machine)"
    )
    add_option(p, "--seed", 0, "training seed")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
