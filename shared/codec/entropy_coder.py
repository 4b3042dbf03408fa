"""Entropy coding of integer symbols with ``constriction``'s ANS coder (memory-safe Rust).

Each symbol is coded with one of a set of categorical tables (one per scale index for ŷ, one
per channel for ẑ and ŝ). Symbols are grouped by table so that each group is one vectorised
call; values outside a table's support are coded as its last ("escape") category and sent
raw in a side array, as CompressAI does with its overflow bins.

Tables hold integer frequencies that are exported once from the trained CompressAI entropy
models and shipped with the weights, so encoder and decoder use bit-identical models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import constriction
import numpy as np

from polc.shared.errors import BitstreamError

#: what an escaped value costs besides its escape symbol in :meth:`CategoricalTables.code_length`
#: (a zigzag varint of a typical escape is one or two bytes)
ESCAPE_BITS = 12.0


@dataclass
class CategoricalTables:
    """freqs[k]: integer frequencies of table k, last entry = escape; offsets[k]: first value."""

    freqs: list[np.ndarray]
    offsets: np.ndarray
    _models: dict[int, object] = field(default_factory=dict, repr=False)
    _lengths: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def model(self, k: int):
        if k not in self._models:
            probs = self.freqs[k].astype(np.float64)
            self._models[k] = constriction.stream.model.Categorical(probs, perfect=False)
        return self._models[k]

    def code_length(self, values: np.ndarray, table_ids: np.ndarray) -> float:
        """Ideal bits of coding ``values`` with ``tables[table_ids]``, an escaped value
        counting as its escape symbol + ESCAPE_BITS: an encoder's estimate for choosing
        between entropy models without running the coder."""
        costs, escape_index = self._code_lengths()
        ids = table_ids.astype(np.int64).ravel()
        j = values.astype(np.int64).ravel() - self.offsets[ids]
        escaped = (j < 0) | (j >= escape_index[ids])
        j = np.where(escaped, escape_index[ids], j)
        return float(costs[ids, j].sum() + ESCAPE_BITS * escaped.sum())

    def _code_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """(−log2 p per table and symbol, zero-padded; each table's escape index)."""
        if self._lengths is None:
            costs = np.zeros((len(self.freqs), max(len(f) for f in self.freqs)))
            for k, f in enumerate(self.freqs):
                costs[k, : len(f)] = -np.log2(np.maximum(f / f.sum(), 1e-300))
            self._lengths = costs, np.asarray([len(f) - 1 for f in self.freqs], np.int64)
        return self._lengths

    def to_state(self) -> dict:
        return {
            "freqs": [f.astype(np.int64) for f in self.freqs],
            "offsets": self.offsets.astype(np.int64),
        }

    @classmethod
    def from_state(cls, state: dict) -> CategoricalTables:
        return cls(
            [np.asarray(f, np.int64) for f in state["freqs"]],
            np.asarray(state["offsets"], np.int64),
        )

    def __len__(self) -> int:
        return len(self.freqs)


def _groups(table_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable grouping of flat, non-negative table ids: (order, used ids, [start, count])."""
    counts = np.bincount(table_ids)
    # a stable sort has one answer; on ≤ 16-bit keys numpy's stable sort is a radix sort
    key = table_ids.astype(
        np.uint8 if counts.size <= 256 else np.uint16 if counts.size <= 65536 else np.int64
    )
    order = np.argsort(key, kind="stable")
    ids = np.flatnonzero(counts)
    starts = np.cumsum(counts) - counts
    return order, ids, np.stack([starts[ids], counts[ids]], 1)


def encode(
    values: np.ndarray, table_ids: np.ndarray, tables: CategoricalTables
) -> tuple[bytes, np.ndarray]:
    """Code flat int ``values`` with ``tables[table_ids]``. Returns (payload, escapes int32)."""
    values = values.astype(np.int64).ravel()
    table_ids = table_ids.astype(np.int64).ravel()
    order, ids, spans = _groups(table_ids)
    sorted_vals = values[order]
    group_syms, escapes = [], []
    for k, (start, count) in zip(ids.tolist(), spans.tolist(), strict=True):
        v = sorted_vals[start : start + count] - tables.offsets[k]
        esc_cat = len(tables.freqs[k]) - 1
        is_esc = (v < 0) | (v >= esc_cat)
        if is_esc.any():
            escapes.append(sorted_vals[start : start + count][is_esc])
            v = np.where(is_esc, esc_cat, v)
        group_syms.append((k, v.astype(np.int32)))
    coder = constriction.stream.stack.AnsCoder()
    for k, syms in reversed(group_syms):  # a stack: encode backwards, decode forwards
        coder.encode_reverse(syms, tables.model(k))
    words = coder.get_compressed()
    esc = np.concatenate(escapes).astype(np.int32) if escapes else np.zeros(0, np.int32)
    if np.any(np.abs(esc.astype(np.int64)) > 2**30):
        raise BitstreamError("latent value out of codable range (|v| > 2^30)")
    return words.astype("<u4").tobytes(), esc


def decode(
    payload: bytes, escapes: np.ndarray, table_ids: np.ndarray, tables: CategoricalTables
) -> np.ndarray:
    """Inverse of :func:`encode`. Any inconsistency raises :class:`BitstreamError`."""
    if len(payload) % 4:
        raise BitstreamError("entropy-coded section length is not a multiple of 4 bytes")
    table_ids = table_ids.astype(np.int64).ravel()
    if table_ids.size and (table_ids.min() < 0 or table_ids.max() >= len(tables)):
        raise BitstreamError("entropy-model index out of range")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    order, ids, spans = _groups(table_ids)
    out_sorted = np.empty(table_ids.size, np.int64)
    esc_pos = 0
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        for k, (start, count) in zip(ids.tolist(), spans.tolist(), strict=True):
            syms = np.asarray(coder.decode(tables.model(k), count), np.int64)
            esc_cat = len(tables.freqs[k]) - 1
            vals = syms + tables.offsets[k]
            is_esc = syms == esc_cat
            n_esc = int(is_esc.sum())
            if n_esc:
                if esc_pos + n_esc > escapes.size:
                    raise BitstreamError("escape section shorter than the coded escapes")
                vals[is_esc] = escapes[esc_pos : esc_pos + n_esc]
                esc_pos += n_esc
            out_sorted[start : start + count] = vals
        leftover = not coder.is_empty()
    except BitstreamError:
        raise
    except Exception as exc:  # constriction reports corrupt data as ValueError/AssertionError
        raise BitstreamError(f"entropy decoding failed: {exc}") from exc
    if leftover or esc_pos != escapes.size:
        raise BitstreamError("entropy-coded section does not end where the model expects")
    out = np.empty_like(out_sorted)
    out[order] = out_sorted
    return out
