"""Redis and Kafka connectors as Python users start them.

Each class is the core's connector with its settings as keyword arguments — the keys of a ``[[source]]`` /
``[[sink]]`` entry of ``dashfeed serve --config`` (durations carry their unit in the name: ``block_ms``,
``ttl_s``). Unknown keys and wrong types raise :class:`InvalidInputError` naming the key. The connector runs
on the core's threads; events read by a source go straight into the ``Hub`` or ``Aggregator`` it is attached
to and never become Python objects.

``with`` / ``async with`` stop a source (committing what was applied) and close a sink (flushing what it
holds) on exit::

    hub = dashfeed.Hub()
    with RedisCache(url="redis://127.0.0.1:6379").attach(hub), \\
         KafkaSource(brokers="127.0.0.1:9092", topics=["dashboard-metrics"]).attach(hub):
        ...
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import threading
from typing import Any, Callable, Dict, Optional, Union

from . import _native

__all__ = [
    "KafkaSink",
    "KafkaSource",
    "Pipeline",
    "RedisCache",
    "RedisPubSubSink",
    "RedisPubSubSource",
    "RedisStreamSink",
    "RedisStreamSource",
    "Sink",
    "Source",
    "serve",
]

Config = Union[str, "os.PathLike[str]", Dict[str, Any]]


def _end(end: Callable[[], None], exc: Optional[BaseException]) -> None:
    """Runs ``end`` (a stop or close) on leaving ``with``: when the block raised, its exception is the one
    that propagates and a failure of ``end`` is attached to it as a note."""
    try:
        end()
    except _native.DashfeedError as e:
        if exc is None:
            raise
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(f"and leaving the block failed too: {e} (code {e.code})")


class Source(_native.Source):
    """A broker source: ``attach(hub_or_aggregator)`` starts it, ``stop()`` (or leaving ``with``) ends it."""

    _kind = ""

    def __new__(cls, **options: Any) -> "Source":
        if not cls._kind:
            raise _native.InvalidInputError("use a named source class (RedisStreamSource, KafkaSource, ...)")
        return super().__new__(cls, cls._kind, options)

    def attach(self, target: Union[_native.Hub, _native.Aggregator]) -> "Source":  # type: ignore[override]
        """Starts reading into ``target``; returns the source (for ``with src.attach(hub):``)."""
        super().attach(target)
        return self

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, _type: Any, exc: Optional[BaseException], _tb: Any) -> None:
        _end(self.stop, exc)

    async def __aenter__(self) -> "Source":
        return self

    async def __aexit__(self, _type: Any, exc: Optional[BaseException], _tb: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, _end, self.stop, exc)


class Sink(_native.Sink):
    """A broker sink: ``attach(hub)`` taps every publication; ``close()`` (or leaving ``with``) flushes."""

    _kind = ""

    def __new__(cls, **options: Any) -> "Sink":
        if not cls._kind:
            raise _native.InvalidInputError("use a named sink class (RedisCache, KafkaSink, ...)")
        return super().__new__(cls, cls._kind, options)

    def attach(self, hub: _native.Hub) -> "Sink":  # type: ignore[override]
        """Taps ``hub``; returns the sink (for ``with sink.attach(hub):``)."""
        super().attach(hub)
        return self

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, _type: Any, exc: Optional[BaseException], _tb: Any) -> None:
        _end(self.close, exc)

    async def __aenter__(self) -> "Sink":
        return self

    async def __aexit__(self, _type: Any, exc: Optional[BaseException], _tb: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, _end, self.close, exc)


class RedisStreamSource(Source):
    """``XREADGROUP`` on ``stream`` as ``group``; ``XACK`` after each event is applied; a dead consumer's
    pending entries claimed after ``claim_idle_ms``. Options: ``url``, ``stream``, ``group``, ``consumer``,
    ``count``, ``block_ms``, ``claim_idle_ms``, ``field``, ``format``, ``max_message_bytes``, ``dead_letter``."""

    _kind = "redis_stream"


class RedisPubSubSource(Source):
    """``SUBSCRIBE`` / ``PSUBSCRIBE`` (at most once, as pub/sub is). Options: ``url``, ``channels``,
    ``patterns``, ``format``, ``max_message_bytes``."""

    _kind = "redis_pubsub"


class KafkaSource(Source):
    """A consumer group on ``topics``, at least once: an offset is stored only after its event was applied
    and committed on revoke and on stop. Options: ``brokers``, ``topics``, ``group``, ``batch``, ``format``,
    ``max_message_bytes``, ``dead_letter``, ``session_timeout_ms``, ``properties`` (librdkafka settings)."""

    _kind = "kafka"


class RedisCache(Sink):
    """Latest value per metric: ``HSET {prefix}{dashboard} {metric} {"value", "timestamp", "metadata"}``, one
    pipelined round trip per batch; ``load(id)`` gives a hash back, ``seed(hub)`` fills a hub's snapshots.
    Options: ``url``, ``prefix`` (default ``"dashboard:"``), ``ttl_s``, ``seed``, ``seed_max``, ``queue``."""

    _kind = "redis_cache"


class RedisStreamSink(Sink):
    """``XADD stream MAXLEN ~ maxlen``, pipelined. Options: ``url``, ``stream``, ``maxlen``, ``field``,
    ``format``, ``queue``."""

    _kind = "redis_stream"


class RedisPubSubSink(Sink):
    """``PUBLISH`` each publication on ``channel`` (``{dashboard}`` is replaced). Options: ``url``,
    ``channel``, ``format``, ``queue``."""

    _kind = "redis_pubsub"


class KafkaSink(Sink):
    """An idempotent producer writing each publication to ``topic`` (default ``dashboard-updates``), keyed by
    dashboard. Options: ``brokers``, ``topic``, ``format``, ``message_timeout_ms``, ``properties``,
    ``queue``."""

    _kind = "kafka"


class Pipeline(_native.Pipeline):
    """Sources → dedupe → aggregator → hub → sinks and the server, from the ``dashfeed serve`` config.

    ``Pipeline(config, hub=None)`` with TOML text, a dict or a ``pathlib.Path``; ``Pipeline.from_file(path)``;
    ``Pipeline.from_config(c)`` (a path given as ``str`` too). ``with`` / ``async with`` start and stop it.
    With ``hub``, the pipeline runs around a hub the caller also publishes to (``[hub]`` is then ignored).
    """

    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"], *, hub: Optional[_native.Hub] = None) -> "Pipeline":
        """Reads a TOML config file; errors name the file, the key and the line."""
        return cls(pathlib.Path(path), hub=hub)

    @classmethod
    def from_config(cls, config: Config, *, hub: Optional[_native.Hub] = None) -> "Pipeline":
        """A pipeline from a path (``str`` or ``os.PathLike``) to a TOML file, TOML text or a dict."""
        if isinstance(config, str) and "\n" not in config and (os.path.isfile(config) or "=" not in config):
            return cls.from_file(config, hub=hub)  # a missing file is an error naming it, not bad TOML
        return cls(config, hub=hub)

    def __enter__(self) -> "Pipeline":
        self.start()
        return self

    def __exit__(self, _type: Any, exc: Optional[BaseException], _tb: Any) -> None:
        _end(self.stop, exc)

    async def __aenter__(self) -> "Pipeline":
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(self, _type: Any, exc: Optional[BaseException], _tb: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, _end, self.stop, exc)


def serve(config: Config, *, hub: Optional[_native.Hub] = None) -> None:
    """Runs the pipeline of ``config`` (a path, TOML text or a dict) until SIGINT or SIGTERM, then stops it
    gracefully: sources commit what was applied, sinks flush, clients get close 1001. Main thread only."""
    pipeline = Pipeline.from_config(config, hub=hub)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        pipeline.start()  # a signal during a slow start (seeding, a group join) stops right after it
        print(f"dashfeed serve: listening at {pipeline.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        try:
            pipeline.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
