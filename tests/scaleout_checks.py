"""Acceptance checks of a scale-out run (polc.bench.scaleout_cluster): every frame of every
edge stored exactly once, each with an analyzer result, each row's layer byte-identical
when read back from the blob directory."""

from __future__ import annotations

from pathlib import Path

from polc.bench.scaleout_cluster import ClusterRun


def verify_store(dsn: str, blobs: Path, cameras: list[str], n: int, frames: list[bytes]) -> dict:
    """Row, lost, duplicated, unexpected, without-result and corrupt-layer counts."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT camera_id, seq, result_json IS NOT NULL, base_segment, base_offset, "
            "base_bytes FROM frames WHERE camera_id = ANY(%s)",
            (cameras,),
        ).fetchall()
    per: dict[tuple[str, int], int] = {}
    missing_result, corrupt = 0, 0
    for cam, seq, has_result, seg, off, length in rows:
        per[(cam, seq)] = per.get((cam, seq), 0) + 1
        missing_result += not has_result
        with open(blobs / "segments" / seg, "rb") as f:
            f.seek(off)
            corrupt += f.read(length) != frames[seq % len(frames)]
    expected = {(c, s) for c in cameras for s in range(n)}
    return {
        "rows": len(rows),
        "expected": len(expected),
        "lost": len(expected - per.keys()),
        "duplicated": sum(c - 1 for c in per.values() if c > 1),
        "unexpected": len(per.keys() - expected),
        "without_result": missing_result,
        "corrupt_layers": corrupt,
    }


def store_check(run: ClusterRun) -> dict:
    """:func:`verify_store` of a run, as ``store_*`` fields, and ``ok``: nothing lost,
    duplicated, unexpected, without result or corrupt, and every expected row there."""
    check = verify_store(run.dsn, run.blobs, run.cameras, run.args.frames, run.frames)
    ok = (
        check["lost"] == 0
        and check["duplicated"] == 0
        and check["unexpected"] == 0
        and check["without_result"] == 0
        and check["corrupt_layers"] == 0
        and check["rows"] == check["expected"]
    )
    return {**{f"store_{k}": v for k, v in check.items()}, "ok": ok}
