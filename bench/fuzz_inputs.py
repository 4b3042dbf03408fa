"""The fuzzed inputs of ``polc bench fuzz-wire``: mutated .polc containers (bit flips,
truncations, splices, header fields set to extreme values, random payloads — each also with
the payload and header CRCs repaired, so the deeper parsers see it) and random fields in every
message the ingest, query and reconstruct services accept (timestamps with out-of-range nanos,
unknown enum values, NaN / infinite β, huge sizes, odd camera ids, page tokens).

Every input is a :class:`FuzzInput`; :func:`make_input` builds input ``i`` from its own seeded
generator, so any input can be rebuilt from (seed, i) alone."""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from polc.shared.codec.header_checks import header_crc
from polc.v1 import ingest_pb2, query_pb2, reconstruct_pb2

# the version-2 base header (shared/codec/container.py, docs/bitstream.md): field offsets
# and widths, the payload CRC, the enhancement length and the header CRC
HEADER_FIELDS = [
    (4, 1),
    (5, 1),
    (6, 2),
    (8, 16),
    (24, 2),
    (26, 2),
    (28, 2),
    (30, 2),
    (32, 2),
    (34, 2),
    (36, 4),
    (40, 4),
    (44, 4),
    (48, 4),
    (52, 4),
    (56, 4),
    (60, 4),
    (64, 4),
]
PAYLOAD_CRC_OFFSET, ENH_LEN_OFFSET, HEADER_CRC_OFFSET, HEADER_SIZE = 52, 64, 68, 72
EXTREMES = [
    0,
    1,
    2,
    15,
    16,
    17,
    255,
    256,
    4095,
    4096,
    8192,
    8193,
    0x7FFF,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
]
BETAS = [math.nan, math.inf, -math.inf, -0.5, -0.0, 0.0, 0.3, 0.999, 1.0, 1.5, 1e308, -1e-300]
SEED_CAMERA = "fuzz-seed"  # frames stored valid before the run: query / reconstruct targets
SEED_FRAMES = 8


@dataclass
class FuzzInput:
    """One input: ``service`` (ingest-frame, ingest-stream, query, reconstruct), the
    mutation ``kind`` and what to send (a frame for the open stream, a whole stream's
    messages, or one unary request with its method name)."""

    service: str
    kind: str
    frame: ingest_pb2.Frame | None = None
    stream: list[ingest_pb2.IngestRequest] = field(default_factory=list)
    method: str = ""
    request: object = None


def pick(rng: np.random.Generator, options: list):
    """One of ``options`` as it is (``rng.choice`` would turn big ints into floats)."""
    return options[int(rng.integers(len(options)))]


def repair_crcs(buf: bytearray) -> None:
    """Recompute the base payload CRC from the (mutated) header's sizes, then the header
    CRC, in place; a header beyond repair is left as it is."""
    if len(buf) < HEADER_SIZE or buf[4] != 2:
        return
    header = struct.unpack_from("<H", buf, 6)[0]
    enh_len = struct.unpack_from("<I", buf, ENH_LEN_OFFSET)[0]
    if header < HEADER_SIZE or header > len(buf) or enh_len > len(buf) - header:
        return
    struct.pack_into(
        "<I", buf, PAYLOAD_CRC_OFFSET, zlib.crc32(bytes(buf[header : len(buf) - enh_len]))
    )
    struct.pack_into(
        "<I", buf, HEADER_CRC_OFFSET, header_crc(bytes(buf), header, HEADER_CRC_OFFSET)
    )


def mutate_container(seeds: list[bytes], rng: np.random.Generator) -> tuple[str, bytes]:
    """(kind, bytes): one mutation of one of the seed containers."""
    data = bytearray(seeds[int(rng.integers(len(seeds)))])
    kind = str(
        pick(
            rng,
            [
                "bitflip",
                "bitflip-crc",
                "truncate",
                "splice",
                "splice-crc",
                "header-field",
                "payload-random",
                "random",
                "extend",
                "valid",
            ],
        )
    )
    if kind.startswith("bitflip"):
        for _ in range(int(rng.integers(1, 9))):
            pos = int(rng.integers(len(data) * 8))
            data[pos // 8] ^= 1 << (pos % 8)
    elif kind == "truncate":
        data = data[: int(rng.integers(len(data)))]
    elif kind.startswith("splice"):
        other = seeds[int(rng.integers(len(seeds)))]
        data = data[: int(rng.integers(len(data) + 1))] + other[int(rng.integers(len(other))) :]
    elif kind == "header-field":
        offset, width = HEADER_FIELDS[int(rng.integers(len(HEADER_FIELDS)))]
        value = int(pick(rng, EXTREMES)) if rng.random() < 0.7 else int(rng.integers(2**32))
        data[offset : offset + width] = (
            (value % (1 << (8 * width))).to_bytes(width, "little")
            if width <= 4
            else rng.bytes(width)
        )
    elif kind == "payload-random" and len(data) > HEADER_SIZE:
        data[HEADER_SIZE:] = rng.bytes(len(data) - HEADER_SIZE)
    elif kind == "random":
        data = bytearray(rng.bytes(int(rng.integers(0, 4096))))
    elif kind == "extend":
        data += rng.bytes(int(rng.integers(1, 512)))
    if kind.endswith("-crc") or kind in ("header-field", "payload-random", "extend"):
        repair_crcs(data)
    return kind, bytes(data)


def random_camera(rng: np.random.Generator) -> str:
    return str(
        pick(
            rng,
            [
                "",
                "x" * int(rng.integers(129, 400)),
                "cam/../etc",
                "kamera-ü",
                "a b",
                "\x00",
                "cam-" + str(rng.integers(1 << 62)),
                SEED_CAMERA,
                "fuzz-w0",
            ],
        )
    )


def random_timestamp(msg, rng: np.random.Generator) -> None:
    """Seconds anywhere in int64 or near now; nanos in or out of [0, 1e9)."""
    msg.seconds = int(
        pick(
            rng,
            [
                0,
                -1,
                1_700_000_000,
                -62135596801,
                253402300800,
                2**63 - 1,
                -(2**63),
                int(rng.integers(-(2**40), 2**40)),
            ],
        )
    )
    msg.nanos = int(
        pick(
            rng,
            [0, 999_999_999, 1_000_000_000, -1, 2**31 - 1, -(2**31), int(rng.integers(0, 10**9))],
        )
    )


def _frame(
    camera: str, seq: int, base: bytes, rng: np.random.Generator, enhancement: bytes | None = None
) -> ingest_pb2.Frame:
    frame = ingest_pb2.Frame(camera_id=camera, seq=seq, base_layer=base)
    frame.capture_time.FromMicroseconds(1_700_000_000_000_000 + seq % 10**9 * 40_000)
    if enhancement is not None:
        frame.enhancement_layer = enhancement
    return frame


def ingest_frame(
    i: int, camera: str, seeds: list[bytes], layers: list[bytes], rng: np.random.Generator
) -> FuzzInput:
    """A frame for an open stream of ``camera``: a mutated container, a mutated
    enhancement layer, or random frame fields around a valid container."""
    which = rng.random()
    seq = (
        i if rng.random() < 0.8 else int(pick(rng, [0, 2**63, 2**64 - 1, int(rng.integers(2**62))]))
    )
    if which < 0.7:
        kind, data = mutate_container(seeds, rng)
        return FuzzInput("ingest-frame", f"container/{kind}", frame=_frame(camera, seq, data, rng))
    if which < 0.85:
        kind, layer = mutate_container(layers, rng)
        base = seeds[0]
        return FuzzInput(
            "ingest-frame", f"enhancement/{kind}", frame=_frame(camera, seq, base, rng, layer)
        )
    frame = _frame(camera, seq, seeds[int(rng.integers(len(seeds)))], rng)
    kind = str(pick(rng, ["timestamp", "camera", "no-time", "empty-base"]))
    if kind == "timestamp":
        random_timestamp(frame.capture_time, rng)
    elif kind == "camera":
        frame.camera_id = random_camera(rng)
    elif kind == "no-time":
        frame.ClearField("capture_time")
    else:
        frame.base_layer = b""
    return FuzzInput("ingest-frame", f"fields/{kind}", frame=frame)


def ingest_stream(
    i: int, seeds: list[bytes], fingerprint: bytes, rng: np.random.Generator
) -> FuzzInput:
    """A whole stream: odd Hellos, no Hello, empty messages, stray uploads, two Hellos."""
    camera = f"fuzz-s{i}"
    hello = ingest_pb2.Hello(camera_id=camera, model_fingerprint=fingerprint)
    kind = str(
        pick(
            rng,
            [
                "hello-camera",
                "hello-fingerprint",
                "hello-capabilities",
                "no-hello",
                "empty-message",
                "upload",
                "two-hellos",
            ],
        )
    )
    msgs: list[ingest_pb2.IngestRequest] = []
    if kind == "hello-camera":
        hello.camera_id = random_camera(rng)
    elif kind == "hello-fingerprint":
        hello.model_fingerprint = rng.bytes(int(pick(rng, [1, 15, 16, 17, 64])))
    elif kind == "hello-capabilities":
        hello.capabilities.enhancement_on_demand = bool(rng.integers(2))
        hello.capabilities.sends_enhancement = bool(rng.integers(2))
        hello.capabilities.enhancement_retention_seconds = int(rng.integers(2**32))
        hello.capabilities.batched_acks = bool(rng.integers(2))
        hello.edge_version = rng.bytes(int(rng.integers(300))).decode("latin-1")
    if kind == "no-hello":
        msgs.append(ingest_pb2.IngestRequest(frame=_frame(camera, 0, seeds[0], rng)))
    elif kind == "empty-message":
        msgs += [ingest_pb2.IngestRequest(hello=hello), ingest_pb2.IngestRequest()]
    elif kind == "upload":
        msgs += [
            ingest_pb2.IngestRequest(hello=hello),
            ingest_pb2.IngestRequest(
                enhancement_upload=ingest_pb2.EnhancementUpload(
                    request_id=rng.bytes(8).hex(),
                    camera_id=random_camera(rng),
                    seq=int(rng.integers(2**63)),
                    enhancement_layer=rng.bytes(int(rng.integers(200))),
                    unavailable=bool(rng.integers(2)),
                )
            ),
        ]
    elif kind == "two-hellos":
        msgs += [ingest_pb2.IngestRequest(hello=hello), ingest_pb2.IngestRequest(hello=hello)]
    else:
        msgs.append(ingest_pb2.IngestRequest(hello=hello))
    msgs.append(ingest_pb2.IngestRequest(frame=_frame(camera, 1, seeds[0], rng)))
    return FuzzInput("ingest-stream", kind, stream=msgs)


def query(rng: np.random.Generator) -> FuzzInput:
    kind = str(pick(rng, ["ListCameras", "ListFrames", "GetResults"]))
    if kind == "ListCameras":
        return FuzzInput("query", kind, method=kind, request=query_pb2.ListCamerasRequest())
    if kind == "GetResults":
        return FuzzInput(
            "query",
            kind,
            method=kind,
            request=query_pb2.GetResultsRequest(
                camera_id=random_camera(rng), seq=int(pick(rng, [0, 1, 7, 2**64 - 1, 2**63]))
            ),
        )
    req = query_pb2.ListFramesRequest(
        camera_id=random_camera(rng),
        page_size=int(pick(rng, [0, 1, 1000, 2**32 - 1])),
        page_token=str(
            pick(rng, ["", "0", "-1", "zz", "99999999999999999999999", rng.bytes(12).hex(), "%00"])
        ),
    )
    if rng.random() < 0.5:
        random_timestamp(req.start_time, rng)
    if rng.random() < 0.5:
        random_timestamp(req.end_time, rng)
    return FuzzInput("query", kind, method=kind, request=req)


def reconstruct(rng: np.random.Generator) -> FuzzInput:
    req = reconstruct_pb2.ReconstructRequest(
        camera_id=SEED_CAMERA if rng.random() < 0.6 else random_camera(rng),
        format=int(pick(rng, [0, 1, 2, 3, 99, -1])),
        jpeg_quality=int(pick(rng, [0, 1, 75, 100, 101, 2**32 - 1])),
    )
    if rng.random() < 0.5:
        req.seq = int(pick(rng, [0, 1, SEED_FRAMES - 1, SEED_FRAMES, 2**64 - 1]))
    else:
        random_timestamp(req.capture_time, rng)
    if rng.random() < 0.8:
        req.beta = float(pick(rng, BETAS))
    if rng.random() < 0.3:
        req.enhancement_wait.seconds = int(pick(rng, [-5, 0, 1, 2**40]))
        req.enhancement_wait.nanos = int(pick(rng, [0, 500_000_000, -1, 2**31 - 1]))
    return FuzzInput("reconstruct", "Reconstruct", method="Reconstruct", request=req)


def make_input(
    seed: int, i: int, camera: str, seeds: list[bytes], layers: list[bytes], fingerprint: bytes
) -> FuzzInput:
    """Input ``i`` of the run ``seed``: 70 % ingest frames on an open stream, 10 % whole
    ingest streams, 10 % query calls, 10 % reconstruct calls."""
    rng = np.random.default_rng([seed, i])
    u = rng.random()
    if u < 0.7:
        return ingest_frame(i, camera, seeds, layers, rng)
    if u < 0.8:
        return ingest_stream(i, seeds, fingerprint, rng)
    if u < 0.9:
        return query(rng)
    return reconstruct(rng)
