"""The inference API the cloud calls: a batch of decoded ŷ (mixed sizes and α) -> results.

Frames are grouped by latent shape and each group runs as one batched forward pass (no
per-frame Python work on the model path); works on CPU and CUDA alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from polc.cloud.adapters.classification import LatentClassifier


@dataclass(frozen=True)
class ClassScore:
    label: str
    score: float


def group_by_shape(latents: list[torch.Tensor]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, y in enumerate(latents):
        groups[tuple(y.shape[-3:])].append(i)
    return groups


class LatentClassification:
    def __init__(self, model: LatentClassifier, classes: list[str], device: str = "cpu"):
        self.model = model.to(device).eval()
        self.classes, self.device = list(classes), device

    @classmethod
    def load(cls, adapter_path: Path, teacher_path: Path, device: str = "cpu"
             ) -> LatentClassification:
        from polc.training.teacher import load_teacher

        state = torch.load(adapter_path, map_location="cpu", weights_only=True)
        teacher = load_teacher(teacher_path)
        model = LatentClassifier(teacher, int(state["latent_channels"]), int(state["rank"]))
        model.stem.load_state_dict({k: v.float() for k, v in state["stem"].items()})
        return cls(model, list(state["classes"]), device)

    @torch.no_grad()
    def __call__(self, latents: list[torch.Tensor], k: int = 5) -> list[list[ClassScore]]:
        out: list[list[ClassScore]] = [[] for _ in latents]
        k = min(k, len(self.classes))
        for _, idx in group_by_shape(latents).items():
            batch = torch.stack([latents[i].reshape(latents[i].shape[-3:]) for i in idx])
            probs = torch.softmax(self.model(batch.to(self.device)), dim=1)
            scores, labels = probs.topk(k, dim=1)
            for row, i in enumerate(idx):
                out[i] = [ClassScore(self.classes[c], float(s))
                          for c, s in zip(labels[row].tolist(), scores[row].tolist(),
                                          strict=True)]
        return out
