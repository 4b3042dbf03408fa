"""Analysis behind the ack: frames are acknowledged once stored, analysed afterwards.

backlog  AnalysisBacklog: the bounded in-memory queue of this replica, fed by new
         commits (decoded ŷ kept) and, after an overflow or a restart, refilled from
         the store (the durable queue: frames stored with ``analysis_pending``)
worker   AnalysisWorker: batches from the backlog ─► analyzer ─► conditional result
         write ─► FrameResult on the camera's stream; leases, lag and queue metrics
"""
