"""Reading an adapter file (written by ``polc train adapter``): the trained stem, the
unfrozen modules of the pixel model and what the stem's sizes were.

One reader for the cloud's loader and for training's warm starts, so both understand the
same format versions: files written before the stem had block counts hold
``latent_blocks = 0, blocks = 1`` with the one block's weights under ``block.``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


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

    @classmethod
    def read(cls, path: Path) -> AdapterFile:
        state = torch.load(path, map_location="cpu", weights_only=True)
        stem = {("blocks.0." + k.removeprefix("block.")) if k.startswith("block.") else k: v
                for k, v in _as_float(state["stem"]).items()}
        return cls({"latent_channels": int(state["latent_channels"]),
                    "rank": int(state["rank"]),
                    "latent_blocks": int(state.get("latent_blocks", 0)),
                    "blocks": int(state.get("blocks", 1))},
                   stem, {name: _as_float(w) for name, w in state.get("stages", {}).items()},
                   list(state["classes"]), state.get("codec_fingerprint"),
                   str(state.get("first_stage", "layer2")))

    def load_into(self, model: nn.Module, stem: dict[str, torch.Tensor] | None = None) -> None:
        """The stem (``stem`` instead of the file's, e.g. a widened copy) and the stored
        modules into ``model`` (a LatentClassifier / LatentDetector)."""
        model.stem.load_state_dict(self.stem if stem is None else stem)
        for name, weights in self.stages.items():
            model.get_submodule(name).load_state_dict(weights)
