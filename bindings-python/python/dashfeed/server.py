"""The feed server as Python users start it: ``with Server(hub) as s`` or ``async with Server(hub) as s``.

The server is the Rust core's and runs on its own threads; ``async with`` only moves the blocking
``stop()`` off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import _native

__all__ = ["Server"]


class Server(_native.Server):
    """``Server(hub, host="127.0.0.1", port=0, auth=None, allowed_origins=None, ...)``.

    Endpoints: ``/ws`` (subprotocols ``dashfeed.v1.json`` / ``dashfeed.v1.msgpack``), ``/dashboard/{id}``,
    ``/sse/{id}``, ``/api/dashboards/{id}``, ``POST /api/events``, ``/metrics``, ``/healthz``. ``auth`` is
    ``None`` (off) or ``{"secret": ...}`` (HS256) / ``{"public_key": PEM, "algorithm": "RS256" | "ES256"}``.
    """

    async def __aenter__(self) -> "Server":
        self.start()
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)
