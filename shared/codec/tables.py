"""Export of integer entropy tables from trained CompressAI entropy models.

Run once when weights are shipped; the integer frequencies are stored with the weights so
that every machine codes with bit-identical models (no float recomputation at load time).
"""

from __future__ import annotations

import numpy as np
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from polc.shared.codec.entropy_coder import CategoricalTables

PRECISION = 16  # frequencies sum to about 2**16


def gaussian_tables(gc: GaussianConditional) -> CategoricalTables:
    """One table per scale-table entry, support [-c, c] + escape (CompressAI's own tables)."""
    gc.update()
    cdf = gc._quantized_cdf.cpu().numpy().astype(np.int64)
    lengths = gc._cdf_length.cpu().numpy().astype(np.int64)
    offsets = gc._offset.cpu().numpy().astype(np.int64)
    freqs = []
    for k in range(len(lengths)):
        f = np.diff(cdf[k, : lengths[k]])  # last bin is CompressAI's overflow bin = escape
        freqs.append(np.maximum(f, 1))
    return CategoricalTables(freqs, offsets)


@torch.no_grad()
def bottleneck_tables(eb: EntropyBottleneck, tail_margin: int = 1) -> CategoricalTables:
    """One table per channel over the integers between the learned tail quantiles."""
    q = eb.quantiles.detach().cpu().double()[:, 0, :]  # (C, 3): lower, median, upper
    lo = torch.floor(q[:, 0]).long() - tail_margin
    hi = torch.ceil(q[:, 2]).long() + tail_margin
    freqs, offsets = [], []
    for c in range(q.shape[0]):
        xs = torch.arange(lo[c].item(), hi[c].item() + 1, dtype=torch.float32)
        values = torch.zeros(eb.channels, 1, xs.numel())
        values[c, 0] = xs
        lik, _, _ = eb._likelihood(values)
        pmf = lik[c, 0].double().clamp_min(0)
        tail = max(0.0, 1.0 - pmf.sum().item())
        probs = torch.cat([pmf, torch.tensor([tail], dtype=torch.float64)])
        freqs.append(np.maximum(np.round(probs.numpy() * 2**PRECISION), 1).astype(np.int64))
        offsets.append(lo[c].item())
    return CategoricalTables(freqs, np.asarray(offsets, np.int64))
