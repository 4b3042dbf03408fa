"""The fault suite, disk full: the cloud's store on a small tmpfs the test mounts (root, as in
CI; skipped otherwise). Stream, fill the disk, stream on, free the space: the cloud never
crashes, every frame that did not fit gets a typed, retryable refusal (RESOURCE_EXHAUSTED
"store full", issue 15 item 7), the edge resends it, and everything ends stored once.

The edge side of a full disk is tested next to the edge's own code: the spool on a full tmpfs
(tests/test_edge_spool.py) and the node capturing on with a full disk
(tests/test_edge_node.py)."""

from __future__ import annotations

from pathlib import Path

import grpc
from disk_support import fill, small_tmpfs
from ingest_client import EdgeClient

from polc.bench.cloud_process import CloudProcess, small_cloud_config
from polc.cloud.store.sqlite import SQLiteFrameStore

BEFORE, DURING = 5, 10  # frames stored before the disk fills, frames sent while it is full


def test_cloud_store_disk_full_then_freed(
    tmp_path: Path, small_codec_file: Path, frames: dict[str, bytes]
) -> None:
    with small_tmpfs(tmp_path / "disk", size="4m") as disk:
        cloud = CloudProcess(
            small_cloud_config(disk / "store", small_codec_file, None), tmp_path
        ).start()
        try:
            edge = EdgeClient(cloud.address, "cam-disk")
            assert edge.recv(30).HasField("hello_ack")
            for seq in range(BEFORE):
                edge.frame(seq, frames["base"])
            assert not edge.collect(BEFORE, timeout=60)["error"]

            filler = fill(disk)
            for seq in range(BEFORE, BEFORE + DURING):
                edge.frame(seq, frames["base"])
            got = edge.collect(DURING, timeout=60)
            assert cloud.alive(), cloud.log_tail()
            refused = got["error"]
            assert refused, "nothing refused on a full disk: the test proves nothing"
            for err in refused:  # typed: the edge knows to keep the frame and resend it
                assert (err.code, err.retryable) == (
                    grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                    True,
                ), err
                assert "store full" in err.message, err

            filler.unlink()  # space again: the resends are stored
            for err in refused:
                edge.frame(err.seq, frames["base"])
            again = edge.collect(len(refused), timeout=60)
            assert not again["error"], again["error"]
            edge.close()
            assert cloud.stop() == 0, cloud.log_tail()
        finally:
            cloud.kill()
        store = SQLiteFrameStore(disk / "store")
        try:
            records = store.list_frames("cam-disk", limit=1000)
            assert [r.seq for r in records] == list(range(BEFORE + DURING))
            assert all(store.read_base("cam-disk", r.seq) == frames["base"] for r in records)
        finally:
            store.close()
