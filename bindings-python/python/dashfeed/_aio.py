"""``async for msg in subscription``: asyncio integration of the native Subscription.

No busy polling: when the queue is empty the iterator registers a waker with the core, which calls
``loop.call_soon_threadsafe`` from whichever thread publishes next (the core also calls it at once if a
message is already waiting, so there is no lost-wakeup window). Messages are fetched in batches.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
from typing import TYPE_CHECKING, Deque

from ._native import ClosedError

if TYPE_CHECKING:
    from ._native import Message, Subscription

BATCH = 256


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _wake_threadsafe(loop: asyncio.AbstractEventLoop, thread: int, fut: asyncio.Future[None]) -> None:
    if threading.get_ident() == thread:
        # Published from the loop's own thread: no need for the self-pipe write of call_soon_threadsafe.
        loop.call_soon(_wake, fut)
        return
    try:
        loop.call_soon_threadsafe(_wake, fut)
    except RuntimeError:  # the loop was closed meanwhile: nobody is waiting any more
        pass


class AsyncMessages:
    """The async iterator returned by ``Subscription.__aiter__``."""

    __slots__ = ("_sub", "_buf")

    def __init__(self, sub: Subscription) -> None:
        self._sub = sub
        self._buf: Deque[Message] = collections.deque()

    def __aiter__(self) -> AsyncMessages:
        return self

    async def __anext__(self) -> Message:
        if self._buf:
            return self._buf.popleft()
        sub = self._sub
        while True:
            try:
                msgs = sub.try_recv_many(BATCH)
            except ClosedError:
                raise StopAsyncIteration from None
            if msgs:
                self._buf.extend(msgs)
                return self._buf.popleft()
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            sub.set_waker(functools.partial(_wake_threadsafe, loop, threading.get_ident(), fut))
            await fut


def iterate(sub: Subscription) -> AsyncMessages:
    """Returns an async iterator over ``sub``."""
    return AsyncMessages(sub)
