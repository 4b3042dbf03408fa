"""polc.cloud: the cloud service (ingest, decode, adapters, store, reconstruction)."""
