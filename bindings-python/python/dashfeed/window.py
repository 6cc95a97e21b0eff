"""Window specifications for :class:`dashfeed.Aggregator`.

Each helper returns the configuration map that the core reads (``AggregatorConfig::from_value``), so
``Aggregator(window=tumbling("1s"))`` and ``Aggregator(window={"kind": "tumbling", "size": "1s"})`` are the
same. Durations are strings with a unit (``"250ms"``, ``"10s"``, ``"1m"``, ``"1h"``) or integers of ms.
"""

from __future__ import annotations

from typing import Union

Duration = Union[str, int]

__all__ = ["Duration", "tumbling", "hopping", "session", "count"]


def tumbling(size: Duration) -> dict[str, Union[str, int]]:
    """Fixed, non-overlapping windows aligned to the Unix epoch: window k covers [k·size, (k+1)·size)."""
    return {"kind": "tumbling", "size": size}


def hopping(size: Duration, slide: Duration) -> dict[str, Union[str, int]]:
    """Windows of ``size`` starting every ``slide`` (they overlap when slide < size)."""
    return {"kind": "hopping", "size": size, "slide": slide}


def session(gap: Duration) -> dict[str, Union[str, int]]:
    """Per-key sessions that end after ``gap`` without events; a bridging event merges two sessions."""
    return {"kind": "session", "gap": gap}


def count(n: int) -> dict[str, Union[str, int]]:
    """Every ``n`` events of a key form a window."""
    return {"kind": "count", "n": n}
