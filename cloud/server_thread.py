"""ServerThread: a CloudServer in its own thread and event loop, for tests, benchmarks and
embedding (the demo); ``polc cloud serve`` runs the server on the main thread instead."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from polc.cloud.config import CloudConfig
from polc.cloud.server import CloudServer
from polc.shared.codec.runtime import Codec


class ServerThread:
    """A CloudServer in its own thread and event loop (tests, benchmarks, embedding)."""

    def __init__(self, config: CloudConfig, codec: Codec | None = None):
        self.server = CloudServer(config, codec)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="polc-cloud"
        )

    def start(self) -> ServerThread:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(60)
        except BaseException:
            self.stop(0)
            raise
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def store_path(self) -> Path:
        return self.server.config.store.path

    def stop(self, grace: float = 2.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(grace), self._loop).result(60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
