"""The circuit breaker and rate limiter as Python users call them.

The state machine and the limiter are the Rust core's (``dashfeed._native``); this module adds what only
Python can do: awaiting coroutines (``call_async`` with an optional timeout), the ``@breaker`` decorator for
sync and async functions, and ``await limiter.acquire(key)``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar, Union, cast

from . import _native
from ._native import CircuitOpenError

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")

T = TypeVar("T")

__all__ = ["CircuitBreaker", "RateLimiter", "CircuitOpenError"]


class CircuitBreaker(_native.CircuitBreaker):
    """A circuit breaker (states ``closed``, ``open``, ``half_open``) guarding calls to a flaky dependency.

    ``CircuitBreaker(failure_threshold=5, reset_timeout=60.0, half_open_max_calls=1, success_threshold=1,
    failure_rate=None, minimum_calls=None, rate_window=None, rate_window_seconds=None, rate_buckets=10,
    slow_call_duration=None, timeout=None, excluded=(), fallback=None, on_state_change=None, clock=None)``

    - ``call(fn, *args, **kw)`` runs ``fn`` through the breaker; ``await call_async(fn, *args, **kw)`` does
      the same for coroutine functions (and plain ones), enforcing ``timeout``;
    - ``@breaker`` decorates sync and async functions, keeping their name and docstring;
    - a rejected call raises ``CircuitOpenError`` (``.code == "circuit_open"``, ``.retry_after`` seconds)
      without calling ``fn``, or returns ``fallback(*args, **kw)`` when a fallback is set (the fallback also
      answers for failed calls); the exception ``fn`` raises passes through unchanged;
    - exceptions that are instances of ``excluded`` do not count;
    - durations are seconds (``reset_timeout=30`` is 30 s; the Node module takes ms). ``timeout``:
      ``call_async`` cancels an awaitable still pending after it and raises ``TimeoutError`` (or returns
      the fallback); ``call`` (and ``@breaker`` on a plain function) cannot interrupt synchronous code: a
      call lasting ``timeout`` or longer runs to the end, returns its result and counts as a failure (a
      timeout), so slow calls still open the breaker.
    """

    async def call_async(self, func: Callable[..., Union[Awaitable[T], T]], *args: Any, **kwargs: Any) -> T:
        """Awaits ``func(*args, **kwargs)`` through the breaker (see the class docstring).

        What is recorded and what answers (the value, the fallback or an error) is the core's decision
        (``_admit`` and ``_settle``); this only awaits, times and calls.
        """
        permit = self._admit()
        if permit is None:
            return cast(T, await self._fallback(args, kwargs))
        try:
            result = func(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await self._await_with_timeout(result)
        except BaseException as err:
            if self._settle(permit, err) == "raise":
                raise
            return cast(T, await self._fallback(args, kwargs))
        # raises the core's TimeoutError when the call timed out and no fallback answers
        if self._settle(permit, timed_out=result is _TIMED_OUT) == "fallback":
            return cast(T, await self._fallback(args, kwargs))
        return cast(T, result)

    async def _fallback(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``fallback(*args, **kwargs)``, awaited if it returns an awaitable (the core answers with the
        fallback only when one is set)."""
        fallback = cast(Callable[..., Any], self.fallback)
        return await _resolve(fallback(*args, **kwargs))

    async def _await_with_timeout(self, awaitable: Awaitable[Any]) -> Any:
        timeout = self.timeout
        if timeout is None:
            return await awaitable
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            return _TIMED_OUT
        return task.result()

    def __call__(self, func: Callable[P, T]) -> Callable[P, T]:
        """Decorates a sync or async function so that every call goes through the breaker."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.call_async(func, *args, **kwargs)

            return cast("Callable[P, T]", async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(func, *args, **kwargs)

        return cast("Callable[P, T]", wrapper)


_TIMED_OUT = object()


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class RateLimiter(_native.RateLimiter):
    """A keyed rate limiter: ``rate`` calls per second with bursts of ``burst`` per key (GCRA).

    ``check(key)`` takes a call if allowed and returns a ``RateDecision`` (truthy when allowed, with
    ``retry_after`` seconds otherwise); ``try_acquire(key)`` raises ``RateLimitedError`` instead;
    ``await acquire(key)`` waits until the call is allowed.
    """

    async def acquire(self, key: str) -> None:
        """Waits (asynchronously) until a call for ``key`` is allowed, then takes it."""
        while True:
            decision = self.check(key)
            if decision:
                return
            await asyncio.sleep(decision.retry_after)
