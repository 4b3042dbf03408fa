"""Which sampler and drawer each object class uses (class name -> ``sample``, ``draw``).

The class modules only draw; this module imports them (they never import it back), so the
sprite renderer and the scene reach every class through one table.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import cars, large_vehicles, people, props, twowheelers
from .pen import Pen
from .spec import Spec

DrawFn = Callable[[Pen, Spec, float], None]
SampleFn = Callable[[np.random.Generator, str], Spec]

CATALOGUE: dict[str, tuple[SampleFn, DrawFn]] = {
    "car": (cars.sample_car, cars.draw_car),
    "taxi": (cars.sample_car, cars.draw_car),
    "police": (cars.sample_car, cars.draw_car),
    "van": (large_vehicles.sample_van, large_vehicles.draw_van),
    "bus": (large_vehicles.sample_bus, large_vehicles.draw_bus),
    "truck": (large_vehicles.sample_truck, large_vehicles.draw_truck),
    "person": (people.sample_person, people.draw_person),
    "motorcycle": (twowheelers.sample_motorcycle, twowheelers.draw_motorcycle),
    "bicycle": (twowheelers.sample_bicycle, twowheelers.draw_bicycle),
    **{name: (props.sample_prop, props.draw_prop) for name in props.PROPS},
}


def draw_spec(pen: Pen, spec: Spec, phase: float = 0.0) -> None:
    """Draw ``spec`` with an existing pen (e.g. straight onto a backdrop canvas)."""
    CATALOGUE[spec.name][1](pen, spec, phase)


def sample_spec(rng: np.random.Generator, name: str) -> Spec:
    """Sample the appearance of an object of class ``name``."""
    return CATALOGUE[name][0](rng, name)
