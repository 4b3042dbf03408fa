"""Training curves of a run, in ``RUN_DIR/curves/``: CSV files and a PNG plot.

    <name>_train.csv   step, loss, lr                 one row per optimiser step
    <name>_eval.csv    step, train_loss, <metrics>    one row per evaluation (bpp, PSNR,
                                                      top-1, mAP, ... as the trainer reports)
    <name>.png         the training loss and every evaluation metric against the step

``<name>`` is the checkpoint's (``adapter_cls``, ``stage1``, ...). Rows written after the
checkpoint a run resumes from are dropped, so a resumed run continues the curve instead of
repeating steps. Only rank 0 of a multi-process run writes (see ``training/loop.py``).
matplotlib (installed with the training extras) draws the plot; without it only the CSVs
are written.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)


def _read_rows(path: Path, until_step: int) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [row for row in csv.DictReader(fh) if int(row["step"]) <= until_step]


def _write_rows(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


class CurveLog:
    """The curves of one training run named ``name`` under ``folder``, resumed at ``step``."""

    def __init__(self, folder: Path, name: str, step: int = 0):
        folder.mkdir(parents=True, exist_ok=True)
        self.train_csv = folder / f"{name}_train.csv"
        self.eval_csv = folder / f"{name}_eval.csv"
        self.png = folder / f"{name}.png"
        self.train_rows: list[dict] = _read_rows(self.train_csv, step)
        self.eval_rows: list[dict] = _read_rows(self.eval_csv, step)
        if self.train_rows:
            _write_rows(self.train_csv, self.train_rows)
        else:
            self.train_csv.unlink(missing_ok=True)
        self._since_eval: list[float] = []

    def add_train(self, step: int, loss: float, lr: float) -> None:
        row = {"step": step, "loss": f"{loss:.6g}", "lr": f"{lr:.6g}"}
        self.train_rows.append(row)
        self._since_eval.append(loss)
        new = not self.train_csv.is_file()
        with open(self.train_csv, "a", newline="") as fh:
            writer = csv.DictWriter(fh, list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def add_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        """One evaluation: its metrics and the mean training loss since the last one."""
        train_loss = sum(self._since_eval) / len(self._since_eval) if self._since_eval else None
        self._since_eval = []
        row: dict = {"step": step}
        if train_loss is not None:
            row["train_loss"] = f"{train_loss:.6g}"
        row.update({k: f"{float(v):.6g}" for k, v in metrics.items()})
        self.eval_rows.append(row)
        _write_rows(self.eval_csv, self.eval_rows)
        self.plot()

    def plot(self) -> None:
        """Redraw the PNG: training loss, then one panel per evaluation metric."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:  # optional: the CSVs are the record
            log.debug("matplotlib not installed: no %s", self.png)
            return
        metrics = [k for row in self.eval_rows for k in row if k not in ("step", "train_loss")]
        metrics = list(dict.fromkeys(metrics))
        fig, axes = plt.subplots(1 + len(metrics), 1, figsize=(7, 2.4 * (1 + len(metrics))))
        axes = [axes] if not metrics else list(axes)
        steps = [int(r["step"]) for r in self.train_rows if r.get("loss")]
        axes[0].plot(steps, [float(r["loss"]) for r in self.train_rows if r.get("loss")], lw=0.6)
        axes[0].set_ylabel("train loss")
        for ax, key in zip(axes[1:], metrics, strict=True):
            points = [(int(r["step"]), float(r[key])) for r in self.eval_rows if r.get(key)]
            ax.plot([s for s, _ in points], [v for _, v in points], marker="o")
            ax.set_ylabel(key)
        axes[-1].set_xlabel("step")
        fig.tight_layout()
        fig.savefig(self.png, dpi=80)
        plt.close(fig)
