"""Serving runners of the latent adapters: a batch of decoded ŷ (mixed sizes and α) ->
results (top-k classes with :class:`ClassificationRunner`, boxes with
:class:`DetectionRunner`). The models and their files are ``polc.shared.models.adapters``.

An adapter on a user's torchvision model (``polc train adapter --model torchvision:NAME``)
is a self-describing file: the runners build it from the file alone and need no pixel model.

Frames are grouped by latent shape and each group runs as one batched forward pass (no
per-frame Python work on the model path); works on CPU and CUDA alike.

Which boxes :class:`DetectionRunner` returns is its operating point (per-class score
thresholds and NMS), read from the detection adapter file where ``polc bench
operating-point`` stored the one it chose on held-out frames; files without one keep the
former fixed threshold of 0.3. The cloud's configuration may override it
(``analyzer.detection``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Self

import torch

from polc.shared.models.adapters.adapter_file import AdapterFile
from polc.shared.models.adapters.classification import LatentClassifier
from polc.shared.models.adapters.detection import LatentDetector, keep_visible
from polc.shared.models.adapters.operating_point import LEGACY_OPERATING_POINT, OperatingPoint
from polc.shared.models.adapters.stem import StemFedBackbone
from polc.shared.models.adapters.torchvision_adapter_file import (
    is_torchvision_adapter,
    read_torchvision_adapter,
)
from polc.shared.models.adapters.torchvision_adapters import (
    TorchvisionLatentClassifier,
    TorchvisionLatentDetector,
)
from polc.shared.models.weights_file import WeightsKind
from polc.shared.results import ClassScore, Detection


def group_by_shape(latents: list[torch.Tensor]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, y in enumerate(latents):
        groups[tuple(y.shape[-3:])].append(i)
    return groups


class _LatentRunner:
    """A latent-domain model in eval mode on a device, with its class names."""

    def __init__(self, model: torch.nn.Module, classes: list[str], device: str = "cpu"):
        self.model = model.to(device).eval()
        self.classes, self.device = list(classes), device
        self.codec_fingerprint: str | None = None  # set when loaded from an adapter file

    def _batches(self, latents: list[torch.Tensor]) -> Iterator[tuple[list[int], torch.Tensor]]:
        """(frame indexes, stacked latents on the device), one batch per latent shape."""
        for idx in group_by_shape(latents).values():
            batch = torch.stack([latents[i].reshape(latents[i].shape[-3:]) for i in idx])
            yield idx, batch.to(self.device)

    #: the adapter's class (it names its file's kind and the reader of the pixel model,
    #: teacher or detector, whose stages and head it reuses)
    adapter_class: type[StemFedBackbone]

    @classmethod
    def load(cls, adapter_path: Path, pixel_model_path: Path | None, device: str = "cpu") -> Self:
        """The adapter stored at ``adapter_path``: a torchvision adapter file alone
        (:meth:`_from_torchvision_file`), or an adapter on the pixel model at
        ``pixel_model_path`` (whose stages and head it reuses)."""
        adapter = cls.adapter_class
        if is_torchvision_adapter(adapter_path):
            task = adapter.WEIGHTS_KIND.removeprefix("adapter_")
            return cls._from_torchvision_file(adapter_path, task, device)
        if pixel_model_path is None:
            raise ValueError(f"{adapter_path} needs its pixel model file")
        pixel_model = adapter.read_pixel_model(pixel_model_path)
        return cls._from_file(
            adapter_path, adapter.WEIGHTS_KIND, partial(adapter, pixel_model), device
        )

    @classmethod
    def _from_file(
        cls,
        adapter_path: Path,
        kind: WeightsKind,
        build: Callable[..., StemFedBackbone],
        device: str,
    ):
        """``build(latent_channels, rank, stages, latent_blocks=a, blocks=b,
        first_stage=s)`` + the stem and unfrozen modules stored in an adapter file;
        ``codec_fingerprint`` says which codec's latents it was trained on."""
        stored = AdapterFile.read(adapter_path, kind)
        arch = stored.architecture
        model = build(
            arch["latent_channels"],
            arch["rank"],
            tuple(stored.stages),
            latent_blocks=arch["latent_blocks"],
            blocks=arch["blocks"],
            first_stage=stored.first_stage,
        )
        stored.load_into(model)
        runner = cls(model, stored.classes, device)
        runner.codec_fingerprint = stored.codec_fingerprint
        runner._stored_operating_point(stored.operating_point)
        return runner

    @classmethod
    def _from_torchvision_file(cls, adapter_path: Path, task: str, device: str):
        """A torchvision adapter file: architecture, weights and classes all from it."""
        stored = read_torchvision_adapter(adapter_path, task)
        runner = cls(stored.adapter, stored.classes, device)
        runner.codec_fingerprint = stored.codec_fingerprint
        runner._stored_operating_point(stored.operating_point)
        return runner

    def _stored_operating_point(self, point: OperatingPoint | None) -> None:
        """What a detection runner does with its file's operating point (see there)."""


class ClassificationRunner(_LatentRunner):
    """ŷ -> top-k classes with their scores, best first."""

    model: LatentClassifier | TorchvisionLatentClassifier

    adapter_class = LatentClassifier

    @torch.no_grad()
    def __call__(self, latents: list[torch.Tensor], k: int = 5) -> list[list[ClassScore]]:
        out: list[list[ClassScore]] = [[] for _ in latents]
        k = min(k, len(self.classes))
        for idx, batch in self._batches(latents):
            probs = torch.softmax(self.model(batch), dim=1)
            scores, labels = probs.topk(k, dim=1)
            for row, i in enumerate(idx):
                out[i] = [
                    ClassScore(self.classes[c], float(s), c)
                    for c, s in zip(labels[row].tolist(), scores[row].tolist(), strict=True)
                ]
        return out


class DetectionRunner(_LatentRunner):
    """ŷ -> boxes / classes / scores, boxes in original-image pixels (padding undone), the
    boxes its :attr:`operating_point` keeps."""

    model: LatentDetector | TorchvisionLatentDetector

    adapter_class = LatentDetector

    def __init__(self, model: torch.nn.Module, classes: list[str], device: str = "cpu"):
        super().__init__(model, classes, device)
        #: the adapter file's, else the legacy fixed threshold; the cloud's config may
        #: override it (polc.cloud.analyzer.build_analyzer)
        self.operating_point: OperatingPoint = LEGACY_OPERATING_POINT

    def _stored_operating_point(self, point: OperatingPoint | None) -> None:
        self.operating_point = point or LEGACY_OPERATING_POINT

    @torch.no_grad()
    def candidates(
        self, latents: list[torch.Tensor], sizes: list[tuple[int, int]] | None = None
    ) -> list[dict[str, torch.Tensor]]:
        """Every box the model finds per frame (its own score floor and NMS), clipped to the
        frame, before the operating point: ``boxes`` (xyxy), ``scores``, ``labels``.
        ``sizes``: original (width, height) per frame (default: the padded size 16·w × 16·h,
        i.e. no clipping beyond the frame)."""
        out: list[dict[str, torch.Tensor]] = [{} for _ in latents]
        for idx, batch in self._batches(latents):
            dets = self.model(batch)
            for det, i in zip(dets, idx, strict=True):
                h, w = latents[i].shape[-2:]
                width, height = sizes[i] if sizes is not None else (16 * w, 16 * h)
                out[i] = keep_visible(det, width, height)
        return out

    def __call__(
        self,
        latents: list[torch.Tensor],
        sizes: list[tuple[int, int]] | None = None,
        min_score: float | None = None,
    ) -> list[list[Detection]]:
        """Detections per frame, best first: the :meth:`candidates` the operating point
        keeps. ``min_score``: one threshold for every class instead of the point's."""
        point = self.operating_point
        if min_score is not None:
            point = point.overridden(min_score=min_score)
        out: list[list[Detection]] = []
        for det in self.candidates(latents, sizes):
            det = point.apply(det, self.classes)
            rows = zip(
                det["boxes"].cpu().tolist(),
                det["scores"].tolist(),
                det["labels"].tolist(),
                strict=True,
            )
            out.append([Detection(self.classes[c], float(s), tuple(b), int(c)) for b, s, c in rows])
        return out
