"""The sources of a :mod:`dashfeed.notebook` live view: one reader class per kind of source.

A reader runs on the view's background thread: ``step(board, stop, timeout)`` waits up to ``timeout``
seconds (never less than :data:`MIN_WAIT`) for data from its source, applies what it read to the view's
board, and returns False once the source has ended. ``interrupt()`` is called from another thread by
``stop()``; a reader that ends because ``stop`` is set reports no error (the view then says ``stopped``).

- :class:`_HubReader`: a ``Hub`` subscription (a blocking ``Subscription.recv`` that releases the GIL);
- :class:`_AggregatorReader`: ``Aggregator.poll()`` every ``interval``;
- :class:`_RemoteReader`: a ``websockets`` sync client of a dashfeed server that reconnects with backoff and
  resumes with ``?epoch=&seq=``; HTTP 4xx answers other than 429 are final.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._native import Aggregator, ClosedError, Hub, Message, Subscription, WindowResult, decode

if TYPE_CHECKING:
    from .notebook import _Board

MIN_WAIT = 1 / 60  # the shortest wait of a reader (seconds): a reader never spins


def _wait(timeout: float) -> float:
    return max(MIN_WAIT, timeout)


def series_name(metric: str, tags: Optional[Mapping[str, str]] = None) -> str:
    """The series key a window result is published under: ``metric``, or ``metric{k=v,...}`` (keys sorted)."""
    if not tags:
        return metric
    return metric + "{" + ",".join(f"{k}={tags[k]}" for k in sorted(tags)) + "}"


class _Reader:
    """One source. ``step(timeout)`` waits up to ``timeout`` s for data, applies it; False when it ended."""

    def step(self, board: _Board, stop: threading.Event, timeout: float) -> bool:
        raise NotImplementedError

    def interrupt(self) -> None:
        """Wakes a blocked :meth:`step` (called from another thread by ``stop()``)."""

    def close(self) -> None:
        """Releases the source (on the reader thread, once)."""


class _HubReader(_Reader):
    BATCH = 256
    ENDED = "the subscription ended (dashboard removed from the hub?)"

    def __init__(self, hub: Hub, dashboard: str) -> None:
        self.hub = hub  # held: the id of a live view's source is not reused (see notebook._register)
        self.sub: Subscription = hub.subscribe(dashboard)  # on the caller's thread: nothing after live() is missed

    def step(self, board: _Board, stop: threading.Event, timeout: float) -> bool:
        try:
            msg = self.sub.recv(timeout=_wait(timeout))
            if msg is None:
                if not self.sub.closed:
                    return True
                if not stop.is_set():  # closed by stop(): not an error
                    board.status("closed", self.ENDED)
                return False
            msgs: List[Message] = [msg]
            for _ in range(16):  # drain what is already queued, bounded
                more = self.sub.try_recv_many(self.BATCH)
                msgs.extend(more)
                if len(more) < self.BATCH:
                    break
        except ClosedError:
            if not stop.is_set():
                board.status("closed", self.ENDED)
            return False
        for m in msgs:
            board.apply(m.kind, m.epoch, m.seq, m.data if m.kind != "recovered" else None, dashboard=m.dashboard)
        return True

    def interrupt(self) -> None:
        self.sub.close()

    def close(self) -> None:
        self.sub.close()


class _AggregatorReader(_Reader):
    def __init__(self, agg: Aggregator, dashboard: Optional[str], interval: float) -> None:
        self.agg = agg
        self.dashboard = dashboard
        self.interval = interval
        self.batches = 0

    def step(self, board: _Board, stop: threading.Event, timeout: float) -> bool:
        if stop.wait(_wait(min(timeout, self.interval))):
            return False
        results = self.agg.poll()
        if board.get("status") != "live":
            board.status("live")
        data = self.results_data(results)
        if data:
            self.batches += 1
            board.apply("update", None, self.batches, data)
        return True

    def results_data(self, results: Sequence[WindowResult]) -> Dict[str, Any]:
        """``{series: result dict}`` of the results of the view's dashboard (``dashboard/series`` if all)."""
        data: Dict[str, Any] = {}
        for r in results:
            if self.dashboard is not None and r.dashboard != self.dashboard:
                continue
            name = series_name(r.metric, r.tags)
            data[name if self.dashboard is not None else f"{r.dashboard}/{name}"] = r.to_dict()
        return data


class _RemoteReader(_Reader):
    AUTH_CLOSE = {4001, 4003, 4401}

    def __init__(self, url: str, token: Optional[str], open_timeout: float) -> None:
        try:
            from websockets.sync.client import connect
        except ImportError as exc:  # pragma: no cover - websockets is part of the extra
            raise ImportError('a remote live view needs websockets: pip install "dashfeed[notebook]"') from exc
        self.connect = connect
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else None
        self.open_timeout = open_timeout
        self.ws: Any = None
        self.stack = contextlib.ExitStack()
        self.attempt = 0  # failed attempts in a row; reset once a connection delivered a message
        self.retry_at = 0.0
        self.lock = threading.Lock()
        self.interrupted = False

    def _resume_url(self, board: _Board) -> str:
        epoch, seq = board.get("epoch"), board.get("seq")
        if not epoch:
            return self.url
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("epoch", "seq")]
        query += [("epoch", epoch), ("seq", str(seq))]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _open(self, board: _Board) -> bool:
        from websockets.exceptions import InvalidStatus, WebSocketException

        stack = contextlib.ExitStack()  # entered as a context manager: websockets ≥ 17.1 deprecates the rest
        try:
            ws = stack.enter_context(self.connect(self._resume_url(board), additional_headers=self.headers,
                                                  open_timeout=self.open_timeout, close_timeout=2))
        except InvalidStatus as exc:
            status = exc.response.status_code
            if 400 <= status < 500 and status != 429:  # a wrong path, auth, ...: retrying cannot help
                board.status("error", f"the server refused the connection: HTTP {status}")
                return False
            self._backoff(board, f"HTTP {status}")
            return True
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._backoff(board, str(exc) or type(exc).__name__)
            return True
        with self.lock:
            if self.interrupted:
                stack.close()
                return False
            self.ws, self.stack = ws, stack
        return True

    def _backoff(self, board: _Board, why: str) -> None:
        self.attempt += 1
        delay = random.uniform(0, min(5.0, 0.25 * 2 ** min(self.attempt, 5)))  # full jitter
        self.retry_at = time.monotonic() + delay
        board.status("reconnecting", why)

    def step(self, board: _Board, stop: threading.Event, timeout: float) -> bool:
        from websockets.exceptions import ConnectionClosed

        if self.ws is None:
            wait = self.retry_at - time.monotonic()
            if wait > 0:
                return not stop.wait(_wait(min(wait, timeout)))
            return False if stop.is_set() else self._open(board)
        try:
            raw = self.ws.recv(timeout=_wait(timeout))
        except TimeoutError:
            return True
        except ConnectionClosed as exc:
            self._drop()
            if stop.is_set():  # closed by stop(): not an error
                return False
            code = exc.rcvd.code if exc.rcvd is not None else None
            if code == 1000:
                board.status("closed", "the server closed the dashboard")
                return False
            if code in self.AUTH_CLOSE:
                board.status("error", f"closed by the server: {code} {exc.rcvd.reason if exc.rcvd else ''}")
                return False
            self._backoff(board, f"connection closed ({code})")
            return True
        msg = decode(raw, "json") if isinstance(raw, bytes) else json.loads(raw)
        if isinstance(msg, dict):
            kind = msg.get("type")
            if kind in ("snapshot", "update", "recovered"):
                board.apply(kind, msg.get("epoch"), msg.get("seq"), msg.get("data"), dashboard=msg.get("dashboard"))
                self.attempt = 0  # this connection works: the next drop starts the backoff over
            elif kind == "error":
                board.status(board.get("status"), f"{msg.get('code')}: {msg.get('message')}")
        return True

    def _drop(self) -> None:
        with self.lock:
            self.ws = None
            stack, self.stack = self.stack, contextlib.ExitStack()
        stack.close()

    def interrupt(self) -> None:
        with self.lock:
            self.interrupted = True
            ws = self.ws
        if ws is not None:
            ws.close()

    def close(self) -> None:
        self._drop()
