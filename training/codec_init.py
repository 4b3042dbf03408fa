"""Start a codec run from another codec's weights, also one whose layers are narrower.

``polc train codec --init FILE`` with the same architecture loads the file as it is. With
a wider target (more latent channels M, enhancement channels or levels) every parameter takes
what fits of the source's:

* the same shape: copied;
* each source dimension ≤ the target's: the leading slice is copied; the new part of a
  convolution's *input* dimension is zeroed (a new channel starts with no influence on what
  reads it: the network computes what the source did until training uses the new channels),
  the new outputs keep their fresh initialisation;
* outputs made of concatenated parts (h_s's last layer: means | scales) are copied part by
  part;
* gain units (one gain vector per level of the *source's* rate grid) and anything else that
  does not fit keep their fresh initialisation.

Written by hand: torch's ``load_state_dict`` only copies equal shapes, and no library widens a
trained network this way for our layer layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

#: output channels made of concatenated parts, copied part by part: {module name: parts}
CHUNKED_OUTPUTS: Mapping[str, int] = {"h_s.conv3": 2}
#: parameters never copied across differently shaped models (tied to the source's rate grid)
NOT_TRANSFERRED = ("gain_y.", "gain_s.")


@dataclass
class TransferReport:
    copied: list[str] = field(default_factory=list)
    widened: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.copied)} parameters copied, {len(self.widened)} widened, "
            f"{len(self.initialised)} left at their initialisation"
            + (f" ({', '.join(self.initialised)})" if self.initialised else "")
        )


def _input_dim(module: nn.Module | None) -> int | None:
    """The weight dimension that indexes a layer's input channels."""
    if isinstance(module, nn.ConvTranspose2d):
        return 0
    if isinstance(module, nn.Conv2d | nn.Linear):
        return 1
    return None


def _fits(src: torch.Tensor, dst: torch.Tensor) -> bool:
    return src.dim() == dst.dim() and all(s <= d for s, d in zip(src.shape, dst.shape, strict=True))


def _leading(shape: torch.Size) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in shape)


@torch.no_grad()
def _widen(dst: torch.Tensor, src: torch.Tensor, input_dim: int | None, parts: int) -> None:
    if input_dim is not None and dst.dim() > input_dim:
        zero = [slice(None)] * dst.dim()
        zero[input_dim] = slice(src.shape[input_dim], None)
        dst[tuple(zero)] = 0.0
    if parts == 1:
        dst[_leading(src.shape)] = src
        return
    src_parts, dst_parts = src.chunk(parts, dim=0), dst.chunk(parts, dim=0)
    for s, d in zip(src_parts, dst_parts, strict=True):
        d[_leading(s.shape)] = s  # chunk() returns views: this writes into dst


def transfer_weights(target: nn.Module, source: nn.Module) -> TransferReport:
    """Copy into ``target`` what fits of ``source``'s parameters (see the module docstring)."""
    report = TransferReport()
    modules = dict(target.named_modules())
    src_params = dict(source.named_parameters())
    for name, dst in target.named_parameters():
        src = src_params.get(name)
        owner, _, leaf = name.rpartition(".")
        if src is None or (name.startswith(NOT_TRANSFERRED) and src.shape != dst.shape):
            report.initialised.append(name)
        elif src.shape == dst.shape:
            with torch.no_grad():
                dst.copy_(src)
            report.copied.append(name)
        elif _fits(src, dst):
            input_dim = _input_dim(modules.get(owner)) if leaf == "weight" else None
            _widen(dst, src.to(dst.dtype), input_dim, CHUNKED_OUTPUTS.get(owner, 1))
            report.widened.append(name)
        else:
            report.initialised.append(name)
    return report
