"""Reconstruct at β from the store, including the on-demand enhancement-layer path."""

from __future__ import annotations

import io
import threading

import grpc
import numpy as np
import pytest
from ingest_client import EdgeClient
from PIL import Image

from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc

OK = grpc.StatusCode


def _reconstruct(
    address: str, seq: int, beta: float | None, camera: str = "cam-r", timeout: float = 30, **kw
) -> reconstruct_pb2.ReconstructResponse:
    req = reconstruct_pb2.ReconstructRequest(camera_id=camera, seq=seq, **kw)
    if beta is not None:
        req.beta = beta
    with grpc.insecure_channel(address) as ch:
        return reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct(req, timeout=timeout)


def _ingest(address: str, sends: list[tuple[int, bytes, bytes | None]]) -> None:
    edge = EdgeClient(address, "cam-r")
    assert edge.recv().HasField("hello_ack")
    for seq, base, enh in sends:
        edge.frame(seq, base, enh)
    assert not edge.collect(len(sends))["error"]
    edge.close()


def test_reconstruct_at_beta_with_stored_enhancement(cloud, frames, small_codec):
    _ingest(cloud.address, [(0, frames["base"], frames["enh"]), (1, frames["full"], None)])
    expected = small_codec.reconstruct(small_codec.decode(frames["full"]), 0.5)
    for seq in (0, 1):
        resp = _reconstruct(cloud.address, seq, 0.5)
        assert resp.mime_type == "image/png" and (resp.width, resp.height) == (96, 80)
        assert resp.beta == 0.5 and resp.enhancement_bpp > 0 and resp.base_bpp > 0
        assert not resp.enhancement_fetched
        image = np.asarray(Image.open(io.BytesIO(resp.image)))
        np.testing.assert_array_equal(image, expected)  # the server decodes bit-exactly
    default = _reconstruct(cloud.address, 0, None)  # unset β = 1: base layer only
    assert default.beta == 1.0 and default.enhancement_bpp == 0.0
    jpeg = _reconstruct(cloud.address, 0, 0.0, format=reconstruct_pb2.IMAGE_FORMAT_JPEG)
    assert jpeg.mime_type == "image/jpeg" and jpeg.image[:2] == b"\xff\xd8"


def test_reconstruct_status_codes(cloud, frames):
    _ingest(cloud.address, [(0, frames["base"], None)])
    for beta, code in (
        (1.5, OK.INVALID_ARGUMENT),
        (-0.1, OK.INVALID_ARGUMENT),
        (float("nan"), OK.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.RpcError) as err:
            _reconstruct(cloud.address, 0, beta)
        assert err.value.code() == code
    with pytest.raises(grpc.RpcError) as err:
        _reconstruct(cloud.address, 7, 1.0)
    assert err.value.code() == OK.NOT_FOUND
    # β < 1, no stored enhancement layer and no edge connected
    with pytest.raises(grpc.RpcError) as err:
        _reconstruct(cloud.address, 0, 0.5)
    assert err.value.code() == OK.FAILED_PRECONDITION
    assert "enhancement layer" in err.value.details()
    assert "not connected" in err.value.details()
    assert _reconstruct(cloud.address, 0, 1.0).width == 96  # β = 1 needs no enhancement


def _answer_requests(edge: EdgeClient, layer: bytes | None, answered: list) -> None:
    """A fake edge: answers every EnhancementRequest with ``layer`` (None: unavailable)."""
    while (msg := edge.recv(timeout=30)) is not None:
        if msg.HasField("enhancement_request"):
            req = msg.enhancement_request
            answered.append(req.seq)
            edge.send(
                enhancement_upload=dict(
                    request_id=req.request_id,
                    camera_id=req.camera_id,
                    seq=req.seq,
                    enhancement_layer=layer or b"",
                    unavailable=layer is None,
                    message="" if layer else "evicted from the edge spool",
                )
            )


def test_on_demand_enhancement_from_the_edge(cloud, frames):
    edge = EdgeClient(cloud.address, "cam-r", on_demand=True)
    assert edge.recv().HasField("hello_ack")
    edge.frame(0, frames["base"])
    assert edge.collect(1)["ack"][0].enhancement_stored is False
    answered: list[int] = []
    helper = threading.Thread(target=_answer_requests, args=(edge, frames["enh"], answered))
    helper.start()
    try:
        resp = _reconstruct(cloud.address, 0, 0.5)
        assert resp.enhancement_fetched and resp.enhancement_bpp > 0
        assert answered == [0]
        again = _reconstruct(cloud.address, 0, 0.25)  # now stored: no second request
        assert not again.enhancement_fetched and answered == [0]
        assert again.frame.has_enhancement
    finally:
        edge.half_close()
        helper.join(10)
        edge.close()


def test_on_demand_enhancement_unavailable_or_timeout(cloud, frames):
    edge = EdgeClient(cloud.address, "cam-r", on_demand=True)
    assert edge.recv().HasField("hello_ack")
    edge.frame(0, frames["base"])
    edge.frame(1, frames["plain"])
    assert len(edge.collect(2)["ack"]) == 2
    answered: list[int] = []
    helper = threading.Thread(target=_answer_requests, args=(edge, None, answered))
    helper.start()
    try:
        with pytest.raises(grpc.RpcError) as err:
            _reconstruct(cloud.address, 0, 0.5)
        assert err.value.code() == OK.FAILED_PRECONDITION
        assert "no longer holds" in err.value.details()
        assert "evicted" in err.value.details()
    finally:
        edge.half_close()
        helper.join(10)
        edge.close()
    # an edge that never answers: the wait is bounded by enhancement_wait
    silent = EdgeClient(cloud.address, "cam-r", on_demand=True)
    assert silent.recv().HasField("hello_ack")
    req = reconstruct_pb2.ReconstructRequest(camera_id="cam-r", seq=1, beta=0.0)
    req.enhancement_wait.FromMilliseconds(300)
    with grpc.insecure_channel(cloud.address) as ch:
        with pytest.raises(grpc.RpcError) as err:
            reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct(req, timeout=20)
    assert err.value.code() == OK.FAILED_PRECONDITION
    assert "did not upload" in err.value.details()
    silent.close()
