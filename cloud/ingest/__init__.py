"""The ingest stream (IngestService): an edge's frames in, acks / results / errors out.

    validation  checks that need no decoding (camera, seq, size, container, enhancement)
    pipeline    FrameProcessor: the batch function (entropy decode + analyzer)
    session     one open stream (outbound queue, ack batching) and the EdgeRegistry
    servicer    IngestServicer: the RPC, exactly-once storage, acks (the flow diagram)
"""
