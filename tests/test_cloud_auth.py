"""Bearer tokens with roles, TLS and mutual TLS."""

from __future__ import annotations

import hashlib

import grpc
import pytest
from fixtures.cloud import make_config, mutual_tls
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ingest_client import EdgeClient

from polc.cloud.server_thread import ServerThread
from polc.v1 import query_pb2, query_pb2_grpc, reconstruct_pb2, reconstruct_pb2_grpc

OK = grpc.StatusCode
CAM_TOKEN = "camera-token-0123456789"
OP_TOKEN = "operator-token-0123456789"


def _tokens() -> list[dict]:
    return [
        {"name": "cam-1-edge", "token": CAM_TOKEN, "role": "camera", "cameras": ["cam-1"]},
        {
            "name": "ops",
            "token_sha256": hashlib.sha256(OP_TOKEN.encode()).hexdigest(),
            "role": "operator",
        },
    ]


@pytest.fixture
def secured(tmp_path, small_codec, small_codec_file):
    cfg = make_config(tmp_path, small_codec_file, None, **{"auth.tokens": _tokens()})
    with ServerThread(cfg, small_codec) as server:
        yield server


def _md(token: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def test_ingest_needs_a_camera_token_for_its_camera(secured, frames):
    for token, camera, code in (
        (None, "cam-1", OK.UNAUTHENTICATED),
        ("wrong-token-0123456789", "cam-1", OK.UNAUTHENTICATED),
        (CAM_TOKEN, "cam-2", OK.PERMISSION_DENIED),
        (OP_TOKEN, "cam-1", OK.PERMISSION_DENIED),
    ):
        edge = EdgeClient(secured.address, camera, token=token)
        assert edge.recv() is None, (token, camera)
        assert edge.status.code() == code, (token, camera, edge.status)
        edge.close()
    edge = EdgeClient(secured.address, "cam-1", token=CAM_TOKEN)
    assert edge.recv().HasField("hello_ack")
    edge.frame(0, frames["base"])
    edge.frame(1, frames["base"], camera_id="cam-2")  # its token does not cover cam-2
    got = edge.collect(2)
    assert [a.seq for a in got["ack"]] == [0]
    assert got["error"][0].code == OK.PERMISSION_DENIED.value[0]
    edge.close()


def test_query_and_reconstruct_need_the_operator_role(secured, frames):
    edge = EdgeClient(secured.address, "cam-1", token=CAM_TOKEN)
    assert edge.recv().HasField("hello_ack")
    edge.frame(0, frames["base"])
    edge.collect(1)
    edge.close()
    with grpc.insecure_channel(secured.address) as ch:
        query = query_pb2_grpc.QueryServiceStub(ch)
        rec = reconstruct_pb2_grpc.ReconstructServiceStub(ch)
        req = reconstruct_pb2.ReconstructRequest(camera_id="cam-1", seq=0, beta=1.0)
        for token, code in (
            (None, OK.UNAUTHENTICATED),
            ("nope-0123456789abcdef", OK.UNAUTHENTICATED),
            (CAM_TOKEN, OK.PERMISSION_DENIED),
        ):
            with pytest.raises(grpc.RpcError) as err:
                query.ListCameras(query_pb2.ListCamerasRequest(), metadata=_md(token))
            assert err.value.code() == code
            with pytest.raises(grpc.RpcError) as err:
                rec.Reconstruct(req, metadata=_md(token))
            assert err.value.code() == code
        cams = query.ListCameras(query_pb2.ListCamerasRequest(), metadata=_md(OP_TOKEN))
        assert cams.cameras[0].camera_id == "cam-1"
        assert rec.Reconstruct(req, metadata=_md(OP_TOKEN)).width == 96
        # health needs no token (load balancers probe it)
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert status.status == health_pb2.HealthCheckResponse.SERVING


def test_mutual_tls(tmp_path, small_codec, small_codec_file, pki):
    cfg = make_config(tmp_path, small_codec_file, None, **mutual_tls(pki))
    ca = (pki / "ca.pem").read_bytes()
    with ServerThread(cfg, small_codec) as server:
        address = f"localhost:{server.server.port}"
        with_cert = grpc.ssl_channel_credentials(
            ca, (pki / "client.key").read_bytes(), (pki / "client.pem").read_bytes()
        )
        with grpc.secure_channel(address, with_cert) as ch:
            cams = query_pb2_grpc.QueryServiceStub(ch).ListCameras(
                query_pb2.ListCamerasRequest(), timeout=10
            )
            assert list(cams.cameras) == []
        # the operator CLI over mutual TLS
        from polc.app.cli import main

        assert (
            main(
                [
                    "frames",
                    "--server",
                    address,
                    "--ca",
                    str(pki / "ca.pem"),
                    "--cert",
                    str(pki / "client.pem"),
                    "--key",
                    str(pki / "client.key"),
                ]
            )
            == 0
        )
        assert (
            main(["frames", "--server", address, "--ca", str(pki / "ca.pem"), "--timeout", "5"])
            == 2
        )  # no client certificate
        with grpc.secure_channel(address, grpc.ssl_channel_credentials(ca)) as ch:
            with pytest.raises(grpc.RpcError) as err:  # no client certificate
                query_pb2_grpc.QueryServiceStub(ch).ListCameras(
                    query_pb2.ListCamerasRequest(), timeout=10
                )
            assert err.value.code() == OK.UNAVAILABLE
        with grpc.insecure_channel(address) as ch:
            with pytest.raises(grpc.RpcError):  # plaintext against a TLS port
                query_pb2_grpc.QueryServiceStub(ch).ListCameras(
                    query_pb2.ListCamerasRequest(), timeout=10
                )
