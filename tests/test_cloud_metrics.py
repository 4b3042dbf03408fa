"""/metrics: every documented metric is exported with Prometheus naming and types."""

from __future__ import annotations

import urllib.request

import grpc
from ingest_client import EdgeClient
from prometheus_client.parser import text_string_to_metric_families

from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc

EXPECTED = {
    "polc_cloud_frames_received": "counter",
    "polc_cloud_frames_decoded": "counter",
    "polc_cloud_frames_duplicate": "counter",
    "polc_cloud_frames_failed": "counter",
    "polc_cloud_received_bytes": "counter",
    "polc_cloud_frame_bpp": "histogram",
    "polc_cloud_decode_duration_seconds": "histogram",
    "polc_cloud_inference_duration_seconds": "histogram",
    "polc_cloud_batch_size": "histogram",
    "polc_cloud_batch_queue_frames": "gauge",
    "polc_cloud_open_streams": "gauge",
    "polc_cloud_streams_refused": "counter",
    "polc_cloud_ack_latency_seconds": "histogram",
    "polc_cloud_reconstruct_requests": "counter",
    "polc_cloud_reconstruct_duration_seconds": "histogram",
    "polc_cloud_enhancement_requests": "counter",
    "polc_cloud_store_size_bytes": "gauge",
    "polc_cloud_store_frames": "gauge",
    "polc_cloud_store_full": "gauge",
    "polc_cloud_store_deleted_frames": "counter",
    "polc_cloud_analysis_lag_seconds": "gauge",
    "polc_cloud_analysis_queue_frames": "gauge",
    "polc_cloud_frames_analyzed": "counter",
    "polc_cloud_analysis_skipped": "counter",
    "process_resident_memory_bytes": "gauge",
}


def test_metrics_endpoint(cloud, frames):
    edge = EdgeClient(cloud.address, "cam-m")
    edge.recv()
    edge.frame(0, frames["full"])
    edge.frame(0, frames["full"])
    edge.frame(1, b"junk")
    edge.collect(3)
    edge.close()
    with grpc.insecure_channel(cloud.address) as ch:
        reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct(
            reconstruct_pb2.ReconstructRequest(camera_id="cam-m", seq=0, beta=0.5), timeout=30
        )
    url = f"http://127.0.0.1:{cloud.server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, kind in EXPECTED.items():
        assert name in families, name
        assert families[name].type == kind, name
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert values[("polc_cloud_frames_received_total", (("site", ""),))] == 3
    assert values[("polc_cloud_frames_decoded_total", (("site", ""),))] == 1
    assert values[("polc_cloud_frames_duplicate_total", (("site", ""),))] == 1
    assert values[("polc_cloud_frames_failed_total", (("reason", "malformed"), ("site", "")))] == 1
    assert values[("polc_cloud_reconstruct_requests_total", (("outcome", "ok"), ("site", "")))] == 1
    assert values[("polc_cloud_batch_size_count", (("site", ""),))] >= 1
    assert values[("polc_cloud_open_streams", (("site", ""),))] == 0
    assert values[("polc_cloud_frames_analyzed_total", (("site", ""),))] == 1  # after close
    assert values[("polc_cloud_analysis_skipped_total", (("site", ""),))] == 0
    # cardinality: no per-camera label anywhere
    assert all(
        "camera" not in s.labels and "camera_id" not in s.labels
        for f in families.values()
        for s in f.samples
    )
