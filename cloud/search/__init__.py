"""Search over what the cloud saw: frames by detected objects, events; transport-free
(the gRPC SearchService and the HTTP API call :class:`~polc.cloud.search.queries.SearchQueries`)."""
