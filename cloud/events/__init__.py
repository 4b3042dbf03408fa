"""What the analysis saw, live: the tracker turning detections into events, the recorder
storing them, the hub fanning results and event changes out to watchers (gRPC WatchResults,
the console's live stream, MQTT)."""
