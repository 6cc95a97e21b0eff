"""The circuit breaker and rate limiter from Python: sync, asyncio, decorator, listeners, concurrency."""

from __future__ import annotations

import asyncio
import threading
import traceback
from typing import Any

import pytest

import dashfeed


class Boom(Exception):
    pass


def test_rejected_call_does_not_call_fn_and_carries_retry_after() -> None:
    clock = dashfeed.ManualClock()
    b = dashfeed.CircuitBreaker(failure_threshold=2, reset_timeout=30, clock=clock)
    calls: list[int] = []

    def bad() -> None:
        calls.append(1)
        raise Boom()

    for _ in range(2):
        with pytest.raises(Boom):
            b.call(bad)
    assert b.state == "open"
    clock.advance(10)
    with pytest.raises(dashfeed.CircuitOpenError) as info:
        b.call(bad)
    assert calls == [1, 1]
    assert info.value.code == "circuit_open"
    assert info.value.retry_after == pytest.approx(20.0)
    assert isinstance(info.value, dashfeed.DashfeedError)


def test_the_original_exception_passes_through_unchanged() -> None:
    b = dashfeed.CircuitBreaker()
    original = Boom("same object")

    def raiser() -> None:
        raise original

    with pytest.raises(Boom) as info:
        b.call(raiser)
    assert info.value is original
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(f.name == "raiser" for f in frames)


def test_args_kwargs_and_return_value() -> None:
    b = dashfeed.CircuitBreaker()
    assert b.call(lambda a, b=0: a + b, 2, b=3) == 5
    assert b.stats["successes"] == 1 and b.stats["calls"] == 1


def test_excluded_errors_do_not_count() -> None:
    b = dashfeed.CircuitBreaker(failure_threshold=1, excluded=(KeyError,))
    with pytest.raises(KeyError):
        b.call(lambda: {}["missing"])
    assert b.state == "closed" and b.stats["ignored"] == 1
    b2 = dashfeed.CircuitBreaker(failure_threshold=1, excluded=KeyError)
    with pytest.raises(KeyError):
        b2.call(lambda: {}["x"])
    assert b2.state == "closed"


def test_fallback_answers_rejections_and_failures() -> None:
    b = dashfeed.CircuitBreaker(failure_threshold=1, fallback=lambda *a, **k: ("fallback", a, k))

    def bad(x: int) -> int:
        raise Boom()

    assert b.call(bad, 1) == ("fallback", (1,), {})
    assert b.state == "open"
    assert b.call(bad, 2, y=3) == ("fallback", (2,), {"y": 3})
    assert b.stats["rejections"] == 1


def test_listeners_and_on_state_change() -> None:
    clock = dashfeed.ManualClock()
    changes: list[tuple[str, str]] = []
    events: list[dict[str, Any]] = []
    b = dashfeed.CircuitBreaker(failure_threshold=1, reset_timeout=1, clock=clock,
                                on_state_change=lambda old, new: changes.append((old, new)))
    lid = b.add_listener(events.append)
    with pytest.raises(Boom):
        b.call(lambda: (_ for _ in ()).throw(Boom()))
    with pytest.raises(dashfeed.CircuitOpenError):
        b.call(lambda: 1)
    clock.advance(1)
    assert b.call(lambda: 1) == 1
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["failure", "state_change", "rejected"]
    assert "success" in kinds
    assert b.remove_listener(lid) and not b.remove_listener(lid)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_failing_listener_never_breaks_the_call() -> None:
    b = dashfeed.CircuitBreaker()

    def broken(_ev: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    b.add_listener(broken)
    assert b.call(lambda: 42) == 42


def test_manual_open_close_reset_and_stats() -> None:
    b = dashfeed.CircuitBreaker()
    b.open()
    assert b.state == "open"
    with pytest.raises(dashfeed.CircuitOpenError):
        b.call(lambda: 1)
    b.close()
    assert b.call(lambda: 1) == 1
    b.reset()
    assert b.stats == {"state": "closed", "calls": 0, "successes": 0, "failures": 0, "ignored": 0,
                       "rejections": 0, "slow_calls": 0, "timeouts": 0, "state_changes": 0}


def test_invalid_configuration_has_a_code() -> None:
    with pytest.raises(dashfeed.InvalidInputError) as info:
        dashfeed.CircuitBreaker(failure_rate=1.5)
    assert info.value.code == "invalid_input"
    with pytest.raises(ValueError):
        dashfeed.CircuitBreaker(reset_timeout=-1)


def test_decorator_keeps_name_and_docstring_sync_and_async() -> None:
    b = dashfeed.CircuitBreaker(failure_threshold=1)

    @b
    def fetch(x: int) -> int:
        """Fetches x."""
        return x * 2

    @b
    async def afetch(x: int) -> int:
        """Fetches x later."""
        await asyncio.sleep(0)
        return x * 3

    assert fetch.__name__ == "fetch" and fetch.__doc__ == "Fetches x."
    assert afetch.__name__ == "afetch" and afetch.__doc__ == "Fetches x later."
    assert fetch(2) == 4
    assert asyncio.run(afetch(2)) == 6
    assert b.stats["successes"] == 2


async def test_call_async_with_coroutines_timeouts_and_errors() -> None:
    b = dashfeed.CircuitBreaker(failure_threshold=2, timeout=0.05)

    async def ok(x: int) -> int:
        await asyncio.sleep(0)
        return x

    never = asyncio.Event()

    async def hangs() -> None:
        await never.wait()

    original = Boom("async")

    async def fails() -> None:
        raise original

    assert await b.call_async(ok, 5) == 5
    assert await b.call_async(lambda: 7) == 7  # plain functions work too
    with pytest.raises(dashfeed.TimeoutError) as info:
        await b.call_async(hangs)
    assert info.value.code == "timeout" and isinstance(info.value, TimeoutError)
    assert str(info.value) == "timed out after 50ms"  # the core's message, as in Rust and Node
    with pytest.raises(Boom) as err:
        await b.call_async(fails)
    assert err.value is original
    assert b.state == "open" and b.stats["timeouts"] == 1
    with pytest.raises(dashfeed.CircuitOpenError):
        await b.call_async(ok, 1)


async def test_call_async_fallback_and_exclusion() -> None:
    async def fb(*_a: Any) -> str:
        return "cached"

    b = dashfeed.CircuitBreaker(failure_threshold=1, fallback=fb, excluded=(KeyError,))

    async def missing() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        await b.call_async(missing)
    assert b.state == "closed"

    async def bad() -> None:
        raise Boom()

    assert await b.call_async(bad) == "cached"
    assert b.state == "open"
    assert await b.call_async(bad) == "cached"


def test_half_open_permits_are_exact_under_threads() -> None:
    clock = dashfeed.ManualClock()
    b = dashfeed.CircuitBreaker(failure_threshold=1, reset_timeout=1, half_open_max_calls=3,
                                success_threshold=100, clock=clock)
    with pytest.raises(Boom):
        b.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(1)
    granted: list[dashfeed.Permit] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def grab() -> None:
        start.wait()
        for _ in range(200):
            try:
                p = b.acquire()
            except dashfeed.CircuitOpenError:
                continue
            with lock:
                granted.append(p)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(granted) == 3
    assert b.stats["rejections"] == 8 * 200 - 3


def test_permit_reports_once() -> None:
    b = dashfeed.CircuitBreaker()
    p = b.acquire()
    p.success(0.01)
    with pytest.raises(dashfeed.InvalidInputError):
        p.failure()


def test_rate_limiter_check_try_acquire_and_async_acquire() -> None:
    clock = dashfeed.ManualClock()
    lim = dashfeed.RateLimiter(10, 2, clock=clock)
    assert lim.check("a") and lim.check("a")
    d = lim.check("a")
    assert not d and d.retry_after == pytest.approx(0.1)
    assert lim.check("b")  # keys are independent
    with pytest.raises(dashfeed.RateLimitedError) as info:
        lim.try_acquire("a")
    assert info.value.code == "rate_limited" and info.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    lim.try_acquire("a")
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.RateLimiter(0)

    real = dashfeed.RateLimiter(1000, 1)

    async def take_three() -> None:
        for _ in range(3):
            await real.acquire("k")

    asyncio.run(asyncio.wait_for(take_three(), timeout=10))
