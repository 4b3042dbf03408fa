"""Every shipped training configuration loads with the loader its command uses.

``training/configs/adapter-*.yaml`` go through ``polc.training.adapter_config`` (``polc train
adapter --config``), ``temporal-*.yaml`` through ``polc.training.temporal_config`` (``polc
train temporal --config``), every other file through ``polc.shared.codec.config`` (``polc train
codec --config``). A failure names the file (test id and message).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from polc.shared.codec.config import load_codec_config
from polc.training.adapter_config import load_adapter_config
from polc.training.temporal_config import load_temporal_config

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"
FILES = sorted(CONFIGS.glob("*.yaml"))


def test_the_configs_folder_is_not_empty():
    assert FILES, f"no *.yaml in {CONFIGS}"
    assert not [p.name for p in CONFIGS.iterdir() if p.suffix != ".yaml"], (
        "training/configs/ holds only *.yaml configurations"
    )


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_config_loads(path: Path):
    try:
        if path.name.startswith("adapter-"):
            load_adapter_config(path)
        elif path.name.startswith("temporal-"):
            load_temporal_config(path)
        else:
            load_codec_config(path)
    except Exception as exc:  # the message names the file: which one is broken, and why
        pytest.fail(f"training/configs/{path.name} does not load: {exc}")
