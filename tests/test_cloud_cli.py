"""Operator commands (`polc reconstruct`, `polc frames`) and `polc cloud serve --check`."""

from __future__ import annotations

import json

from ingest_client import EdgeClient
from PIL import Image

from polc.app.cli import main


def test_operator_commands(cloud, frames, tmp_path, capsys):
    edge = EdgeClient(cloud.address, "cam-cli")
    edge.recv()
    edge.frame(4, frames["full"])
    edge.frame(5, frames["base"])
    edge.collect(2)
    edge.close()
    out = tmp_path / "x.png"

    def reconstruct(*flags: str) -> int:
        return main(["reconstruct", "--server", cloud.address, "--camera", "cam-cli", *flags])

    assert reconstruct("--seq", "4", "--beta", "0.5", "-o", str(out)) == 0
    assert Image.open(out).size == (96, 80)
    assert "β=0.5" in capsys.readouterr().out
    jpg = tmp_path / "t.jpg"
    # by time: the latest frame captured at or before (seq 5 is 40 ms after seq 4)
    assert reconstruct("--time", str(1_700_000_000 + 5 * 0.04 + 0.001), "-o", str(jpg)) == 0
    assert Image.open(jpg).format == "JPEG" and "cam-cli#5" in capsys.readouterr().out
    assert reconstruct("--seq", "9", "-o", str(out)) == 2
    assert "NOT_FOUND" in capsys.readouterr().err
    assert reconstruct("--seq", "5", "--beta", "0.5", "-o", str(out)) == 2
    assert "FAILED_PRECONDITION" in capsys.readouterr().err

    assert main(["frames", "--server", cloud.address, "--camera", "cam-cli", "--results"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["4", "5"]
    assert main(["frames", "--server", cloud.address]) == 0
    assert capsys.readouterr().out.startswith("cam-cli\t2 frames")
    assert main(["frames", "--server", cloud.address, "--camera", "cam-cli", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["seq"] == "4"


def test_serve_check_and_config_errors(tmp_path, capsys):
    assert (
        main(["cloud", "serve", "--check", "--listen", "0.0.0.0:6000", "--store", str(tmp_path)])
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["listen"] == "0.0.0.0:6000" and shown["store"]["path"] == str(tmp_path)
    assert main(["cloud", "serve", "--check", "--listen", "no-port"]) == 2
    assert "'listen'" in capsys.readouterr().err
