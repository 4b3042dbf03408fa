"""Round trip, container validation and determinism of the codec's bitstream."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from codec_support import fix_payload_crc

from polc.shared.codec.container import FORMAT_VERSION, EnhancementLayer, FrameContainer
from polc.shared.codec.frame_spec import alpha_to_code
from polc.shared.codec.integer_hyper import IntegerHyperSynthesis
from polc.shared.codec.varint import read_uvarint, read_zigzag_varints, uvarint, zigzag_varints
from polc.shared.errors import BitstreamError


def test_round_trip_recovers_the_encoders_symbols(small_codec, test_image):
    enc = small_codec.encoder
    container = enc.encode(test_image, 0.4, enhancement=True)
    data = container.to_bytes()
    frame = small_codec.decode(data)
    # re-run the encoder's arithmetic to get its symbols and compare exactly
    from polc.shared.codec.runtime import image_to_array

    x, _ = image_to_array(test_image)
    v = enc.transforms.analysis(x) * small_codec.wire.gain_y(0.4)[None, :, None, None]
    z = enc.transforms.hyper_analysis(v.astype(np.float32))
    params = small_codec.wire.entropy_parameters(np.round(z[0]).astype(np.int64))
    expected = np.round(v[0].astype(np.float64) - params.means).astype(np.int64)
    assert np.array_equal(frame.latent.y_symbols, expected)
    assert frame.has_enhancement
    assert frame.y_hat.shape == (1, 24, 8, 8)  # 80x96 padded to 128x128 -> /16


def test_reconstruction_shape_and_beta_rules(small_codec, test_image):
    base_only = small_codec.decode(small_codec.encode(test_image, 0.5))
    out = small_codec.reconstruct(base_only, 1.0)
    assert out.shape == test_image.shape and out.dtype == np.uint8
    with pytest.raises(BitstreamError, match="enhancement layer"):
        small_codec.reconstruct(base_only, 0.5)
    with pytest.raises(ValueError):
        small_codec.reconstruct(base_only, 1.5)
    full = small_codec.decode(small_codec.encode(test_image, 0.5, enhancement=True))
    x0 = small_codec.reconstruct(full, 0.0).astype(int)
    x1 = small_codec.reconstruct(full, 1.0).astype(int)
    assert np.array_equal(x1, out)  # base layer decodes the same with or without enh.
    assert not np.array_equal(x0, x1)  # beta changes the picture


def test_rate_grows_with_alpha(small_codec, test_image):
    sizes = [len(small_codec.encoder.encode(test_image, a).base_bytes()) for a in (0.0, 0.5, 1.0)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_enhancement_layer_can_travel_separately(small_codec, test_image):
    full = small_codec.encoder.encode(test_image, 0.7, enhancement=True)
    base = small_codec.decode(full.base_bytes())
    assert not base.has_enhancement
    small_codec.attach_enhancement(base, full.enhancement.to_bytes())
    ref = small_codec.decode(full.to_bytes())
    assert np.array_equal(small_codec.reconstruct(base, 0.0), small_codec.reconstruct(ref, 0.0))
    other = small_codec.encoder.encode(test_image[::-1].copy(), 0.7, enhancement=True)
    fresh = small_codec.decode(full.base_bytes())
    with pytest.raises(BitstreamError, match="another frame"):
        small_codec.attach_enhancement(fresh, other.enhancement.to_bytes())


def _corrupt(data: bytes, offset: int, fix_crc: bool) -> bytes:
    buf = bytearray(data)
    buf[offset] ^= 0x5A
    if fix_crc:  # a hostile edge recomputes the payload CRC
        fix_payload_crc(buf)
    return bytes(buf)


def test_header_errors_are_typed(small_codec, test_image):
    data = small_codec.encode(test_image, 0.5)
    cases = {
        "bad magic": b"XXXX" + data[4:],
        "truncated": data[:10],
        "empty": b"",
        "cut payload": data[:-3],
        "trailing bytes": data + b"\0",
        "flipped payload bit": _corrupt(data, len(data) - 2, fix_crc=False),
    }
    for name, bad in cases.items():
        with pytest.raises(BitstreamError):
            small_codec.decode(bad)
        assert name


def test_hostile_payload_with_valid_crc_is_detected(small_codec, test_image):
    data = small_codec.encode(test_image, 0.5)
    detected = 0
    for offset in range(72, len(data)):
        bad = _corrupt(data, offset, fix_crc=True)
        try:
            small_codec.decode(bad)
        except BitstreamError:
            detected += 1
    # every payload byte flip with a recomputed CRC is caught by the latent checksums
    assert detected == len(data) - 72


V1_FIXTURE = Path(__file__).parent / "fixtures" / "frame_v1.polc"  # test image, α 0.5, enh.


def _flip(data: bytes, bit: int) -> bytes:
    buf = bytearray(data)
    buf[bit // 8] ^= 1 << (bit % 8)
    return bytes(buf)


def test_every_header_bit_is_under_a_checksum(small_codec, test_image):
    """A one-bit change anywhere in a header (α, geometry within the padding, flags,
    reserved bytes, lengths) is refused, never decoded as another frame."""
    container = small_codec.encoder.encode(test_image, 0.5, enhancement=True)
    data = container.to_bytes()
    assert data[4] == FORMAT_VERSION == 2
    header = struct.unpack_from("<H", data, 6)[0]
    for bit in range(8 * header):
        with pytest.raises(BitstreamError):
            FrameContainer.from_bytes(_flip(data, bit))
    layer = container.enhancement.to_bytes()
    enh_header = struct.unpack_from("<H", layer, 6)[0]
    for bit in range(8 * enh_header):
        with pytest.raises(BitstreamError):
            EnhancementLayer.from_bytes(_flip(layer, bit))
    # the cases, through the whole decoder: α 0.5 -> 0, width within the padding
    for offset, value in ((24, 0), (26, 95)):
        buf = bytearray(data)
        struct.pack_into("<H", buf, offset, value)
        with pytest.raises(BitstreamError, match="header CRC"):
            small_codec.decode(bytes(buf))


def test_version_1_containers_still_decode(small_codec, test_image):
    """A container written by format version 1 (no header CRC) parses and decodes to the
    same frame as today's version 2 of it: the payload is unchanged."""
    old = V1_FIXTURE.read_bytes()
    assert old[4] == 1
    parsed = FrameContainer.from_bytes(old)
    assert parsed.alpha_code == alpha_to_code(0.5) and parsed.enhancement is not None
    assert (parsed.geometry.width, parsed.geometry.height) == (96, 80)
    new = small_codec.encoder.encode(test_image, 0.5, enhancement=True)
    assert parsed.base_payload == new.base_payload
    assert parsed.enhancement.s_payload == new.enhancement.s_payload
    v1, v2 = small_codec.decode(old), small_codec.decode(new.to_bytes())
    for beta in (0.0, 1.0):
        assert np.array_equal(small_codec.reconstruct(v1, beta), small_codec.reconstruct(v2, beta))
    # a version-1 enhancement layer travelling alone attaches to a version-2 base layer
    base = small_codec.decode(new.base_bytes())
    enh_len = struct.unpack_from("<I", old, 64)[0]
    small_codec.attach_enhancement(base, old[-enh_len:])
    assert np.array_equal(small_codec.reconstruct(base, 0.0), small_codec.reconstruct(v1, 0.0))


def test_foreign_model_is_rejected(small_codec, test_image):
    data = bytearray(small_codec.encode(test_image, 0.5))
    data[8] ^= 0xFF  # inside the fingerprint
    fix_payload_crc(data)  # a well-formed frame of another model: its header CRC is valid
    with pytest.raises(BitstreamError, match="encoded by model"):
        small_codec.decode(bytes(data))


def test_integer_hyper_synthesis_is_order_independent(small_codec):
    hs = small_codec.wire.hyper
    rng = np.random.default_rng(1)
    z = rng.integers(-20, 21, size=(16, 3, 5))
    ref = hs(z)
    # a different summation order: split the matrix product into per-row dot products
    layer = hs.layers[0]
    twin = IntegerHyperSynthesis([])
    twin.layers = hs.layers
    out = twin(z)
    assert all(np.array_equal(a, b) for a, b in zip(ref, out, strict=True))
    a = np.asarray(z, np.float64)
    padded = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    cols = cols.transpose(0, 3, 4, 1, 2).reshape(16 * 9, -1)
    by_rows = np.stack(
        [np.sum(layer.weight[i][::-1] * cols[::-1].T, axis=1) for i in range(layer.weight.shape[0])]
    )
    assert np.array_equal(by_rows, layer.weight @ cols)


def _float64_reference(layers, z):
    """The plain float64 im2col + matrix product twin (exact below 2^53), all in numpy."""
    from polc.shared.codec.integer_hyper import A_FRAC, A_LIMIT, W_FRAC, Z_LIMIT

    def conv(layer, a):
        c, h, w = a.shape
        cols = np.lib.stride_tricks.sliding_window_view(
            np.pad(a, ((0, 0), (1, 1), (1, 1))), (3, 3), axis=(1, 2)
        )
        acc = layer.weight @ cols.transpose(0, 3, 4, 1, 2).reshape(c * 9, h * w) + layer.bias
        shift = layer.in_frac + W_FRAC - A_FRAC
        return np.clip(
            np.floor((acc + 2.0 ** (shift - 1)) / 2.0**shift), -A_LIMIT, A_LIMIT
        ).reshape(-1, h, w)

    def shuffle(a):
        c, h, w = a.shape
        return np.maximum(
            a.reshape(c // 4, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(c // 4, 2 * h, 2 * w), 0
        )

    a = np.clip(np.asarray(z, np.float64), -Z_LIMIT, Z_LIMIT)
    out = conv(layers[2], shuffle(conv(layers[1], shuffle(conv(layers[0], a)))))
    m = out.shape[0] // 2
    return out[:m].astype(np.int64), np.abs(out[m:]).astype(np.int64)


@pytest.mark.parametrize("weights", ["trained", "extreme"])
@pytest.mark.parametrize("gemm", ["int8", "float64-fallback"])
def test_int8_digit_gemm_equals_the_float64_twin(small_codec, weights, gemm, monkeypatch):
    """Both GEMM paths give the numpy float64 twin's integers, down to the limits
    (|w| = 2^16, |ẑ| = 2^12, activations clipped at 2^24, negative values, 1-pixel maps)."""
    from polc.shared.codec import integer_hyper
    from polc.shared.codec.integer_hyper import W_LIMIT, _digits

    assert integer_hyper.int8_gemm_is_exact()
    if gemm != "int8":
        monkeypatch.setattr(integer_hyper, "int8_gemm_is_exact", lambda: False)
    rng = np.random.default_rng(7)
    layers = small_codec.wire.hyper.layers
    if weights == "extreme":

        def spec(layer, i):
            w = rng.integers(-W_LIMIT, W_LIMIT + 1, layer.weight.shape)
            w[0] = W_LIMIT if i else -W_LIMIT
            return {
                "weight": w,
                "bias": rng.integers(-(2**36), 2**36, w.shape[0]),
                "in_frac": layer.in_frac,
            }

        hs = IntegerHyperSynthesis([spec(layer, i) for i, layer in enumerate(layers)])
    else:
        hs = small_codec.wire.hyper
    n = layers[0].weight.shape[1] // 9
    for h, w, scale in ((1, 1, 5), (3, 5, 50), (4, 7, 5000), (2, 3, 2**13)):
        z = rng.integers(-scale, scale + 1, (n, h, w))
        got, want = hs(z), _float64_reference(hs.layers, z)
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    t = torch.from_numpy(rng.integers(-(2**40), 2**40, 1000))
    d = _digits(t)
    assert d.dtype == torch.int8 and int(d.min()) >= -64 and int(d.max()) <= 63
    assert torch.equal(sum(d[i].long() << (7 * i) for i in range(d.shape[0])), t)


def test_integer_hyper_refuses_layers_that_could_round(small_codec):
    layer = small_codec.wire.hyper.layers[1]
    w = np.full(layer.weight.shape, 2**40)  # partial sums would pass 2^53
    with pytest.raises(ValueError, match="2\\^53"):
        IntegerHyperSynthesis([{"weight": w, "bias": np.zeros(w.shape[0], np.int64), "in_frac": 0}])


def test_float_and_integer_hyper_synthesis_agree_closely(small_codec):
    z = torch.randint(-6, 7, (1, 16, 3, 4)).float()
    with torch.no_grad():
        mu, sigma = small_codec.model.h_s(z)
    mi, si = small_codec.wire.hyper(z[0].numpy().astype(np.int64))
    assert np.abs(mi / 256 - mu[0].numpy()).max() < 0.05
    assert np.abs(si / 256 - sigma[0].numpy()).max() < 0.05


_ENCODE_SCRIPT = """
import sys, hashlib, numpy as np, torch
torch.set_num_threads(int(sys.argv[2]))
from polc.shared.codec.runtime import Codec
c = Codec.load(sys.argv[1])
rng = np.random.default_rng(5)
img = (rng.random((70, 130, 3)) * 255).astype(np.uint8)
print(hashlib.sha256(c.encode(img, 0.3, enhancement=True)).hexdigest())
"""


def test_bitstream_identical_across_processes_and_thread_counts(small_codec_file):
    digests = {
        subprocess.run(
            [sys.executable, "-c", _ENCODE_SCRIPT, str(small_codec_file), str(n)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for n in (1, 2)
    }
    assert len(digests) == 1


def test_zigzag_escapes_round_trip_and_malformed_ones_are_refused():
    """Compact P-frame escapes: zigzag LEB128, |v| <= 2^30, one encoding per value."""
    values = np.array([0, -1, 1, 63, -64, 64, 2**20, -(2**30), 2**30, 7, -300], np.int64)
    raw = zigzag_varints(values)
    assert np.array_equal(read_zigzag_varints(raw, "escapes"), values)
    assert zigzag_varints(np.array([0, -1, 1, -64, 64])) == bytes([0, 1, 2, 127, 128, 1])
    with pytest.raises(BitstreamError):
        zigzag_varints(np.array([2**30 + 1]))
    for bad in (
        b"\x80",  # truncated
        b"\x80\x00",  # non-canonical
        b"\x80\x80\x80\x80\x80\x01",  # longer than 5 bytes
        b"\x82\x80\x80\x80\x08",  # 2^31 + 2: |v| > 2^30
    ):
        with pytest.raises(BitstreamError):
            read_zigzag_varints(bad, "escapes")
    assert read_uvarint(uvarint(2**63 - 1), 0, 2**63 - 1, "seq") == (2**63 - 1, 9)
    for bad in (b"\xff" * 10 + b"\x01", b"\x80\x00", b"\x81"):
        with pytest.raises(BitstreamError):
            read_uvarint(bad, 0, 2**63 - 1, "seq")
    with pytest.raises(BitstreamError, match="above its bound"):
        read_uvarint(uvarint(2**32), 0, 2**32 - 1, "length")
