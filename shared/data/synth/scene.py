"""Single images: object-centred classification crops and full detection scenes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backdrop import render_backdrop
from .catalogue import sample_spec
from .classes import CLASS_INDEX, CLASSES, category_id
from .compose import Canvas, keep_annotation
from .geometry import StreetCamera, StreetLayout, sample_layout, scene_camera
from .lighting import apply_look, sample_look
from .placement import Pose, choose_lane, sample_class, sample_pose
from .props import OCCLUDERS
from .sensor import apply_sensor, sample_sensor
from .spec import Spec
from .sprites import render_sprite

#: stream tags mixed into the RNG seed so products never share random numbers
TAG_CLS, TAG_DET, TAG_VIDEO = 101, 202, 303


@dataclass
class Item:
    """One object or prop to paste: spec, pose, depth and image column of its anchor."""

    spec: Spec
    pose: Pose
    depth: float
    u: float
    obj_id: int = 0  #: 0 for props


def paste_items(canvas: Canvas, cam: StreetCamera, items: list[Item], shadow: float) -> None:
    """Cast shadows, then paste far-to-near (painter's algorithm)."""
    for it in items:
        if it.obj_id:
            s = cam.scale(it.depth)
            canvas.shadow(
                it.u,
                cam.ground_row(it.depth),
                0.5 * it.spec.length * it.pose.xscale * s,
                0.5 * s * cam.cam_height / it.depth * 1.5,
                shadow,
            )
    for it in sorted(items, key=lambda i: -i.depth):
        s = cam.scale(it.depth)
        if max(it.spec.length, it.spec.height) * s < 1.5:
            continue
        sp = render_sprite(
            it.spec,
            s,
            flip=it.pose.flip,
            angle=it.pose.angle,
            xscale=it.pose.xscale,
            phase=it.pose.phase,
        )
        canvas.paste(sp, it.u, cam.ground_row(it.depth), it.depth, it.obj_id)


def render_cls_crop(
    seed: int, index: int, size: tuple[int, int] = (128, 128)
) -> tuple[np.ndarray, int]:
    """Object-centred crop of class ``index % 9``; returns (H, W, 3) uint8 and class index.

    The object spans 40-90 % of the crop (largest side), sits on a matching street backdrop
    and may be truncated by the border or partially hidden by street furniture.
    """
    width, height = size
    rng = np.random.default_rng([seed, TAG_CLS, index])
    label = index % len(CLASSES)
    name = CLASSES[label]
    look = sample_look(rng)
    layout = sample_layout(rng)
    spec = sample_spec(rng, name)
    lane, depth = choose_lane(rng, name, layout)
    pose = sample_pose(rng, name, lane)
    occ = float(rng.uniform(0.4, 0.9))
    extent = max(spec.length * pose.xscale, spec.height)
    s = occ * min(width, height) / extent
    hp = spec.height * s
    v = hp + (height - hp) * float(rng.uniform(0.2, 0.85))
    u = width / 2 + float(rng.uniform(-0.12, 0.12)) * width
    if rng.random() < 0.15:  # truncated: 5-25 % of its length beyond the left / right border
        lp = spec.length * pose.xscale * s
        cut = float(rng.uniform(0.05, 0.25)) * lp
        u = width - lp / 2 + cut if rng.random() < 0.5 else lp / 2 - cut
    cam_h = float(rng.uniform(4.0, 11.0))
    cam = StreetCamera(
        focal=s * depth,
        cam_height=cam_h,
        horizon=v - cam_h * s,
        cx=u,
        x0=float(rng.uniform(-500, 500)),
    )
    backdrop = render_backdrop(cam, layout, width, height, rng, look)
    canvas = Canvas(backdrop)
    items = [Item(spec, pose, depth, u, obj_id=1)]
    # context: other objects farther away (never in front of the subject)
    for _ in range(int(rng.choice([0, 0, 1, 2]))):
        other = str(sample_class(rng))
        olane, odepth = choose_lane(rng, other, layout)
        if odepth < depth + 3.0:
            continue
        ospec = sample_spec(rng, other)
        ou = float(rng.uniform(-0.2, 1.2)) * width
        items.append(Item(ospec, sample_pose(rng, other, olane), odepth, ou, obj_id=2))
    paste_items(canvas, cam, items, look.shadow)
    # partial occluder in front of the subject; undone if it hides more than 40 % of it
    if rng.random() < 0.3:
        prop = str(rng.choice(OCCLUDERS))
        pdepth = max(cam.focal / (s * 4.0), depth - float(rng.uniform(1.0, 4.0)))
        lp = spec.length * pose.xscale * s
        pu = u + float(rng.uniform(-0.45, 0.45)) * lp
        saved = (
            canvas.rgb.copy(),
            canvas.label.copy(),
            canvas.depth.copy(),
            None if canvas.emission is None else canvas.emission.copy(),
        )
        paste_items(
            canvas,
            cam,
            [Item(sample_spec(rng, prop), sample_pose(rng, prop, None), pdepth, pu)],
            look.shadow,
        )
        vis = canvas.visibility()[0]
        if vis.visible < 0.6 * vis.in_image:
            canvas.rgb, canvas.label, canvas.depth, canvas.emission = saved
    lit = apply_look(canvas.rgb, canvas.depth, canvas.emission, look, backdrop.lamps)
    return apply_sensor(lit, look, sample_sensor(rng), rng), CLASS_INDEX[name]


def render_scene(
    seed: int, index: int, size: tuple[int, int] = (512, 288)
) -> tuple[np.ndarray, list[dict]]:
    """A full street scene with 3-12 objects.

    Returns the (H, W, 3) uint8 image and annotations ``{"bbox": [x, y, w, h],
    "category_id": 1..9, "area": visible pixels, "iscrowd": 0}`` (visible boxes only;
    tiny or mostly hidden objects are dropped).
    """
    width, height = size
    rng = np.random.default_rng([seed, TAG_DET, index])
    look = sample_look(rng)
    layout = sample_layout(rng)
    cam = scene_camera(rng, layout, width, height)
    backdrop = render_backdrop(cam, layout, width, height, rng, look)
    for _attempt in range(4):  # re-place if fewer than 3 objects ended up annotated
        items = place_objects(rng, cam, layout, width, int(rng.integers(3, 13)))
        items += place_props(rng, cam, layout, width)
        canvas = Canvas(backdrop)
        paste_items(canvas, cam, items, look.shadow)
        names = {it.obj_id: it.spec.name for it in items if it.obj_id}
        anns = []
        for vis in canvas.visibility():
            if keep_annotation(vis):
                assert vis.bbox is not None
                anns.append(
                    {
                        "bbox": [int(c) for c in vis.bbox],
                        "category_id": category_id(names[vis.obj_id]),
                        "area": float(vis.visible),
                        "iscrowd": 0,
                    }
                )
        if len(anns) >= 3:
            break
    lit = apply_look(canvas.rgb, canvas.depth, canvas.emission, look, backdrop.lamps)
    image = apply_sensor(lit, look, sample_sensor(rng, jpeg_p=0.3), rng)
    return image, anns


def place_objects(
    rng: np.random.Generator, cam: StreetCamera, layout: StreetLayout, width: int, n: int
) -> list[Item]:
    """Place ``n`` objects, avoiding large overlaps within the same lane."""
    items: list[Item] = []
    taken: dict[int, list[tuple[float, float]]] = {}
    for _ in range(n):
        name = sample_class(rng)
        spec = sample_spec(rng, name)
        lane, depth = choose_lane(rng, name, layout)
        pose = sample_pose(rng, name, lane)
        s = cam.scale(depth)
        half = 0.5 * spec.length * pose.xscale * s
        key = id(lane)
        for _try in range(8):
            u = float(rng.uniform(-0.6 * half, width + 0.6 * half))
            if all(u + half < a or u - half > b for a, b in taken.get(key, [])):
                break
        else:
            continue
        if name != "person":
            taken.setdefault(key, []).append((u - half, u + half))
        items.append(Item(spec, pose, depth, u, obj_id=len(items) + 1))
    return items


def place_props(
    rng: np.random.Generator, cam: StreetCamera, layout: StreetLayout, width: int
) -> list[Item]:
    """Street furniture on the near sidewalk (potential occluders)."""
    items = []
    d0, d1 = layout.near_walk
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):
        name = str(rng.choice(OCCLUDERS))
        depth = d1 - 0.4 if rng.random() < 0.7 else d0 + 0.5
        items.append(
            Item(
                sample_spec(rng, name),
                sample_pose(rng, name, None),
                depth,
                float(rng.uniform(0, width)),
            )
        )
    return items
