"""The wire contract alone is enough: a client generated from proto/ in a temporary directory
streams frames written by `polc codec encode`, gets acks and results, lists frames and
reconstructs at β = 0.5; health is SERVING and reflection lists the polc.v1 services."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc
from PIL import Image

from polc.cloud.server_thread import ServerThread

ROOT = Path(__file__).resolve().parent.parent


def generate(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    protos = sorted((ROOT / "proto" / "polc" / "v1").glob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *map(str, protos),
        ]
    )
    assert rc == 0
    return out


def test_client_generated_from_proto_alone(
    cloud: ServerThread, tmp_path, small_codec, small_codec_file, test_image
):
    gen = generate(tmp_path / "gen")
    Image.fromarray(test_image).save(tmp_path / "frame.png")
    paths = [tmp_path / "f0.polc", tmp_path / "f1.polc"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "polc.app.cli",
            "codec",
            "encode",
            str(tmp_path / "frame.png"),
            "-o",
            str(paths[0]),
            "--alpha",
            "0.2",
            "--enhancement",
            "--weights",
            str(small_codec_file),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    paths[1].write_bytes(small_codec.encode(test_image, 0.8))  # base layer only
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "cloud_proto_client.py"),
            str(gen),
            cloud.address,
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["generated_from"].startswith(str(gen))
    assert out["messages"] == {"hello_ack": 1, "ack": 2, "result": 2, "error": 0}
    assert all(out["top_classes"])
    assert out["listed"] == [0, 1]
    assert out["reconstruct"] == {
        "mime": "image/png",
        "width": 96,
        "height": 80,
        "png": True,
        "beta": 0.5,
    }
    assert out["health"] == "SERVING"
    assert {
        "polc.v1.IngestService",
        "polc.v1.ReconstructService",
        "polc.v1.QueryService",
        "grpc.health.v1.Health",
    } <= set(out["services"])
