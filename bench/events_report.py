"""What ``polc bench events`` shows: the printed table (MOT metrics and coverage per clip and
overall, coverage per class) and a timeline plot per clip (ground-truth tracks against the
events that cover them)."""

from __future__ import annotations

from pathlib import Path


def _thresholds(setup: dict) -> str:
    point = setup["operating_point"]
    scores = [point["min_score"], *point["per_class"].values()]
    nms = "" if point["nms_iou"] is None else f", NMS {point['nms_iou']:g}"
    return f"scores ≥ {min(scores):g}–{max(scores):g} per class{nms}"


def report(result: dict) -> None:
    setup, ev = result["setup"], result["event_settings"]
    width, height = setup["size"]
    coding = "intra" if setup["gop"] is None else f"GOP {setup['gop']} (key + P-frames)"
    print(
        f"\n{len(setup['seeds'])} held-out clips (seeds {setup['seeds']}) × "
        f"{setup['frames']} frames, {width}×{height} at {setup['fps']:g} fps, α={setup['alpha']:g},"
        f" {coding}; detections at the adapter's operating point ({_thresholds(setup)}), "
        "events from "
        f"detections ≥ {ev['min_score']:g} seen in {ev['min_hits']} frames; tracks eligible "
        f"from {result['coverage']['min_frames']} frames (1 s)"
    )
    head = (
        f"{'clip':<8} {'MOTA':>6} {'IDF1':>6} {'IDsw':>5} {'prec':>6} {'recall':>6} "
        f"{'GT boxes':>8} {'events':>6} {'tracks ≥1s':>10} {'covered':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, mot in result["mot"].items():
        cov = result["coverage_per_clip"][name]
        covered = "-" if cov["fraction"] is None else f"{cov['fraction']:.3f}"
        print(
            f"{name:<8} {mot['mota']:6.3f} {mot['idf1']:6.3f} {mot['num_switches']:5.0f} "
            f"{mot['precision']:6.3f} {mot['recall']:6.3f} {mot['num_objects']:8.0f} "
            f"{result['events'][name]:6d} {cov['tracks']:10d} {covered:>8}"
        )
    print("coverage per class (eligible tracks with an overlapping event of their class):")
    for label, cov in result["coverage"]["per_class"].items():
        print(f"  {label:<11} {cov['covered']:3d} / {cov['tracks']:3d}  {cov['fraction']:.3f}")


def write_plot(result: dict, path: Path) -> None:
    """Per clip, one row per ground-truth track (frames it is annotated in; red when an
    eligible track has no covering event) and its covering events as thin bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracks = result["coverage"]["tracks"]
    clips = list(result["mot"])[:-1]  # the last row is "OVERALL"
    events = {(e["clip"], e["id"]): e for e in result["event_list"]}
    fig, axes = plt.subplots(
        len(clips), 1, figsize=(8, 1.2 + 0.22 * max(len(tracks), 1)), squeeze=False
    )
    for ax, clip in zip(axes[:, 0], clips, strict=True):
        rows = [t for t in tracks if t["clip"] == clip]
        for y, t in enumerate(rows):
            colour = "0.7" if not t["eligible"] else "tab:green" if t["covered"] else "tab:red"
            ax.plot([t["first_frame"], t["last_frame"]], [y, y], color=colour, lw=6)
            for event_id in t["events"]:
                e = events[(clip, event_id)]
                ax.plot([e["start_seq"], e["end_seq"]], [y, y], color="tab:blue", lw=1.5)
        ax.set_yticks(range(len(rows)), [f"{t['class']} #{t['track_id']}" for t in rows])
        ax.tick_params(axis="y", labelsize=6)
        ax.set_xlim(0, result["setup"]["frames"] - 1)
        ax.set_title(
            f"{clip}: ground-truth tracks (green covered, red not, grey < 1 s) "
            "and covering events (blue)",
            fontsize=8,
        )
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
