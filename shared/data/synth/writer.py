"""Write synthetic datasets to disk (in parallel) and cache them.

Every item is rendered from ``numpy.random.default_rng([seed, tag, index])`` (video frames
from the per-seed world), so the bytes written do not depend on the number of workers.
"""

from __future__ import annotations

import functools
import json
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from PIL import Image
from tqdm import tqdm

from polc.shared.errors import DatasetError

from .classes import CLASSES, coco_categories
from .scene import render_cls_crop, render_scene
from .video import VideoWorld

#: bump whenever the generator's output changes: cached datasets are then regenerated
GENERATOR_VERSION = "synth-3"
TASKS = ("cls", "det", "video")
DEFAULT_SIZES: dict[str, tuple[int, int]] = {
    "cls": (128, 128),
    "det": (512, 288),
    "video": (512, 288),
}
PNG_LEVEL = 1  # fast PNG compression: writing is part of the generation budget


def _save_png(array, path: Path) -> None:
    Image.fromarray(array).save(path, format="PNG", compress_level=PNG_LEVEL)


def _cls_job(index: int, seed: int, size: tuple[int, int], out: str) -> None:
    img, label = render_cls_crop(seed, index, size)
    _save_png(img, Path(out) / CLASSES[label] / f"{index:06d}.png")


def _det_job(index: int, seed: int, size: tuple[int, int], out: str) -> list[dict]:
    img, anns = render_scene(seed, index, size)
    _save_png(img, Path(out) / "images" / f"{index:06d}.png")
    return anns


_WORLDS: dict[tuple[int, tuple[int, int]], VideoWorld] = {}


def _video_job(index: int, seed: int, size: tuple[int, int], out: str) -> list[dict]:
    key = (seed, size)
    if key not in _WORLDS:  # one world per worker process: backdrop rendered once
        _WORLDS.clear()
        _WORLDS[key] = VideoWorld(seed, size)
    world = _WORLDS[key]
    img, anns = world.render_frame(index)
    _save_png(img, Path(out) / "frames" / f"{index:06d}.png")
    return anns


def default_workers() -> int:
    """min(2, cpu count): generation shares the machine with training."""
    return max(1, min(2, os.cpu_count() or 1))


_Result = TypeVar("_Result")


def _run(
    job: Callable[[int], _Result], n: int, workers: int, desc: str, progress: bool
) -> list[_Result]:
    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress, leave=False)
    results: list[_Result] = []
    try:
        if workers <= 1 or n < 8:
            for i in range(n):
                results.append(job(i))
                bar.update()
            return results
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        chunk = max(1, min(64, n // (workers * 8)))
        with mp.get_context(method).Pool(workers) as pool:
            it: Iterable[_Result] = pool.imap(job, range(n), chunksize=chunk)
            for r in it:
                results.append(r)
                bar.update()
        return results
    finally:
        bar.close()


def _coco(task: str, n: int, seed: int, size: tuple[int, int], per_image: list[list[dict]]) -> dict:
    images: list[dict] = []
    annotations: list[dict] = []
    for i, anns in enumerate(per_image):
        image = {"id": i + 1, "file_name": f"{i:06d}.png", "width": size[0], "height": size[1]}
        if task == "video":
            image["frame_index"] = i
        images.append(image)
        for a in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, **a})
    return {
        "info": {
            "description": f"polc synthetic traffic-camera {task} data",
            "version": GENERATOR_VERSION,
            "seed": seed,
            "n": n,
            "task": task,
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(),
    }


def _check(task: str, n: int, size: tuple[int, int] | None) -> tuple[int, int]:
    if task not in TASKS:
        raise DatasetError(f"unknown synthetic task {task!r} (expected one of {TASKS})")
    if n < 1:
        raise DatasetError(f"number of items must be >= 1, got {n}")
    sides = tuple(size) if size is not None else DEFAULT_SIZES[task]
    if len(sides) != 2 or min(sides) < 16 or max(sides) > 8192:
        raise DatasetError(f"image size must be two sides in 16..8192, got {sides}")
    return int(sides[0]), int(sides[1])


def write_dataset(
    task: str,
    n: int,
    seed: int,
    out: str | os.PathLike,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Render ``n`` items of ``task`` ("cls", "det" or "video") into ``out``.

    Layouts: ``cls`` -> ``out/<class>/<index:06d>.png`` (ImageFolder); ``det`` ->
    ``out/images/*.png`` + ``out/annotations.json``; ``video`` -> ``out/frames/*.png`` +
    ``out/annotations.json`` (COCO with ``frame_index`` and ``track_id``). ``size`` is
    (width, height). Returns ``out``.
    """
    w, h = _check(task, n, size)
    out = Path(out)
    workers = default_workers() if workers is None else max(1, int(workers))
    if task == "cls":
        for name in CLASSES:
            (out / name).mkdir(parents=True, exist_ok=True)
        cls_job = functools.partial(_cls_job, seed=seed, size=(w, h), out=str(out))
        _run(cls_job, n, workers, "synth cls", progress)
        return out
    sub = "images" if task == "det" else "frames"
    (out / sub).mkdir(parents=True, exist_ok=True)
    fn = _det_job if task == "det" else _video_job
    job = functools.partial(fn, seed=seed, size=(w, h), out=str(out))
    per_image = _run(job, n, workers, f"synth {task}", progress)
    coco = _coco(task, n, seed, (w, h), per_image)
    tmp = out / "annotations.json.tmp"
    tmp.write_text(json.dumps(coco, separators=(",", ":")))
    os.replace(tmp, out / "annotations.json")
    return out


def cache_root() -> Path:
    """``$POLC_CACHE/data`` (default ``~/.cache/polc/data``)."""
    base = os.environ.get("POLC_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "polc") / "data"


def ensure_synthetic(
    task: str,
    n: int,
    seed: int,
    size: tuple[int, int] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Return the cached dataset directory, generating it first if it is not complete.

    The directory is ``<cache_root()>/<task>-n<N>-s<seed>-<W>x<H>``; it is generated in a
    temporary sibling whose ``.complete`` marker (holding :data:`GENERATOR_VERSION`) is
    written last, then renamed into place, so an interrupted run is simply redone.
    """
    w, h = _check(task, n, size)
    final = cache_root() / f"{task}-n{n}-s{seed}-{w}x{h}"
    marker = final / ".complete"
    if marker.is_file() and marker.read_text().strip() == GENERATOR_VERSION:
        return final
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_dataset(task, n, seed, tmp, (w, h), workers=workers, progress=progress)
    (tmp / ".complete").write_text(GENERATOR_VERSION + "\n")
    if final.exists():
        if marker.is_file() and marker.read_text().strip() == GENERATOR_VERSION:
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
            return final
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final
