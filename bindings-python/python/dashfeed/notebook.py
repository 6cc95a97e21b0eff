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
the widget's synced traits at most every ``interval`` seconds (50 ms by default; it must be > 0), except
``history``, which is synced at most once per second (the whole table travels each time); the page redraws
at most once per animation frame. All logic is here (the readers in ``notebook_readers``);
``notebook_widget.js`` only draws. At most ``max_series`` series (64 by default) are kept: a new series
beyond that evicts the least recently updated one, so the table cannot grow without bound.

What a series shows (:func:`value_of`): a number is itself (``True`` / ``False`` are 1 / 0); a window
result (what ``Hub.publish_results`` publishes) shows its ``field`` (``"mean"`` by default; also
``"count"``, ``"sum"``, ``"min"``, ``"max"``, ``"first"``, ``"last"`` or a quantile name such as
``"p99"``); the reference notes' ``{"value": v, "timestamp": ..., "metadata": ...}`` shows ``v``; a string
is shown as text without a sparkline; anything else shows as empty. A history point is
``[t_ms, value]`` where ``t_ms`` is a window result's ``end``, else a ``timestamp`` field, else the
time the view received it; the last ``history`` points of each series are kept.

``stop()`` ends the subscription and the thread (the status becomes ``stopped``, with no error); so does
``close()``. ipywidgets keeps every open widget in a registry, so a view is garbage collected (which also
ends its thread: the thread holds the view only through a weak reference) only once it is closed, or its
kernel ends. So that a re-run cell does not leave a reader behind, making a view of the same source (the
same Hub or Aggregator object, or the same URL text) and dashboard again closes the earlier view.
"""

from __future__ import annotations

import math
import pathlib
import threading
import time
import weakref
from collections import OrderedDict, deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote, unquote, urlsplit, urlunsplit

try:
    import anywidget
    import traitlets
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        'dashfeed.notebook needs anywidget: pip install "dashfeed[notebook]" ' f"(missing: {exc.name})"
    ) from exc

from ._native import Aggregator, Hub
from .notebook_readers import MIN_WAIT, _AggregatorReader, _HubReader, _Reader, _RemoteReader, series_name

__all__ = ["LiveView", "live", "remote_url", "series_name", "value_of"]

_HERE = pathlib.Path(__file__).parent
IDLE_WAIT = 0.25  # seconds a reader waits for data when nothing is pending (bounds the reaction to stop())
HISTORY_EVERY = 1.0  # seconds between two syncs of ``history`` (the whole table travels each time)
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

    def __init__(self, dashboard: str, field: str, history: int, max_series: int = 64) -> None:
        self.lock = threading.Lock()
        self.field = field
        self.maxlen = max(1, history)
        self.max_series = max(1, max_series)
        self.recent: OrderedDict[str, None] = OrderedDict()  # series, least recently updated first
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
                    self._forget(gone)
                self.changed.update(("values", "history"))
            if data:
                for key, raw in data.items():
                    self._merge(str(key), raw, now_ms)
            if self.state["status"] != "live":
                self._set("status", "live")
                self._set("error", "")

    def _forget(self, key: str) -> None:
        self.values.pop(key, None)
        self.recent.pop(key, None)
        if self.history.pop(key, None) is not None:
            self.changed.add("history")
        self.changed.add("values")

    def _merge(self, key: str, raw: Any, now_ms: int) -> None:
        v = value_of(raw, self.field)
        self.values[key] = v
        self.recent[key] = None
        self.recent.move_to_end(key)
        while len(self.recent) > self.max_series:  # the table stays bounded: the stalest series goes
            self._forget(next(iter(self.recent)))
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

    def take(self, history: bool = True) -> Dict[str, Any]:
        """The traits that changed since the last call, as JSON-ready values; ``history`` only when
        ``history`` is true (else it stays pending)."""
        with self.lock:
            out: Dict[str, Any] = {k: self.state[k] for k in self.changed if k in self.state}
            if "values" in self.changed:
                out["values"] = dict(self.values)
            if history and "history" in self.changed:
                out["history"] = {k: [list(p) for p in h] for k, h in self.history.items()}
            self.changed.intersection_update(() if history else ("history",))
            return out

    def pending(self, history: bool = True) -> bool:
        """Whether something changed since the last :meth:`take` (not counting ``history`` unless ``history``)."""
        with self.lock:
            return bool(self.changed) if history else bool(self.changed - {"history"})


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
        next_push = next_history = 0.0  # values/seq/status every interval, history every HISTORY_EVERY
        board = self.board
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                if board.pending(history=False):
                    timeout = next_push - now
                elif board.pending(history=True):
                    timeout = max(next_push, next_history) - now
                else:
                    timeout = IDLE_WAIT
                alive = self.reader.step(board, self.stopping, min(IDLE_WAIT, max(MIN_WAIT, timeout)))
                now = time.monotonic()
                with_history = now >= next_history
                if now >= next_push and board.pending(with_history):
                    if not self._push(with_history):
                        break  # the widget is gone
                    next_push = now + self.interval
                    if with_history:
                        next_history = now + HISTORY_EVERY
                if not alive:
                    break
        except Exception as exc:  # the reader failed: say so in the view instead of dying silently
            board.status("error", f"{type(exc).__name__}: {exc}")
        finally:
            self.reader.close()
            if self.stopping.is_set() or board.get("status") in ("live", "connecting", "reconnecting"):
                board.status("stopped", "")  # a stop is no error: nothing of the source's end stays shown
            self._push()
            with self.pushed:
                self.pushed.notify_all()

    def _push(self, history: bool = True) -> bool:
        widget = self.widget()
        if widget is None:
            return False
        changes = self.board.take(history)
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


_ViewKey = Tuple[Union[int, str], Optional[str]]
_VIEWS: Dict[_ViewKey, "weakref.ref[LiveView]"] = {}  # the latest view per (source, dashboard)
_VIEWS_LOCK = threading.Lock()


def _register(key: _ViewKey, view: LiveView) -> Optional[LiveView]:
    """Makes ``view`` the view of ``key``; returns the earlier one (to close), if it is still there.

    A reader holds its source (hub, aggregator), so an ``id`` in a key is not reused while its view lives."""
    with _VIEWS_LOCK:
        for dead in [k for k, ref in _VIEWS.items() if ref() is None]:
            del _VIEWS[dead]
        old = _VIEWS.get(key)
        _VIEWS[key] = weakref.ref(view)
    earlier = old() if old is not None else None
    return earlier if earlier is not view else None


def _unregister(key: _ViewKey, view: LiveView) -> None:
    with _VIEWS_LOCK:
        ref = _VIEWS.get(key)
        if ref is not None and ref() in (view, None):
            del _VIEWS[key]


class LiveView(anywidget.AnyWidget):
    """A live table + sparklines of one dashboard; see the module docs. Build it with :func:`live`.

    Synced state (set by the reader thread only; read it from Python as attributes): ``dashboard``, ``seq``
    and ``epoch`` of the last message applied; ``status`` (``connecting``, ``live``, ``reconnecting``,
    ``closed`` when the source ended, ``stopped``, ``error``) and ``error`` (the last error text, or empty);
    ``updates`` (snapshots and updates applied); ``values`` (``{series: number | str | None}``);
    ``history`` (``{series: [[t_ms, number], ...]}``, the last ``history`` points, synced at most once per
    second); ``title``, ``field``. At most ``max_series`` series are kept (the least recently updated goes).
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
                 token: Optional[str] = None, open_timeout: float = 5.0, max_series: int = 64) -> None:
        if not (isinstance(interval, (int, float)) and 0 < interval < math.inf):
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1, not {max_series!r}")
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
        board = _Board(dashboard or "", field, history, max_series)
        super().__init__(title=title if title is not None else (dashboard or "dashfeed"), field=field,
                         dashboard=dashboard or "")
        self._key: _ViewKey = (source if isinstance(source, str) else id(source), dashboard)
        self._feed = _Feed(reader, board, float(interval))
        self._finalizer = weakref.finalize(self, self._feed.stop, False)
        self._feed.start(self)
        # A re-run cell makes a new view of the same source: the earlier one (still in ipywidgets' registry,
        # so never collected) is closed instead of reading on in the background.
        earlier = _register(self._key, self)
        if earlier is not None:
            earlier.close()

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
            _unregister(self._key, self)
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
         open_timeout: float = 5.0, max_series: int = 64) -> LiveView:
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
    kept per series; ``max_series`` the number of series kept (the least recently updated one goes first);
    ``interval`` (> 0) the shortest time between two updates of the synced state (``history`` is synced at
    most once per second). Making a view of the same source and dashboard again (a re-run cell) closes the
    earlier one.
    """
    return LiveView(source, dashboard, field=field, history=history, interval=interval, title=title,
                    token=token, open_timeout=open_timeout, max_series=max_series)
