"""The pixel teacher's weights file (kind ``teacher``, ``polc-teacher-1``): SmallResNet
weights (fp32 from training, fp16 once shipped), its stage widths and class names.

The shipped ``teacher.pt`` predates the tag; ``load_weights`` reads it as ``polc-teacher-1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polc.shared.models.vision.backbone import SmallResNet
from polc.shared.models.weights_file import load_weights, save_weights


def save_teacher(path: Path, model: SmallResNet, classes: list[str], **extra: Any) -> None:
    save_weights(
        path,
        "teacher",
        {
            "state_dict": model.state_dict(),
            "widths": list(model.widths),
            "classes": list(classes),
            **extra,
        },
    )


def load_teacher(path: Path, device: str = "cpu") -> SmallResNet:
    """The teacher in eval mode on ``device``, its class names in ``.classes``."""
    state = load_weights(path, "teacher")
    model = SmallResNet(len(state["classes"]), tuple(state["widths"]))
    model.load_state_dict({k: v.float() for k, v in state["state_dict"].items()})
    model.classes = list(state["classes"])
    return model.to(device).eval()
