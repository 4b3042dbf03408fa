"""What ``polc bench video`` shows: the printed table (one row per method and point, then the
BD-rates) and the rate–mAP@0.5 plot (one curve per method, log bpp, kbit/s on the top axis)."""

from __future__ import annotations

from pathlib import Path

LABELS = {
    "original": "original",
    "polc_intra": "polc intra",
    "polc_temporal": "polc temporal",
    "x264": "x264",
    "x265": "x265",
    "polc_oracle_objects": "polc oracle: objects",
}


_TEMPORAL = ("polc_temporal", "polc_skip_", "polc_oracle")  # curves with I and P frames


def label(name: str) -> str:
    """The printed name of a method (skip-mode curves: ``polc skip τ=…``)."""
    if name.startswith("polc_skip_"):
        tau, _, gate = name.removeprefix("polc_skip_").partition("_gate_")
        return f"polc skip τ={tau}" + (f" gate {gate}" if gate else "")
    return LABELS[name]


def _cell(value: float | None, fmt: str) -> str:
    width = fmt.split(".")[0]
    return format("-", f">{width}") if value is None else format(value, fmt)


def report(result: dict) -> None:
    setup, machine = result["setup"], result["machine"]
    width, height = setup["size"]
    print(
        f"\n{len(setup['seeds'])} held-out clips (seeds {setup['seeds']}) × "
        f"{setup['frames_per_clip']} frames, {width}×{height} at {setup['fps']:g} fps, "
        f"GOP {setup['gop']}; {machine['cpu_count']} CPUs, {setup['threads']} thread(s)"
    )
    head = (
        f"{'method':<22} {'point':>8} {'bpp':>7} {'kbit/s':>8} {'mAP50':>6} {'mAP':>6} "
        f"{'enc ms':>7} {'dec ms':>7} {'det ms':>7} {'I bpp':>6} {'P bpp':>6}"
    )
    print(head)
    print("-" * len(head))
    for name, method in result["methods"].items():
        if not method["available"]:
            print(f"{label(name):<22} not available: {method['reason']}")
            continue
        for p in method["points"]:
            point = (
                f"α={p['alpha']:g}" if "alpha" in p else f"crf={p['crf']}" if "crf" in p else "-"
            )
            print(
                f"{label(name):<22} {point:>8} {p['bpp']:7.3f} {p['kbps']:8.1f} "
                f"{p['map50']:6.3f} {p['map']:6.3f} {_cell(p['encode_ms'], '7.1f')} "
                f"{_cell(p['decode_ms'], '7.1f')} {p['detect_ms']:7.1f} "
                f"{_cell(p.get('bpp_i') if name.startswith(_TEMPORAL) else None, '6.3f')} "
                f"{_cell(p.get('bpp_p') if name.startswith(_TEMPORAL) else None, '6.3f')}"
            )
    print("BD-rate at equal mAP@0.5 (negative: polc needs fewer bits):")
    for key, bd in result["bd_rate"].items():
        if bd["percent"] is None:
            print(f"  {key}: {bd['note']}")
        else:
            lo, hi = bd["overlap_map50"]
            print(f"  {key}: {bd['percent']:+.1f} % over mAP@0.5 {lo:.3f}–{hi:.3f}")


def write_plot(methods: dict[str, dict], setup: dict, path: Path) -> None:
    """One rate–mAP@0.5 curve per method, log bpp (kbit/s on the top axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width, height = setup["size"]
    kbps_per_bpp = width * height * setup["fps"] / 1e3
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    styles = {"polc_intra": "o-", "polc_temporal": "D-", "x264": "s--", "x265": "^--"}
    styles.update({n: "v-" for n in methods if n.startswith("polc_skip_")})
    styles.update({n: "P-" for n in methods if n.startswith("polc_skip_") and "_gate_" in n})
    styles["polc_oracle_objects"] = "*:"
    for name, style in styles.items():
        method = methods.get(name, {})
        if method.get("available"):
            points = sorted(method["points"], key=lambda p: p["bpp"])
            ax.plot(
                [p["bpp"] for p in points], [p["map50"] for p in points], style, label=label(name)
            )
    ax.axhline(
        methods["original"]["points"][0]["map50"], color="gray", lw=0.8, label="original frames"
    )
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("mAP@0.5")
    top = ax.secondary_xaxis(
        "top", functions=(lambda b: b * kbps_per_bpp, lambda k: k / kbps_per_bpp)
    )
    top.set_xlabel(f"kbit/s at {setup['fps']:g} fps, {width}×{height}")
    ax.set_title("Fixed-camera video: detection accuracy vs rate", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
