"""``dashfeed.notebook``: a live view of a dashboard in a Jupyter cell (an optional extra).

Install with ``pip install "dashfeed[notebook]"`` (anywidget: JupyterLab, Notebook 7, VS Code, Colab)::

    from dashfeed.notebook import live

    view = live(hub, "host")                               # a local Hub: subscribes to dashboard "host"
    view = live(agg)                                       # an Aggregator: the view drains agg.poll()
    view = live("ws://127.0.0.1:8080/dashboard/host")      # a dashfeed server (or "http://host:port", "host")
    view                                                   # the last expression of a cell shows it
    view.stop()                                            # ends the subscription and the reader thread

The view is a table of the latest value per series (metric, or ``metric{tag=v}``) with a sparkline of its
recent history. A background daemon thread reads the source (a blocking ``Subscription.recv`` that
releases the GIL, ``Aggregator.poll`` every ``interval``, or a ``websockets`` sync client that reconnects
with backoff and resumes with ``?epoch=&seq=``), merges what it reads into plain Python state, and sets
the widget's synced traits at most every ``interval`` seconds (50 ms by default); the page redraws at most
once per animation frame. All logic is here; ``notebook_widget.js`` only draws.

What a series shows (:func:`value_of`): a number is itself (``True`` / ``False`` are 1 / 0); a window
result (what ``Hub.publish_results`` publishes) shows its ``field`` (``"mean"`` by default; also
``"count"``, ``"sum"``, ``"min"``, ``"max"``, ``"first"``, ``"last"`` or a quantile name such as
``"p99"``); the reference notes' ``{"value": v, "timestamp": ..., "metadata": ...}`` shows ``v``; a string
is shown as text without a sparkline; anything else shows as empty. A history point is
``[t_ms, value]`` where ``t_ms`` is a window result's ``end``, else a ``timestamp`` field, else the
time the view received it; the last ``history`` points of each series are kept.

``stop()`` ends the subscription and the thread; so do ``close()`` and garbage collection of the view (the
thread holds the view only through a weak reference). Note that ipywidgets keeps every open widget in a
registry: a view is collected only once it is closed, or its kernel ends.
"""

from __future__ import annotations

import contextlib
import json
import math
import pathlib
import random
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

try:
    import anywidget
    import traitlets
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        'dashfeed.notebook needs anywidget: pip install "dashfeed[notebook]" ' f"(missing: {exc.name})"
    ) from exc

from ._native import Aggregator, ClosedError, Hub, Message, Subscription, WindowResult, decode

__all__ = ["LiveView", "live", "remote_url", "series_name", "value_of"]

_HERE = pathlib.Path(__file__).parent
IDLE_WAIT = 0.25  # seconds a reader waits for data when nothing is pending (bounds the reaction to stop())
Value = Union[float, str, None]
Point = List[float]


def value_of(value: Any, field: str = "mean") -> Value:
    """The value a series shows for a published ``value`` (see the module docs); ``None`` when there is none.

    Non-finite numbers (NaN, infinity) are ``None``: the synced state is JSON.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if field in value:
            return value_of(value[field], field)
        q = value.get("quantiles")
        if isinstance(q, Mapping) and field in q:
            return value_of(q[field], field)
        if "value" in value:
            return value_of(value["value"], field)
    return None


def series_name(metric: str, tags: Optional[Mapping[str, str]] = None) -> str:
    """The series key a window result is published under: ``metric``, or ``metric{k=v,...}`` (keys sorted)."""
    if not tags:
        return metric
    return metric + "{" + ",".join(f"{k}={tags[k]}" for k in sorted(tags)) + "}"


def _point_time(value: Any) -> Optional[int]:
    """The time a value carries: a window result's ``end``, else ``timestamp`` / ``ts``; None without one."""
    if isinstance(value, Mapping):
        for key in ("end", "timestamp", "ts"):
            t = value.get(key)
            if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t):
                return int(t)
    return None


class _Board:
    """The view's state as plain Python: merged under a lock by the reader, taken by the pusher."""

    def __init__(self, dashboard: str, field: str, history: int) -> None:
        self.lock = threading.Lock()
        self.field = field
        self.maxlen = max(1, history)
        self.state: Dict[str, Any] = {
            "dashboard": dashboard, "seq": 0, "epoch": "", "status": "connecting", "error": "", "updates": 0,
        }
        self.values: Dict[str, Value] = {}
        self.history: Dict[str, Deque[Point]] = {}
        self.changed: set[str] = set()

    def _set(self, key: str, value: Any) -> None:
        if self.state.get(key) != value:
            self.state[key] = value
            self.changed.add(key)

    def status(self, status: str, error: Optional[str] = None) -> None:
        """Sets the status (and the error text, when given)."""
        with self.lock:
            self._set("status", status)
            if error is not None:
                self._set("error", error)

    def get(self, key: str) -> Any:
        """One scalar of the state (``seq``, ``epoch``, ``status``, ...)."""
        with self.lock:
            return self.state[key]

    def apply(self, kind: str, epoch: Optional[str], seq: Optional[int], data: Optional[Mapping[str, Any]],
              *, dashboard: Optional[str] = None) -> None:
        """Applies one message: a ``snapshot`` replaces the values, an ``update`` merges into them."""
        now_ms = int(time.time() * 1000)
        with self.lock:
            if dashboard:
                self._set("dashboard", dashboard)
            if epoch is not None:
                self._set("epoch", epoch)
            # A recovered header carries the newest seq: the missed updates that follow set it in turn.
            if seq is not None and kind != "recovered":
                self._set("seq", int(seq))
            if kind in ("snapshot", "update"):
                self._set("updates", self.state["updates"] + 1)
            if kind == "snapshot":
                keep = set(data or ())
                for gone in [k for k in self.values if k not in keep]:
                    self.values.pop(gone, None)
                    self.history.pop(gone, None)
                self.changed.update(("values", "history"))
            if data:
                for key, raw in data.items():
                    self._merge(str(key), raw, now_ms)
            if self.state["status"] != "live":
                self._set("status", "live")
                self._set("error", "")

    def _merge(self, key: str, raw: Any, now_ms: int) -> None:
        v = value_of(raw, self.field)
        self.values[key] = v
        self.changed.add("values")
        if isinstance(v, float):
            hist = self.history.get(key)
            if hist is None:
                hist = self.history[key] = deque(maxlen=self.maxlen)
            t = _point_time(raw)
            if t is not None and hist and hist[-1][0] == t:
                hist[-1] = [t, v]  # the same window again (emit "updates"): replace, not append
            else:
                hist.append([now_ms if t is None else t, v])
            self.changed.add("history")

    def take(self) -> Dict[str, Any]:
        """The traits that changed since the last call, as JSON-ready values."""
        with self.lock:
            out: Dict[str, Any] = {k: self.state[k] for k in self.changed if k in self.state}
            if "values" in self.changed:
                out["values"] = dict(self.values)
            if "history" in self.changed:
                out["history"] = {k: [list(p) for p in h] for k, h in self.history.items()}
            self.changed.clear()
            return out

    @property
    def dirty(self) -> bool:
        """Whether something changed since the last :meth:`take`."""
        return bool(self.changed)


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

    def __init__(self, hub: Hub, dashboard: str) -> None:
        self.sub: Subscription = hub.subscribe(dashboard)  # on the caller's thread: nothing after live() is missed

    def step(self, board: _Board, stop: threading.Event, timeout: float) -> bool:
        try:
            msg = self.sub.recv(timeout=timeout)
            if msg is None:
                if not self.sub.closed:
                    return True
                board.status("closed", "the subscription ended (dashboard removed from the hub?)")
                return False
            msgs: List[Message] = [msg]
            for _ in range(16):  # drain what is already queued, bounded
                more = self.sub.try_recv_many(self.BATCH)
                msgs.extend(more)
                if len(more) < self.BATCH:
                    break
        except ClosedError:
            board.status("closed", "the subscription ended (dashboard removed from the hub?)")
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
        if stop.wait(min(timeout, self.interval)):
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


def remote_url(url: str, dashboard: Optional[str] = None) -> Tuple[str, str]:
    """``(ws_url, dashboard)`` for a server address: ``ws[s]://host:port/dashboard/{id}``, or
    ``http[s]://host:port`` / ``ws://host:port`` / ``host:port`` plus ``dashboard``."""
    if "://" not in url:
        url = "ws://" + url
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"not a dashfeed server URL: {url!r} (expected ws://, wss://, http:// or https://)")
    path = parts.path.rstrip("/")
    head, sep, tail = path.rpartition("/dashboard/")
    if sep and tail and "/" not in tail:
        named = unquote(tail)
        if dashboard is not None and dashboard != named:
            raise ValueError(f"the URL names dashboard {named!r}, not {dashboard!r}")
        dashboard = named
        path = head
    if not dashboard:
        raise ValueError("which dashboard? give ws://host:port/dashboard/{id} or dashboard=")
    path = f"{path}/dashboard/{quote(dashboard, safe='')}"
    return urlunsplit((scheme, parts.netloc, path, parts.query, "")), dashboard


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
        self.attempt = 0
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
            if status in (400, 401, 403):
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
        self.attempt = 0
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
                return not stop.wait(min(wait, timeout))
            return self._open(board)
        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return True
        except ConnectionClosed as exc:
            self._drop()
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


class _Feed:
    """The reader thread: steps the reader, pushes changes to the widget (held by a weak reference)."""

    def __init__(self, reader: _Reader, board: _Board, interval: float) -> None:
        self.reader = reader
        self.board = board
        self.interval = interval
        self.stopping = threading.Event()
        self.pushed = threading.Condition()
        self.pushes = 0
        self.widget: Callable[[], Optional[LiveView]] = lambda: None
        self.thread = threading.Thread(target=self._run, name="dashfeed-notebook", daemon=True)

    def start(self, widget: LiveView) -> None:
        """Starts the thread for ``widget`` (only a weak reference is kept)."""
        self.widget = weakref.ref(widget)
        self.thread.start()

    def _run(self) -> None:
        next_push = 0.0
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                timeout = max(0.0, next_push - now) if self.board.dirty else IDLE_WAIT
                alive = self.reader.step(self.board, self.stopping, timeout)
                if self.board.dirty and time.monotonic() >= next_push:
                    if not self._push():
                        break  # the widget is gone
                    next_push = time.monotonic() + self.interval
                if not alive:
                    break
        except Exception as exc:  # the reader failed: say so in the view instead of dying silently
            self.board.status("error", f"{type(exc).__name__}: {exc}")
        finally:
            self.reader.close()
            if self.stopping.is_set() or self.board.get("status") in ("live", "connecting", "reconnecting"):
                self.board.status("stopped")
            self._push()
            with self.pushed:
                self.pushed.notify_all()

    def _push(self) -> bool:
        widget = self.widget()
        if widget is None:
            return False
        changes = self.board.take()
        if changes:
            widget._apply(changes)
        del widget
        with self.pushed:
            self.pushes += 1
            self.pushed.notify_all()
        return True

    def stop(self, join: bool = True, timeout: float = 5.0) -> None:
        """Ends the reader; waits for the thread unless ``join`` is false or this is the thread itself."""
        self.stopping.set()
        try:
            self.reader.interrupt()
        except Exception:  # noqa: BLE001 - the source may already be gone; the stop event ends the loop anyway
            pass
        if join and self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)


class LiveView(anywidget.AnyWidget):
    """A live table + sparklines of one dashboard; see the module docs. Build it with :func:`live`.

    Synced state (set by the reader thread only; read it from Python as attributes): ``dashboard``, ``seq``
    and ``epoch`` of the last message applied; ``status`` (``connecting``, ``live``, ``reconnecting``,
    ``closed`` when the source ended, ``stopped``, ``error``) and ``error`` (the last error text, or empty);
    ``updates`` (snapshots and updates applied); ``values`` (``{series: number | str | None}``);
    ``history`` (``{series: [[t_ms, number], ...]}``, the last ``history`` points); ``title``, ``field``.
    """

    # The text, not the Path: anywidget watches a class-level Path with a signal that holds every instance
    # strongly (a view would never be collected).
    _esm = (_HERE / "notebook_widget.js").read_text(encoding="utf-8")
    _css = (_HERE / "notebook_widget.css").read_text(encoding="utf-8")

    title = traitlets.Unicode("").tag(sync=True)
    field = traitlets.Unicode("mean").tag(sync=True)
    dashboard = traitlets.Unicode("").tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)
    epoch = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("connecting").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    updates = traitlets.Int(0).tag(sync=True)
    values = traitlets.Dict().tag(sync=True)
    history = traitlets.Dict().tag(sync=True)

    def __init__(self, source: Union[Hub, Aggregator, str], dashboard: Optional[str] = None, *,
                 field: str = "mean", history: int = 120, interval: float = 0.05, title: Optional[str] = None,
                 token: Optional[str] = None, open_timeout: float = 5.0) -> None:
        reader: _Reader
        if isinstance(source, Hub):
            if not dashboard:
                raise ValueError("live(hub, dashboard): which dashboard of the hub?")
            reader = _HubReader(source, dashboard)
        elif isinstance(source, Aggregator):
            reader = _AggregatorReader(source, dashboard, interval)
        elif isinstance(source, str):
            url, dashboard = remote_url(source, dashboard)
            reader = _RemoteReader(url, token, open_timeout)
        else:
            raise TypeError(f"live() takes a Hub, an Aggregator or a server URL, not {type(source).__name__}")
        board = _Board(dashboard or "", field, history)
        super().__init__(title=title if title is not None else (dashboard or "dashfeed"), field=field,
                         dashboard=dashboard or "")
        self._feed = _Feed(reader, board, max(0.0, interval))
        self._finalizer = weakref.finalize(self, self._feed.stop, False)
        self._feed.start(self)

    def _apply(self, changes: Mapping[str, Any]) -> None:
        with self.hold_sync():
            for key, value in changes.items():
                setattr(self, key, value)

    @property
    def running(self) -> bool:
        """Whether the reader thread is still reading."""
        return self._feed.thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ends the subscription (or connection) and the reader thread; the last state stays shown."""
        self._feed.stop(True, timeout)

    def close(self) -> None:
        """Stops the view and closes the widget (its views disappear from the page)."""
        feed: Optional[_Feed] = getattr(self, "_feed", None)  # None when __init__ failed (ipywidgets' __del__)
        if feed is not None:
            feed.stop(True)
        super().close()

    def wait(self, seq: Optional[int] = None, *, updates: Optional[int] = None, timeout: float = 10.0) -> bool:
        """Waits until the synced state has ``seq`` ≥ ``seq`` and ``updates`` ≥ ``updates`` (or the reader
        ended); True when it has. For scripts and tests: a notebook needs no waiting."""
        deadline = time.monotonic() + timeout
        feed = self._feed
        with feed.pushed:
            while (seq is not None and self.seq < seq) or (updates is not None and self.updates < updates):
                left = deadline - time.monotonic()
                if left <= 0 or not feed.thread.is_alive():
                    break
                feed.pushed.wait(min(left, IDLE_WAIT))
        return (seq is None or self.seq >= seq) and (updates is None or self.updates >= updates)


def live(source: Union[Hub, Aggregator, str], dashboard: Optional[str] = None, *, field: str = "mean",
         history: int = 120, interval: float = 0.05, title: Optional[str] = None, token: Optional[str] = None,
         open_timeout: float = 5.0) -> LiveView:
    """A :class:`LiveView` of ``source``, updating live in the notebook cell that shows it.

    - ``Hub`` + ``dashboard``: subscribes to that dashboard (snapshot, then updates).
    - ``Aggregator``: takes its closed windows with ``poll()`` every ``interval`` (so do not poll it
      elsewhere; to share it, publish into a hub with ``hub.publish_results`` and view the hub). With
      ``dashboard`` only that dashboard's results are shown, else every series is ``dashboard/series``;
      ``seq`` counts the batches of results and ``epoch`` is empty.
    - a server URL (``ws://host:port/dashboard/{id}``, or ``http://host:port`` / ``host:port`` +
      ``dashboard``): a plain JSON WebSocket client that reconnects and resumes; ``token`` is sent as
      ``Authorization: Bearer``.

    ``field`` picks what a window result shows (see :func:`value_of`); ``history`` is the number of points
    kept per series; ``interval`` the shortest time between two updates of the synced state.
    """
    return LiveView(source, dashboard, field=field, history=history, interval=interval, title=title,
                    token=token, open_timeout=open_timeout)
