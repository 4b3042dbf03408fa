"""The one weight-file format of polc: ``save_weights`` / ``load_weights``, and where the
shipped files are.

Every weights file is a ``torch.save`` of one dict of tensors and plain containers (dict,
list, tuple, str, int, float, bool, None), written atomically, tagged with its kind and
format version:

    kind          "format"               payload
    codec         polc-codec-1           arch, state_dict (fp16 learned weights), wire, meta
    teacher       polc-teacher-1         state_dict (fp16 when shipped), widths, classes, ...
    detector      polc-detector-1        state_dict (fp16), classes, widths, num_classes, ...
    adapter_cls   polc-adapter-cls-1     stem (fp16), stages, classes, stem sizes, fingerprint
    adapter_det   polc-adapter-det-1     (as adapter_cls)
    tv_adapter_cls  polc-tv-adapter-cls-1  a torchvision model's adapter: model name, classes,
    tv_adapter_det  polc-tv-adapter-det-1  stem and model weights (fp16), fed stage, fingerprint
    temporal      polc-temporal-2        arch, state_dict (fp16 h_t), [skip_state_dict (fp16
                                         h_k)], wire (integer h_t [and h_k], ẑ scale indexes,
                                         fingerprint), codec_fingerprint, meta
                                         (polc-temporal-1, without h_k, is still read)

Loading is always ``torch.load(..., weights_only=True)``: a file holding a pickled Python
object is refused with a :class:`ModelError` rather than unpickled (which would run its code
in a server process). Training checkpoints go through the same reader
(:func:`load_torch_file`).

Legacy: teacher files written before the tag existed (the shipped ``teacher.pt``) hold
``state_dict``, ``widths`` and ``classes`` and no ``"format"``; :func:`load_weights` reads
such an untagged file as ``polc-teacher-1`` (still with ``weights_only=True``).
"""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any, Literal

import torch

from polc.shared.durable import atomic_write
from polc.shared.errors import ModelError

WeightsKind = Literal[
    "codec",
    "teacher",
    "detector",
    "adapter_cls",
    "adapter_det",
    "tv_adapter_cls",
    "tv_adapter_det",
    "temporal",
]

#: the current format tag of each kind of weights file
FORMATS: dict[str, str] = {
    "codec": "polc-codec-1",
    "teacher": "polc-teacher-1",
    "detector": "polc-detector-1",
    "adapter_cls": "polc-adapter-cls-1",
    "adapter_det": "polc-adapter-det-1",
    "tv_adapter_cls": "polc-tv-adapter-cls-1",
    "tv_adapter_det": "polc-tv-adapter-det-1",
    "temporal": "polc-temporal-2",
}

#: older format tags of a kind that :func:`load_weights` still reads (their fields are a
#: subset of the current format's)
_OLDER_FORMATS: dict[str, tuple[str, ...]] = {
    "temporal": ("polc-temporal-1",),
}

#: keys that identify an untagged (pre-format) file of a kind
_LEGACY_KEYS: dict[str, frozenset[str]] = {
    "teacher": frozenset({"state_dict", "widths", "classes"}),
}

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def default_codec_path() -> Path:
    return Path(os.environ.get("POLC_CODEC_WEIGHTS", WEIGHTS_DIR / "codec.pt"))


def default_temporal_path() -> Path:
    return Path(os.environ.get("POLC_TEMPORAL_WEIGHTS", WEIGHTS_DIR / "temporal.pt"))


def temporal_path_for(codec_weights: str | Path | None) -> Path:
    """The temporal model that goes with a codec weights file: ``POLC_TEMPORAL_WEIGHTS``
    when set, else ``temporal.pt`` beside the codec file when there is one, else the bundled
    one (a temporal model is trained for one codec: see ``polc train temporal``)."""
    if "POLC_TEMPORAL_WEIGHTS" in os.environ or codec_weights is None:
        return default_temporal_path()
    beside = Path(codec_weights).with_name("temporal.pt")
    return beside if beside.is_file() else default_temporal_path()


def default_teacher_path() -> Path:
    return Path(os.environ.get("POLC_TEACHER_WEIGHTS", WEIGHTS_DIR / "teacher.pt"))


def default_detector_path() -> Path:
    return Path(os.environ.get("POLC_DETECTOR_WEIGHTS", WEIGHTS_DIR / "detector.pt"))


def save_torch_file(obj: Any, path: Path) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically (temp file + rename): a kill never
    leaves a half-written file. ``obj`` should hold tensors and plain containers only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def load_torch_file(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; ModelError when the file holds
    pickled Python objects or is not a readable torch file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise ModelError(
            f"{path}: refused, the file holds non-tensor pickled objects{what}; "
            "polc reads weights files with weights_only=True only"
        ) from None
    except FileNotFoundError:
        raise ModelError(f"{path}: no such weights file") from None
    except Exception as exc:
        raise ModelError(f"{path}: not a readable polc weights file ({exc})") from exc


def tagged(kind: WeightsKind, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with the kind's ``"format"`` tag first (a tag already there must match)."""
    tag = FORMATS[kind]
    if payload.get("format", tag) != tag:
        raise ValueError(f"a {kind} payload cannot carry format {payload['format']!r}")
    return {**payload, "format": tag} if "format" in payload else {"format": tag, **payload}


def save_weights(path: Path, kind: WeightsKind, payload: dict[str, Any]) -> None:
    """Write a ``kind`` weights file: ``payload`` tagged with ``FORMATS[kind]``, atomically."""
    save_torch_file(tagged(kind, payload), path)


def load_weights(
    path: Path, kind: WeightsKind | tuple[WeightsKind, ...], missing_hint: str = ""
) -> dict[str, Any]:
    """Read a weights file written by :func:`save_weights` of ``kind`` (or of any of the
    kinds in a tuple), or a legacy untagged file of that kind (see the module docstring).
    ModelError if it is missing (its message ends with ``missing_hint`` in parentheses: how
    to get the file), holds pickled objects, or is not a file of that kind."""
    path = Path(path)
    kinds = (kind,) if isinstance(kind, str) else kind
    tags = [FORMATS[k] for k in kinds]
    if not path.is_file():
        hint = f" ({missing_hint})" if missing_hint else ""
        raise ModelError(f"{' / '.join(kinds)} weights not found: {path}{hint}")
    state = load_torch_file(path)
    wanted = " or ".join(tags)
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a {wanted} weights file")
    found = state.get("format")
    if found is None:
        for k in kinds:
            if k in _LEGACY_KEYS and _LEGACY_KEYS[k] <= state.keys():
                return {"format": FORMATS[k], **state}
    if found not in tags and not any(found in _OLDER_FORMATS.get(k, ()) for k in kinds):
        raise ModelError(f"{path}: not a {wanted} weights file (format {found!r})")
    return state
