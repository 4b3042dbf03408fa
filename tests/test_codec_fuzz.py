"""Fuzz: ≥ 10,000 mutated / truncated / random containers (and P-frames decoded against their
reference or a wrong one). Each must end in BitstreamError or a valid decode, quickly,
without growing memory. A crash (segfault) fails the whole run."""

from __future__ import annotations

import resource
import struct
import time
from dataclasses import replace

import numpy as np
import pytest
from codec_support import BASE_HEADER_FMT, fix_payload_crc
from temporal_support import clip, temporal_codec, write_temporal_file

from polc.shared.codec.compact_layout import SCALE_GAIN_ONE
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
                data[pos : pos + 4] = rng.choice(
                    [b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xff\x7f\0\0"]
                )
                fix_payload_crc(data)
            yield bytes(data[: len(seeds[i % len(seeds)])])
        else:  # payload replaced by random bytes of the same length, CRC repaired
            if len(data) > 80:
                data[72:] = rng.bytes(len(data) - 72)
                fix_payload_crc(data)
            yield bytes(data)


def test_fuzz_ten_thousand_containers(small_codec, test_image):
    seeds = [
        small_codec.encode(test_image, a, enhancement=e)
        for a, e in ((0.0, False), (0.5, True), (1.0, True))
    ]
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


def _coded_p_frames(small_codec_file, tmp_path, settings, compact=True, skip_context=False):
    """A temporal codec and the P-frames (with the reference of each) of a 4-frame clip at
    each (α, skip τ or None = lossless) of ``settings``; frame 2 has an enhancement layer.
    ``compact`` False: P-frames in the full layout (100-byte header) older encoders wrote.
    ``skip_context``: the temporal model has a skip context model h_k (skip mode codes with it)."""
    skip_hidden = 8 if skip_context else None
    temporal_file = write_temporal_file(
        Codec.load(small_codec_file), tmp_path / "t.pt", skip_hidden=skip_hidden
    )
    codec = temporal_codec(small_codec_file, temporal_file)
    assert codec.temporal.wire is codec.wire  # loaded: the encoder codes P-frames with it
    if not compact:  # the full layout has no scale gain field: code as encoders before it
        codec.temporal.scale_gains = (SCALE_GAIN_ONE,)
    frames = clip(4)
    references, p_frames = [], []
    for alpha, tau in settings:
        _, ref = codec.encode_frame(frames[0], alpha, 0)
        for seq, image in enumerate(frames[1:], 1):
            container, nxt = codec.encoder.encode_frame(
                image, alpha, seq, ref, enhancement=seq == 2, skip_tau=tau
            )
            if not compact:
                full = replace(container, compact=False, enhancement=None)
                if container.enhancement is not None:  # linked to the full layout's payload
                    full.enhancement = replace(
                        container.enhancement, base_payload_crc=full.payload_crc
                    )
                container = full
            references.append(ref)
            p_frames.append(container.to_bytes())
            ref = nxt
    return codec, p_frames, references


def _fuzz_p_frames(codec, p_frames, references, n, rng) -> tuple[dict[str, int], float]:
    """Decode ``n`` mutants of ``p_frames``: mostly against the right reference, every fourth
    against a random other one. Returns the outcome counts and the slowest decode (s)."""
    outcomes = {"error": 0, "mismatch": 0, "decoded": 0}
    slowest = 0.0
    latents = [
        codec.decode(data, ref).latent.y_symbols
        for data, ref in zip(p_frames, references, strict=True)
    ]
    for i, data in enumerate(_mutants(p_frames, n, rng)):
        k = i % len(p_frames)
        ref = references[k] if i % 4 else references[int(rng.integers(0, len(references)))]
        t0 = time.perf_counter()
        try:
            frame = codec.decode(data, ref)
            assert frame.latent.y_symbols.shape[0] == 24
            # a mutant that decodes decodes to its frame's latent, never to another one
            assert np.array_equal(frame.latent.y_symbols, latents[k])
            outcomes["decoded"] += 1
        except ReferenceMismatch:
            outcomes["mismatch"] += 1
        except BitstreamError:
            outcomes["error"] += 1
        slowest = max(slowest, time.perf_counter() - t0)
    return outcomes, slowest


@pytest.mark.parametrize(
    "settings, n, seed, min_refused, compact, skip_context",
    [
        ([(0.0, None), (0.5, None), (1.0, None)], 3000, 99, 2_400, True, False),  # lossless
        ([(0.0, 0.5), (0.5, 1.0), (1.0, 0.3)], 2000, 7, 1_600, True, False),  # skip mode
        ([(0.0, 0.5), (0.5, 1.0), (1.0, 0.3)], 2000, 11, 1_600, True, True),  # skip mode, h_k
        ([(0.5, None), (1.0, 0.3)], 1000, 5, 800, False, False),  # the full (100-byte) layout
    ],
    ids=["lossless", "skip", "skip-context", "full-layout"],
)
def test_fuzz_p_frames_and_broken_references(
    small_codec_file, tmp_path, settings, n, seed, min_refused, compact, skip_context
):
    codec, p_frames, references = _coded_p_frames(
        small_codec_file, tmp_path, settings, compact, skip_context
    )
    outcomes, slowest = _fuzz_p_frames(codec, p_frames, references, n, np.random.default_rng(seed))
    assert sum(outcomes.values()) == n
    assert outcomes["error"] + outcomes["mismatch"] > min_refused
    assert outcomes["mismatch"] > 0
    assert slowest < 2.0
    skip_mode = [tau is not None for _, tau in settings for _ in range(3)]
    for data, ref, skip in zip(p_frames, references, skip_mode, strict=True):  # all decode
        assert FrameContainer.from_bytes(data).skip_mode == skip
        assert FrameContainer.from_bytes(data).compact == compact
        assert FrameContainer.from_bytes(data).skip_context == (skip and skip_context)
        assert codec.decode(data, ref).container.is_p_frame
