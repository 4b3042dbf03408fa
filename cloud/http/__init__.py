"""The cloud's HTTP face (``http.listen``, off by default): a JSON API over the same
transport-free queries and reconstruction the gRPC services use, live updates as
Server-Sent Events, and the web console (static files of :mod:`polc.cloud.console`).

    aiohttp, in the cloud's event loop ─► app.py (routes, TLS, shutdown)
        auth.py    bearer header or login session cookie ─► Principal (operator / admin)
        api.py     /api/status, cameras, frames search, events, frame detail
        images.py  /api/frames/{camera}/{seq}/image?beta= (FrameReconstructor, β = 1 cache)
        live.py    /api/live (SSE from the LiveHub; a slow client is dropped)
        params.py  query-string parsing; errors.py: every refusal as JSON
        views.py   records, results and events as JSON
"""
