"""The ingest stream (IngestService): an edge's frames in, acks / results / errors out.

validation  checks that need no decoding (camera, seq, size, container, enhancement)
admission   StreamAdmission: token, Hello, role, model before a stream is served
decoding    OrderedDecoder: entropy decoding before storing, in order per camera
session     one open stream (outbound queue, ack batching) and the EdgeRegistry
uploads     EnhancementUploads: enhancement layers uploaded on demand
frames      FrameIntake: one frame to its answer: exactly-once storage, ack or error
servicer    IngestServicer: the RPC and the stream's reader (the flow diagram);
            the analysis behind the acks is ``polc.cloud.analysis``
"""
