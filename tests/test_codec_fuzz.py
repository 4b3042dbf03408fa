"""Fuzz: ≥ 10,000 mutated / truncated / random containers (and P-frames decoded against their
reference or a wrong one). Each must end in BitstreamError or a valid decode, quickly,
without growing memory. A crash (segfault) fails the whole run."""

from __future__ import annotations

import resource
import struct
import time

import numpy as np
from codec_support import BASE_HEADER_FMT, fix_payload_crc
from temporal_support import clip, temporal_codec, write_temporal_file

from polc.shared.codec.container import FrameContainer
from polc.shared.codec.runtime import Codec
from polc.shared.errors import BitstreamError, ReferenceMismatch


def _mutants(seeds: list[bytes], n: int, rng: np.random.Generator):
    for i in range(n):
        kind = i % 6
        data = bytearray(seeds[i % len(seeds)])
        if kind == 0:  # random bytes, random length
            yield rng.bytes(int(rng.integers(0, 4096)))
        elif kind == 1:  # truncation
            yield bytes(data[: int(rng.integers(0, len(data)))])
        elif kind in (2, 3):  # byte flips, CRC repaired in kind 3
            for _ in range(int(rng.integers(1, 8))):
                pos = int(rng.integers(0, len(data)))
                data[pos] = int(rng.integers(0, 256))
            if kind == 3 and len(data) >= struct.calcsize(BASE_HEADER_FMT):
                fix_payload_crc(data)
            yield bytes(data)
        elif kind == 4:  # header field overwritten with extreme values, CRC repaired
            if len(data) >= 64:
                pos = int(rng.integers(4, 64))
                data[pos:pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0",
                                                b"\xff\x7f\0\0"])
                fix_payload_crc(data)
            yield bytes(data[:len(seeds[i % len(seeds)])])
        else:  # payload replaced by random bytes of the same length, CRC repaired
            if len(data) > 80:
                data[72:] = rng.bytes(len(data) - 72)
                fix_payload_crc(data)
            yield bytes(data)


def test_fuzz_ten_thousand_containers(small_codec, test_image):
    seeds = [small_codec.encode(test_image, a, enhancement=e)
             for a, e in ((0.0, False), (0.5, True), (1.0, True))]
    rng = np.random.default_rng(1234)
    outcomes = {"error": 0, "decoded": 0}
    slowest = 0.0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for data in _mutants(seeds, 10_000, rng):
        t0 = time.perf_counter()
        try:
            frame = small_codec.wire.decode_symbols(FrameContainer.from_bytes(data))
            assert frame.y_symbols.shape[0] == 24
            outcomes["decoded"] += 1
        except BitstreamError:
            outcomes["error"] += 1
        slowest = max(slowest, time.perf_counter() - t0)
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert outcomes["error"] + outcomes["decoded"] == 10_000
    assert outcomes["error"] > 8_000  # nearly every mutation is detected...
    assert slowest < 2.0  # ...within a time bound...
    assert rss_growth_mb < 200  # ...and with bounded memory


def test_fuzz_p_frames_and_broken_references(small_codec_file, tmp_path):
    codec = temporal_codec(small_codec_file,
                           write_temporal_file(Codec.load(small_codec_file), tmp_path / "t.pt"))
    frames = clip(4)
    references, p_frames = [], []
    for alpha in (0.0, 0.5, 1.0):
        _, ref = codec.encode_frame(frames[0], alpha, 0)
        for seq, image in enumerate(frames[1:], 1):
            data, nxt = codec.encode_frame(image, alpha, seq, ref, enhancement=seq == 2)
            references.append(ref)
            p_frames.append(data)
            ref = nxt
    rng = np.random.default_rng(99)
    outcomes = {"error": 0, "mismatch": 0, "decoded": 0}
    slowest = 0.0
    for i, data in enumerate(_mutants(p_frames, 3000, rng)):
        k = i % len(p_frames)
        # mostly the right reference; every fourth mutant against a random other one
        ref = references[k] if i % 4 else references[int(rng.integers(0, len(references)))]
        t0 = time.perf_counter()
        try:
            frame = codec.decode(data, ref)
            assert frame.latent.y_symbols.shape[0] == 24
            outcomes["decoded"] += 1
        except ReferenceMismatch:
            outcomes["mismatch"] += 1
        except BitstreamError:
            outcomes["error"] += 1
        slowest = max(slowest, time.perf_counter() - t0)
    assert sum(outcomes.values()) == 3000
    assert outcomes["error"] + outcomes["mismatch"] > 2_400
    assert outcomes["mismatch"] > 0
    assert slowest < 2.0
    for data, ref in zip(p_frames, references, strict=True):  # unmutated: all decode
        assert codec.decode(data, ref).container.is_p_frame


def test_fuzz_skip_mode_p_frames_and_broken_references(small_codec_file, tmp_path):
    codec = temporal_codec(small_codec_file,
                           write_temporal_file(Codec.load(small_codec_file), tmp_path / "t.pt"))
    frames = clip(4)
    references, p_frames = [], []
    for alpha, tau in ((0.0, 0.5), (0.5, 1.0), (1.0, 0.3)):
        _, ref = codec.encode_frame(frames[0], alpha, 0)
        for seq, image in enumerate(frames[1:], 1):
            data, nxt = codec.encode_frame(image, alpha, seq, ref, enhancement=seq == 2,
                                           skip_tau=tau)
            references.append(ref)
            p_frames.append(data)
            ref = nxt
    rng = np.random.default_rng(7)
    outcomes = {"error": 0, "mismatch": 0, "decoded": 0}
    slowest = 0.0
    for i, data in enumerate(_mutants(p_frames, 2000, rng)):
        k = i % len(p_frames)
        ref = references[k] if i % 4 else references[int(rng.integers(0, len(references)))]
        t0 = time.perf_counter()
        try:
            frame = codec.decode(data, ref)
            assert frame.latent.y_symbols.shape[0] == 24
            outcomes["decoded"] += 1
        except ReferenceMismatch:
            outcomes["mismatch"] += 1
        except BitstreamError:
            outcomes["error"] += 1
        slowest = max(slowest, time.perf_counter() - t0)
    assert sum(outcomes.values()) == 2000
    assert outcomes["error"] + outcomes["mismatch"] > 1_600
    assert outcomes["mismatch"] > 0
    assert slowest < 2.0
    for data, ref in zip(p_frames, references, strict=True):  # unmutated: all decode
        assert FrameContainer.from_bytes(data).skip_mode
        assert codec.decode(data, ref).container.is_p_frame
