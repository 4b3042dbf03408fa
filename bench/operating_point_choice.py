"""Choosing per-class score thresholds (``polc bench operating-point``): the ones that maximise
F1 (or F_β), or the most precise ones that keep a required recall.

Input: per class, the scores of the detections kept by one NMS setting, whether each is a
true positive (``polc.shared.metrics.detection_matching``) and the number of ground-truth
boxes. Because detections are matched best first within their class, a class's threshold
drops only its own lowest-scoring detections: TP_c(t) and D_c(t) (detections kept) are one
table per class, and

    F1 = 2 · Σ_c TP_c(t_c) / (Σ_c D_c(t_c) + G)          G: ground-truth boxes

or more generally F_β = (1 + β²)·TP / (D + β²·G). Maximised exactly over a threshold grid
by Dinkelbach's iteration: for a ratio λ the thresholds maximising Σ_c (1 + β²)·TP_c − λ·D_c
are chosen class by class; λ ← their F_β until it stops rising (it rises strictly, over
finitely many choices). Ties go to the higher threshold (fewer boxes for the same count of
true ones).

With a recall floor R instead (:func:`choose_for_recall`): the thresholds with the highest
pooled precision Σ TP_c / Σ D_c among those with Σ TP_c ≥ R·G, exact over the grid by dynamic
programming over the pooled true-positive count (for each count, the fewest detections that
reach it, class by class; ties: more true positives, then higher thresholds).

Classes with fewer than ``min_truth`` ground-truth boxes share one threshold (pooled into one
group, :data:`SHARED`): the operating point's default for every class it does not list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the group of classes without a threshold of their own
SHARED = "*"

#: candidate thresholds
GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


@dataclass
class ClassTable:
    """One class's detections (any order) and ground truth."""

    scores: np.ndarray  #: (n,) float
    hits: np.ndarray  #: (n,) bool, true positive
    truth: int  #: ground-truth boxes

    @classmethod
    def pooled(cls, tables: list[ClassTable]) -> ClassTable:
        return cls(
            np.concatenate([t.scores for t in tables]) if tables else np.zeros(0),
            np.concatenate([t.hits for t in tables]) if tables else np.zeros(0, bool),
            sum(t.truth for t in tables),
        )

    def counts(self, grid: np.ndarray = GRID) -> tuple[np.ndarray, np.ndarray]:
        """(true positives, detections) kept at each threshold of ``grid`` (score ≥ t)."""
        order = np.argsort(self.scores)
        scores, hits = self.scores[order], self.hits[order].astype(np.int64)
        below = np.searchsorted(scores, grid, side="left")  # detections scoring < t
        tp_from = np.concatenate([np.cumsum(hits[::-1])[::-1], [0]])  # hits at index ≥ k
        return tp_from[below], len(scores) - below


@dataclass
class Choice:
    thresholds: dict[str, float]  #: group (class name or SHARED) -> threshold
    tp: int
    detections: int
    truth: int
    used: frozenset[str] = frozenset()  #: groups with detections or ground truth

    @property
    def precision(self) -> float:
        return self.tp / self.detections if self.detections else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.truth if self.truth else 0.0

    @property
    def f1(self) -> float:
        return self.f_beta(1.0)

    def f_beta(self, beta: float) -> float:
        b2 = beta**2
        return (1 + b2) * self.tp / (self.detections + b2 * self.truth) if self.truth else 0.0


def groups(tables: dict[str, ClassTable], min_truth: int) -> dict[str, ClassTable]:
    """Classes with ≥ ``min_truth`` ground-truth boxes alone, the others pooled as SHARED
    (present, possibly empty, so the shared threshold is always chosen)."""
    own = {c: t for c, t in tables.items() if t.truth >= min_truth}
    rest = [t for c, t in tables.items() if c not in own]
    return {**own, SHARED: ClassTable.pooled(rest)}


def choose_thresholds(
    tables: dict[str, ClassTable], grid: np.ndarray = GRID, beta: float = 1.0
) -> Choice:
    """The thresholds (one per table, from ``grid``) that maximise the pooled F_β
    (= (1 + β²)·TP / (D + β²·G); β = 1: F1, β > 1 weighs recall more)."""
    names = list(tables)
    counts = [tables[n].counts(grid) for n in names]
    truth = sum(t.truth for t in tables.values())
    ratio, best = 0.0, None
    while True:
        picks = []
        for tp, det in counts:
            gain = (1 + beta**2) * tp - ratio * det
            picks.append(int(np.flatnonzero(gain >= gain.max() - 1e-9)[-1]))  # ties: higher t
        tp_sum = sum(int(c[0][k]) for c, k in zip(counts, picks, strict=True))
        det_sum = sum(int(c[1][k]) for c, k in zip(counts, picks, strict=True))
        choice = Choice(
            {n: float(grid[k]) for n, k in zip(names, picks, strict=True)},
            tp_sum,
            det_sum,
            truth,
            frozenset(n for n in names if tables[n].truth or len(tables[n].scores)),
        )
        if best is not None and choice.f_beta(beta) <= best.f_beta(beta) + 1e-12:
            return best
        best, ratio = choice, choice.f_beta(beta)


def uniform_choice(
    tables: dict[str, ClassTable], grid: np.ndarray = GRID, beta: float = 1.0
) -> Choice:
    """The one threshold for every class that maximises F_β (what per-class ones improve on)."""
    return choose_thresholds({SHARED: ClassTable.pooled(list(tables.values()))}, grid, beta)


def evaluate(tables: dict[str, ClassTable], threshold: dict[str, float], default: float) -> Choice:
    """TP / detections / truth of ``tables`` at per-class thresholds (others: ``default``)."""
    tp = det = 0
    for name, table in tables.items():
        t = threshold.get(name, default)
        kept = table.scores >= t
        tp += int((kept & table.hits).sum())
        det += int(kept.sum())
    return Choice(dict(threshold), tp, det, sum(t.truth for t in tables.values()))


def choose_for_recall(
    tables: dict[str, ClassTable], min_recall: float, grid: np.ndarray = GRID
) -> Choice | None:
    """The thresholds (one per table, from ``grid``) with the highest pooled precision whose
    pooled recall is at least ``min_recall``; None when no thresholds reach it."""
    names = list(tables)
    counts = [tables[n].counts(grid) for n in names]
    truth = sum(t.truth for t in tables.values())
    top = sum(int(tp.max(initial=0)) for tp, _ in counts)
    unreachable = np.iinfo(np.int64).max // 4
    fewest = np.full(top + 1, unreachable, np.int64)  # fewest detections reaching tp exactly
    fewest[0] = 0
    picks: list[np.ndarray] = []  # per table: the grid index used to reach each tp
    for tp, det in counts:
        best = np.full(top + 1, unreachable, np.int64)
        pick = np.zeros(top + 1, np.int64)
        for k in range(len(grid) - 1, -1, -1):  # higher thresholds first: they win ties
            shifted = np.full(top + 1, unreachable, np.int64)
            shifted[int(tp[k]) :] = fewest[: top + 1 - int(tp[k])] + int(det[k])
            better = shifted < best
            best[better], pick[better] = shifted[better], k
        fewest = best
        picks.append(pick)
    need = int(np.ceil(min_recall * truth - 1e-9))
    reach = [t for t in range(max(need, 0), top + 1) if fewest[t] < unreachable]
    if not reach or truth == 0:
        return None
    # highest precision; ties: more true positives
    tp_total = max(reach, key=lambda t: (t / fewest[t] if fewest[t] else 0.0, t))
    chosen, rest = {}, tp_total
    for name, (tp, _), pick in reversed(list(zip(names, counts, picks, strict=True))):
        k = int(pick[rest])
        chosen[name] = float(grid[k])
        rest -= int(tp[k])
    thresholds = {n: chosen[n] for n in names}
    return Choice(
        thresholds,
        tp_total,
        int(fewest[tp_total]),
        truth,
        frozenset(n for n in names if tables[n].truth or len(tables[n].scores)),
    )
