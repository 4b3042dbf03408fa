"""The one weights-file format: tagged files, weights_only loading, pickled objects refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.teacher import TEACHER_WIDTHS, small_teacher_model

from polc.shared.codec.weights import read_codec_file, to_numpy, to_tensors
from polc.shared.errors import ModelError
from polc.shared.models.adapters.adapter_file import AdapterFile
from polc.shared.models.vision.detector_file import load_detector
from polc.shared.models.vision.teacher_file import load_teacher, save_teacher
from polc.shared.models.weights_file import (
    FORMATS,
    WEIGHTS_DIR,
    load_weights,
    save_weights,
)
from polc.training.checkpoint import load_if_exists


class Payload:
    """Any Python object: unpickling one would import and run code named by the file."""

    def __init__(self) -> None:
        self.note = "not a tensor"


LOADERS = {
    "codec": read_codec_file,
    "teacher": load_teacher,
    "detector": load_detector,
    "adapter_cls": AdapterFile.read,
    "adapter_det": AdapterFile.read,
    "checkpoint": load_if_exists,
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_file_carrying_a_pickled_object_is_refused(tmp_path: Path, kind: str):
    path = tmp_path / f"{kind}.pt"
    torch.save(
        {
            "format": FORMATS.get(kind, "checkpoint"),
            "state_dict": {},
            "classes": ["c"],
            "widths": [8, 8, 8, 8],
            "extra": Payload(),
        },
        path,
    )
    with pytest.raises(ModelError, match="non-tensor pickled objects") as info:
        LOADERS[kind](path)
    assert str(path) in str(info.value)


def test_save_weights_tags_and_load_weights_checks_the_kind(tmp_path: Path):
    path = tmp_path / "w.pt"
    save_weights(path, "detector", {"state_dict": {"w": torch.ones(2, dtype=torch.float16)}})
    state = load_weights(path, "detector")
    assert state["format"] == "polc-detector-1"
    assert state["state_dict"]["w"].dtype == torch.float16
    with pytest.raises(ModelError, match="not a polc-teacher-1 weights file"):
        load_weights(path, "teacher")
    with pytest.raises(ModelError, match="weights not found"):
        load_weights(tmp_path / "missing.pt", "codec")
    with pytest.raises(ValueError):
        save_weights(path, "codec", {"format": "polc-detector-1"})


def test_teacher_round_trip_and_untagged_legacy_teacher(tmp_path: Path):
    model = small_teacher_model(num_classes=3, seed=0)
    save_teacher(tmp_path / "t.pt", model, ["a", "b", "c"])
    assert torch.load(tmp_path / "t.pt", weights_only=True)["format"] == "polc-teacher-1"
    torch.save(
        {"state_dict": model.state_dict(), "widths": TEACHER_WIDTHS, "classes": ["a", "b", "c"]},
        tmp_path / "legacy.pt",
    )  # before the tag
    x = torch.rand(1, 3, 64, 64)
    for name in ("t.pt", "legacy.pt"):
        loaded = load_teacher(tmp_path / name)
        assert loaded.classes == ["a", "b", "c"]
        torch.testing.assert_close(loaded(x), model(x))


def test_every_shipped_file_loads_as_its_kind():
    for name, kind in (
        ("codec.pt", "codec"),
        ("teacher.pt", "teacher"),
        ("detector.pt", "detector"),
        ("adapter_cls.pt", "adapter_cls"),
        ("adapter_det.pt", "adapter_det"),
    ):
        assert load_weights(WEIGHTS_DIR / name, kind)["format"] == FORMATS[kind]


def test_integer_wire_arrays_are_stored_narrow_and_read_back_as_int32(tmp_path: Path) -> None:
    """int64 wire arrays ship as int16 when they fit, else int32; readers always get int32."""
    small = np.array([[-(2**15) + 1, 0, 2**15 - 1]], np.int64)
    large = np.array([-(2**20), 2**20], np.int64)
    stored = to_tensors({"w": small, "b": large, "tag": b"\x01\xff"})
    assert (stored["w"].dtype, stored["b"].dtype) == (torch.int16, torch.int32)
    torch.save(stored, tmp_path / "wire.pt")
    back = to_numpy(torch.load(tmp_path / "wire.pt", weights_only=True))
    assert back["w"].dtype == np.int32 and np.array_equal(back["w"], small)
    assert back["b"].dtype == np.int32 and np.array_equal(back["b"], large)
    assert back["tag"].dtype == np.uint8 and back["tag"].tobytes() == b"\x01\xff"
