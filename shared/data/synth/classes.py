"""The nine object classes of the synthetic traffic-camera world.

The class index of an object is its position in :data:`CLASSES`; COCO category ids are
``index + 1``. Several classes are deliberately close: taxi and police are cars with small
roof / door details, van vs car differ in body shape, truck vs bus in windows vs cargo box
and wheel count, motorcycle vs bicycle in solid wheels + engine vs thin spokes.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "car",
    "taxi",
    "police",
    "van",
    "bus",
    "truck",
    "motorcycle",
    "bicycle",
    "person",
)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

#: Classes that drive in road lanes; the others use sidewalks / the kerb-side lane.
VEHICLES: frozenset[str] = frozenset({"car", "taxi", "police", "van", "bus", "truck"})

#: Relative frequency of each class in full scenes and videos (cars are the most common,
#: but every class must show up regularly so detection training sees all of them).
SCENE_WEIGHTS: dict[str, float] = {
    "car": 0.20,
    "taxi": 0.09,
    "police": 0.08,
    "van": 0.11,
    "bus": 0.07,
    "truck": 0.09,
    "motorcycle": 0.10,
    "bicycle": 0.10,
    "person": 0.16,
}


def category_id(name: str) -> int:
    """COCO category id (1-based) of a class name."""
    return CLASS_INDEX[name] + 1


def coco_categories() -> list[dict[str, object]]:
    """The ``categories`` list of a COCO annotation file."""
    return [
        {"id": i + 1, "name": name, "supercategory": "vehicle" if name != "person" else "person"}
        for i, name in enumerate(CLASSES)
    ]
