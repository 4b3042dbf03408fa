"""An adapter weights file (kinds ``adapter_cls`` / ``adapter_det``, written by
``polc train adapter``): the trained stem, the unfrozen modules of the pixel model, what the
stem's sizes were, the class names and the codec the adapter was trained on.

One writer (:func:`save_adapter_file`) and one reader (:meth:`AdapterFile.read`) for the
cloud's runners and for training's warm starts, so both understand the same format versions:
files written before the stem had block counts hold ``latent_blocks = 0, blocks = 1`` with
the one block's weights under ``block.``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from polc.shared.models.adapters.operating_point import OperatingPoint, stored_operating_point
from polc.shared.models.adapters.stem import StemFedBackbone
from polc.shared.models.weights_file import WeightsKind, load_weights, save_weights

ADAPTER_KINDS: tuple[WeightsKind, ...] = ("adapter_cls", "adapter_det")


def _as_float(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp16 file tensors back to fp32 (integer buffers such as BN counters stay as they are)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}


@dataclass
class AdapterFile:
    architecture: dict[str, int]  # latent_channels, rank, latent_blocks, blocks
    stem: dict[str, torch.Tensor]
    stages: dict[str, dict[str, torch.Tensor]]  # dotted module path -> its weights
    classes: list[str]
    codec_fingerprint: str | None
    first_stage: str = "layer2"  # the backbone stage the stem feeds (older files: layer2)
    operating_point: OperatingPoint | None = None  # detection: chosen on held-out frames

    @classmethod
    def read(
        cls, path: Path, kind: WeightsKind | tuple[WeightsKind, ...] = ADAPTER_KINDS
    ) -> AdapterFile:
        """The file at ``path``; ``kind`` restricts it to one adapter kind (default: any)."""
        state = load_weights(path, kind)
        stem = {
            ("blocks.0." + k.removeprefix("block.")) if k.startswith("block.") else k: v
            for k, v in _as_float(state["stem"]).items()
        }
        return cls(
            {
                "latent_channels": int(state["latent_channels"]),
                "rank": int(state["rank"]),
                "latent_blocks": int(state.get("latent_blocks", 0)),
                "blocks": int(state.get("blocks", 1)),
            },
            stem,
            {name: _as_float(w) for name, w in state.get("stages", {}).items()},
            list(state["classes"]),
            state.get("codec_fingerprint"),
            str(state.get("first_stage", "layer2")),
            stored_operating_point(state, path),
        )

    def load_into(
        self, model: StemFedBackbone, stem: dict[str, torch.Tensor] | None = None
    ) -> None:
        """The stem (``stem`` instead of the file's, e.g. a widened copy) and the stored
        modules into ``model`` (a LatentClassifier / LatentDetector)."""
        model.stem.load_state_dict(self.stem if stem is None else stem)
        for name, weights in self.stages.items():
            model.get_submodule(name).load_state_dict(weights)


def save_adapter_file(
    path: Path, kind: WeightsKind, adapter: StemFedBackbone, classes: list[str], fingerprint: str
) -> None:
    """Write an adapter file: the trained stem (fp16), its sizes, the backbone modules that
    were unfrozen (their weights; the rest comes from the shipped pixel model), class names
    and the codec it was trained on (what ``polc.cloud.latent_runners`` loads back)."""

    def half(module: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.half() if v.is_floating_point() else v for k, v in module.state_dict().items()}

    stages = {name: half(adapter.get_submodule(name)) for name in adapter.train_stages}
    save_weights(
        path,
        kind,
        {
            "stem": half(adapter.stem),
            "stages": stages,
            "classes": list(classes),
            **adapter.stem.architecture,
            "first_stage": adapter.first_stage,
            "codec_fingerprint": fingerprint,
        },
    )
