"""`polc demo`: the whole system on the bundled default model, no arguments, no network.

    synthetic traffic clip ─► edge node (encode, spool, uplink) ══ gRPC, loopback ══►
        cloud service (store, decode, analyzer) ─► per-frame results ─► accuracy vs truth
    operator ─► Reconstruct(β = 1, 0.5, 0) ─► cloud ─► (β < 1: enhancement layer fetched
        from the edge on demand) ─► PNGs + PSNR

Everything runs in this process on free loopback ports and temporary directories; both
sides' Prometheus endpoints are up while the demo runs and are scraped into the output
folder at the end. Without the cloud package the demo falls back to the codec path only.

Modules: ``command`` (the ``polc demo`` arguments), ``streaming`` (edge + cloud in one
process), ``reconstruction`` (the operator's Reconstruct calls), ``frames`` (what is
recorded per frame), ``scoring`` (results against the clip's ground truth), ``report``
(the printed lines), ``codec_only`` (the codec path without edge and cloud).
"""

BETAS = (1.0, 0.5, 0.0)  # the β at which both paths reconstruct (enhancement weight)
