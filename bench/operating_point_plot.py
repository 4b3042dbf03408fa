"""The precision-recall plot of ``polc bench operating-point``: one panel per class (the
held-out boxes left by the chosen NMS, threshold swept), the chosen threshold marked."""

from __future__ import annotations

from pathlib import Path

from polc.bench.operating_point_choice import GRID, ClassTable
from polc.shared.models.adapters.operating_point import OperatingPoint


def write_plot(tables: dict[str, ClassTable], point: OperatingPoint, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    shown = [c for c, t in tables.items() if t.truth]
    cols = min(4, max(1, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, shown, strict=False):
        table = tables[name]
        tp, det = table.counts(GRID)
        precision = [t / d if d else 1.0 for t, d in zip(tp, det, strict=True)]
        recall = tp / table.truth
        ax.plot(recall, precision, "-", lw=1.2)
        k = int(abs(GRID - point.threshold(name)).argmin())
        ax.plot(recall[k], precision[k], "o", color="C3", label=f"t = {GRID[k]:.2f}")
        ax.set_title(f"{name} ({table.truth} boxes)", fontsize=9)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall", fontsize=8)
        ax.set_ylabel("precision", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    nms = "model's NMS" if point.nms_iou is None else f"NMS IoU {point.nms_iou:g}"
    nms += " across classes" if point.class_agnostic_nms else ""
    fig.suptitle(f"Held-out precision-recall per class ({nms})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
