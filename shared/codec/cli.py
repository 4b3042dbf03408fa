"""`polc codec {encode,decode,info}`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from polc.shared.codec.container import FrameContainer
from polc.shared.errors import BitstreamError, PolcError


def _read_image(path: Path) -> np.ndarray:
    from polc.shared.data.loaders import load_rgb  # command handler (rule a): torch datasets

    return np.asarray(load_rgb(path))


def _read_container(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise PolcError(f"file not found: {path}") from exc


def _unit_interval(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in [0, 1]") from None
        if not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(f"{name} must be in [0, 1], got {value}")
        return value

    return parse


def _encode(args: argparse.Namespace) -> int:
    from polc.shared.codec.runtime import Codec  # command handler (rule a): torch

    codec = Codec.load(args.weights)
    image = _read_image(Path(args.image))
    data = codec.encode(image, args.alpha, enhancement=args.enhancement)
    Path(args.output).write_bytes(data)
    bpp = len(data) * 8 / (image.shape[0] * image.shape[1])
    print(f"{args.output}: {len(data)} bytes, {bpp:.4f} bpp, alpha={args.alpha}")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from polc.shared.codec.runtime import Codec  # command handler (rule a): torch

    codec = Codec.load(args.weights)
    frame = codec.decode(_read_container(Path(args.file)))
    image = codec.reconstruct(frame, args.beta)
    Image.fromarray(image).save(args.output)
    print(f"{args.output}: {image.shape[1]}x{image.shape[0]}, beta={args.beta}")
    return 0


def header_dict(data: bytes) -> dict:
    c = FrameContainer.from_bytes(data)
    if not c.is_bound:
        return _compact_dict(data, c)
    g = c.geometry
    px = g.width * g.height
    enh = c.enhancement.nbytes if c.enhancement is not None else 0
    return {
        "format_version": data[4],
        "model_fingerprint": c.fingerprint.hex(),
        "alpha": c.alpha,
        "width": g.width,
        "height": g.height,
        "padded": list(g.padded[::-1]),
        "latent_shape": [c.channels[0], *g.latent_hw],
        "hyper_shape": [c.channels[1], *g.hyper_hw],
        "bytes": {
            "total": len(data),
            "base": c.base_nbytes,
            "enhancement": enh,
            "z": len(c.z_payload),
            "y": len(c.y_payload),
            "escapes": int(c.z_escapes.size + c.y_escapes.size),
        },
        "bpp": {"base": c.base_nbytes * 8 / px, "enhancement": enh * 8 / px},
        "has_enhancement": c.enhancement is not None,
        "params_crc": f"{c.params_crc:08x}",
        "latent_crc": f"{c.latent_crc:08x}",
    }


def _compact_dict(data: bytes, c: FrameContainer) -> dict:
    """A compact P-frame: its model, α and size are its reference's (not in the file)."""
    assert c.reference is not None
    enh = c.enhancement.nbytes if c.enhancement is not None else 0
    return {
        "layout": "compact P-frame",
        "format_version": data[2],
        "reference": {"seq": c.reference.seq, "latent_crc": f"{c.reference.checksum:08x}"},
        "skip_mode": c.skip_mode,
        "inherited_from_reference": ["model_fingerprint", "alpha", "width", "height"],
        "bytes": {
            "total": len(data),
            "header": c.header_nbytes,
            "base": c.base_nbytes,
            "enhancement": enh,
            "z": len(c.z_payload),
            "y": len(c.y_payload),
            "escapes": int(c.z_escapes.size + c.y_escapes.size),
        },
        "has_enhancement": c.enhancement is not None,
        "params_crc": f"{c.params_crc:08x}",
        "latent_crc": f"{c.latent_crc:08x}",
    }


def _info(args: argparse.Namespace) -> int:
    json.dump(header_dict(_read_container(Path(args.file))), sys.stdout, indent=2)
    print()
    return 0


def _add_unit_option(p: argparse.ArgumentParser, flag: str, default: float, help: str) -> None:
    """An option whose value must lie in [0, 1] (α, β)."""
    p.add_argument(flag, type=_unit_interval(flag), default=default, help=help)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="codec_command", metavar="WHAT", required=True)
    e = sub.add_parser("encode", help="image -> .polc")
    e.add_argument("image")
    e.add_argument("-o", "--output", required=True)
    _add_unit_option(e, "--alpha", 0.5, "rate in [0, 1] (0 lowest, 1 highest)")
    e.add_argument(
        "--enhancement",
        action="store_true",
        help="also code the enhancement layer (needed for beta < 1)",
    )
    e.add_argument("--weights", default=None, help="codec weights (default: bundled)")
    e.set_defaults(handler=_encode)
    d = sub.add_parser("decode", help=".polc -> PNG/JPEG at beta")
    d.add_argument("file")
    d.add_argument("-o", "--output", required=True)
    beta_help = "1 = machine-oriented, 0 = best fidelity (needs enhancement layer)"
    _add_unit_option(d, "--beta", 1.0, beta_help)
    d.add_argument("--weights", default=None)
    d.set_defaults(handler=_decode)
    i = sub.add_parser("info", help="print the container header as JSON")
    i.add_argument("file")
    i.set_defaults(handler=_info)


__all__ = ["register", "header_dict", "BitstreamError"]
