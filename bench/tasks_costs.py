"""Cloud cost per frame in `polc bench tasks`: the adapter on ŷ against decoding ŷ and
running the pixel model, in FLOPs (``torch.utils.flop_counter``) and CPU latency, and the
adapter's trainable parameters against fine-tuning the whole network on ŷ."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def flops(fn: Callable[..., Any], *args: Any) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn(*args)
    return int(counter.get_total_flops())


def cpu_ms(fn: Callable[..., Any], *args: Any, repeat: int = 5) -> float:
    """Mean wall time of ``fn(*args)`` in ms after one warm-up call."""
    with torch.no_grad():
        fn(*args)
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn(*args)
    return (time.perf_counter() - t0) / repeat * 1e3


def frame_costs(
    adapter: nn.Module,
    decode_plus_pixel: Callable[[torch.Tensor], Any],
    y_hat: torch.Tensor,
    repeat: int,
) -> dict[str, int | float]:
    """The cost fields of a task's results for one frame's ŷ."""
    return {
        "adapter_trainable_params": adapter.trainable_parameters(),
        "adapter_stem_params": sum(p.numel() for p in adapter.stem.parameters()),
        "full_finetune_params": sum(p.numel() for p in adapter.parameters()),
        "flops_compressed_domain": flops(adapter, y_hat),
        "flops_decode_plus_pixel": flops(decode_plus_pixel, y_hat),
        "cpu_ms_compressed_domain": cpu_ms(adapter, y_hat, repeat=repeat),
        "cpu_ms_decode_plus_pixel": cpu_ms(decode_plus_pixel, y_hat, repeat=repeat),
    }
