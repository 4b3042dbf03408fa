"""What `polc bench tasks` prints and draws: per task the side-by-side table (bpp and metric
of every method), the BD-rate, the gap to the pixel model, parameters and cost, and one
rate–accuracy plot, each labelled with the data and the models used."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib import pyplot as plt


def gap_to_pixel(curves: dict) -> list[dict]:
    """(b) − (a) per α: how far the adapter on ŷ is from the pixel model on x̂₁ at the same
    bits (positive = the adapter is behind)."""
    return [
        {"alpha": a["alpha"], "bpp": a["bpp"], "gap": b["metric"] - a["metric"]}
        for a, b in zip(curves["adapter_on_latent"], curves["pixel_on_x1"], strict=True)
    ]


def label(section: dict) -> str:
    """One line naming the data and the models of a task's results."""
    data, models = section["data"], section["models"]
    return (
        f"{data['source']} ({section['images']} images, {data['size']}); adapter "
        f"{Path(models['adapter']).name} ({models['adapter_model']}), pixel model "
        f"{Path(models['pixel_model']).name}, codec {Path(models['codec']).name}"
    )


def report_cls(c: dict, plot: Path) -> None:
    _plot(c, plot, "top-1 accuracy", "Classification: accuracy vs rate")
    _table(c, "classification", "method", {"top1": "metric"})
    _report_costs(c, "top-1", "points")


def report_det(det: dict, plot: Path) -> None:
    if "skipped" in det:
        print(f"detection skipped: {det['skipped']}")
        return
    _plot(det, plot, "mAP@0.5", "Detection: mAP@0.5 vs rate")
    _table(det, "detection", "detection", {"mAP50": "metric", "mAP": "metric_map"})
    _report_costs(det, "mAP@0.5", "mAP@0.5 points")


def _table(section: dict, task: str, first: str, columns: dict[str, str]) -> None:
    """What was measured, then a row per curve point: method, bpp and ``columns`` (heading
    -> row key)."""
    print(f"{task} on {label(section)}")
    print(f"{first:<22} {'bpp':>6}" + "".join(f" {head:>6}" for head in columns))
    for name, rows in section["curves"].items():
        for r in rows:
            values = "".join(f" {r[key]:6.3f}" for key in columns.values())
            print(f"{name:<22} {r['bpp']:6.3f}{values}")


def _report_costs(c: dict, metric: str, points: str) -> None:
    """The lines both tasks print under their curves: BD-rate, gap to (b), parameters, cost."""
    print(f"BD-rate adapter vs JPEG (equal {metric}): {c['bd_rate_vs_jpeg']:+.1f}%")
    print(
        f"gap to the pixel model on x̂₁ ({points}): "
        + ", ".join(f"α={g['alpha']:g} {100 * g['gap']:+.1f}" for g in c["gap_to_pixel_on_x1"])
    )
    full = c["full_finetune_params"]
    print(
        f"trainable params: adapter {c['adapter_trainable_params']:,} vs full fine-tune "
        f"{full:,} ({100 * c['adapter_trainable_params'] / full:.1f}%)"
    )
    print(
        f"FLOPs per frame: compressed domain {c['flops_compressed_domain'] / 1e6:.1f} M vs "
        f"decode + pixel {c['flops_decode_plus_pixel'] / 1e6:.1f} M; CPU "
        f"{c['cpu_ms_compressed_domain']:.1f} ms vs {c['cpu_ms_decode_plus_pixel']:.1f} ms"
    )


def _plot(section: dict, path: Path, ylabel: str, title: str) -> None:
    matplotlib.use("Agg")  # files only, no display
    curves = section["curves"]
    fig, ax = plt.subplots(figsize=(6, 4.6))
    styles = {
        "adapter_on_latent": "o-",
        "pixel_on_x1": "s--",
        "pixel_on_beta0": "^--",
        "pixel_on_jpeg": "k.:",
    }
    for name, style in styles.items():
        rows = curves[name]
        ax.plot([r["bpp"] for r in rows], [r["metric"] for r in rows], style, label=name)
    ax.axhline(
        curves["pixel_on_original"][0]["metric"], color="gray", lw=0.8, label="pixel_on_original"
    )
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel(ylabel)
    models = section["models"]
    ax.set_title(
        f"{title}\n{Path(section['data']['source']).name}: {Path(models['adapter']).name} "
        f"({models['adapter_model']}) vs {Path(models['pixel_model']).name}",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
