"""What the HTTP handlers work with: the cloud's store, queries, live hub, edges and
reconstructor (the same objects the gRPC services use), reached through the aiohttp
application (``request.app[CONTEXT]``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from polc.cloud.auth import Authenticator
from polc.cloud.config import CloudConfig
from polc.cloud.events.hub import LiveHub
from polc.cloud.ingest.session import EdgeRegistry
from polc.cloud.metrics import CloudMetrics
from polc.cloud.reconstructor import FrameReconstructor
from polc.cloud.search.queries import SearchQueries
from polc.cloud.store.interface import FrameStore

T = TypeVar("T")


@dataclass
class ConsoleContext:
    config: CloudConfig
    store: FrameStore
    queries: SearchQueries
    hub: LiveHub
    registry: EdgeRegistry
    reconstructor: FrameReconstructor
    auth: Authenticator
    metrics: CloudMetrics
    io: concurrent.futures.Executor  # the store's thread pool: its calls block

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking store call, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)


CONTEXT = web.AppKey("context", ConsoleContext)


def context_of(request: web.Request) -> ConsoleContext:
    return request.app[CONTEXT]
