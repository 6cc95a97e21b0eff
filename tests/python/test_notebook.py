"""dashfeed.notebook: examples/notebook/live.ipynb executed by nbclient on a real ipykernel, with every widget
state message the kernel sent recorded (seq advancing, values and history equal to what was published);
stop() and garbage collection end the reader thread, a re-run cell replaces its earlier view; the remote-URL
source against a real dashfeed.Server. (``import dashfeed`` without the extra: test_notebook_optional.py.)
"""

from __future__ import annotations

import gc
import json
import pathlib
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Callable

import pytest

import dashfeed

pytest.importorskip("anywidget", reason='dashfeed.notebook needs the extra: pip install "dashfeed[notebook]"')
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

import ipywidgets  # noqa: E402 - after the skips: installed with anywidget

from dashfeed.notebook import LiveView, live, remote_url, series_name, value_of  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebook" / "live.ipynb"


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Bounded polling wait: True as soon as ``cond()`` holds, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class RecordingClient(nbclient.NotebookClient):  # type: ignore[misc]
    """An nbclient that keeps every widget comm message (open and update) in order, as a frontend sees them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.comm_log: list[tuple[str, str, dict[str, Any]]] = []

    def handle_comm_msg(self, outs: Any, msg: dict[str, Any], cell_index: int) -> None:
        data = msg["content"].get("data", {})
        if "state" in data:
            self.comm_log.append((msg["msg_type"], msg["content"]["comm_id"], dict(data["state"])))
        super().handle_comm_msg(outs, msg, cell_index)


def python3_kernel() -> Any:
    """A kernel manager for the ``python3`` kernel (installed with ipykernel if missing), run by this
    interpreter so that it imports the dashfeed under test."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import KernelManager

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user"], check=True, timeout=60)
    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return km


def test_the_example_notebook_streams_what_was_published_into_the_widget() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = RecordingClient(nb, km=python3_kernel(), timeout=60, startup_timeout=60, store_widget_state=True,
                             resources={"metadata": {"path": str(ROOT)}})
    client.execute()

    printed = [o["text"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if o.get("output_type") == "stream" and o["text"].startswith("{")]
    assert len(printed) == 1, printed
    report = json.loads(printed[0])
    last_seq, expected, expected_history = report["last_seq"], report["expected"], report["expected_history"]
    assert report["batches"] == 40 and last_seq == 40

    opened = [cid for kind, cid, st in client.comm_log
              if kind == "comm_open" and st.get("_anywidget_id") == "dashfeed.notebook.LiveView"]
    assert len(opened) == 1, client.comm_log[:3]
    (comm_id,) = opened
    states = [st for _, cid, st in client.comm_log if cid == comm_id]
    assert "export default" in states[0]["_esm"]  # the page module's text travels with the widget
    seqs = [st["seq"] for st in states if "seq" in st]
    assert seqs == sorted(seqs) and seqs[-1] == last_seq, seqs
    assert len(set(seqs)) >= 5, f"the view should move live, not jump once: {seqs}"
    assert len(states) <= 4 * 40 + 10, f"updates are merged and throttled: {len(states)} messages"

    final: dict[str, Any] = {}
    for st in states:
        final.update(st)
    assert final["dashboard"] == "api" and final["status"] == "stopped" and final["error"] == ""
    assert final["values"] == expected
    assert final["history"] == expected_history
    for st in states:  # every intermediate state shows published windows only, with exact means
        for name, points in st.get("history", {}).items():
            for point in points:
                assert point in expected_history[name], (name, point)

    # nbclient's own record of the widget state agrees (what a saved notebook would render)
    saved = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][comm_id]["state"]
    assert saved["seq"] == last_seq and saved["values"] == expected


def test_a_hub_view_shows_the_latest_value_and_bounded_history() -> None:
    hub = dashfeed.Hub()
    hub.publish("d", {"cpu": 0.5, "label": "web-1", "weird": float("nan")})
    view = live(hub, "d", history=5)
    try:
        assert view.wait(seq=1, timeout=10)
        assert view.status == "live" and view.epoch and view.dashboard == "d"
        assert view.values == {"cpu": 0.5, "label": "web-1", "weird": None}
        for i in range(20):
            hub.publish("d", {"cpu": float(i)})
        assert view.wait(seq=21, timeout=10)
        assert view.values["cpu"] == 19.0
        # history is synced at most once per second
        assert wait_until(lambda: [v for _, v in view.history["cpu"]] == [15.0, 16.0, 17.0, 18.0, 19.0]), view.history
    finally:
        view.stop()


def test_the_synced_state_is_set_at_most_once_per_interval() -> None:
    hub = dashfeed.Hub(queue=100000)
    view = live(hub, "d", interval=0.2)
    try:
        assert view.wait(updates=1, timeout=10)
        pushes_before = view._feed.pushes
        t0 = time.monotonic()
        for i in range(3000):
            hub.publish("d", {"cpu": float(i)})
        assert view.wait(seq=3000, timeout=20)
        elapsed = time.monotonic() - t0
        pushes = view._feed.pushes - pushes_before
        assert 1 <= pushes <= elapsed / 0.2 + 2, (pushes, elapsed)
        assert view.values == {"cpu": 2999.0} and view.updates == 3001
    finally:
        view.stop()


def test_stop_ends_the_subscription_and_the_thread() -> None:
    hub = dashfeed.Hub()
    view = live(hub, "d")
    assert view.wait(updates=1, timeout=10)
    thread = view._feed.thread
    assert thread.is_alive()
    view.stop()
    assert not thread.is_alive() and not view.running
    assert view.status == "stopped" and view.error == ""  # no "subscription ended" left behind by the stop
    hub.publish("d", {"cpu": 1.0})  # nobody reads any more; the view keeps its last state
    assert view.values == {} and view.seq == 0
    view.stop()  # idempotent
    view.close()


def test_a_removed_dashboard_ends_a_hub_view() -> None:
    hub = dashfeed.Hub()
    view = live(hub, "d")
    assert view.wait(updates=1, timeout=10)
    hub.remove("d")
    assert wait_until(lambda: not view.running, timeout=10)
    assert view.status == "closed" and "removed" in view.error


def test_garbage_collection_of_the_view_ends_the_thread() -> None:
    hub = dashfeed.Hub()
    view = live(hub, "d")
    assert view.wait(updates=1, timeout=10)
    thread = view._feed.thread
    ipywidgets.Widget.close(view)  # what the frontend's close does: out of ipywidgets' registry (not our stop())
    ref = weakref.ref(view)
    del view
    collected = wait_until(lambda: (gc.collect(), ref() is None)[1])
    assert collected, "the reader thread (or anything else) keeps the view alive"
    assert wait_until(lambda: not thread.is_alive(), timeout=10)


def test_a_view_of_an_aggregator_drains_its_windows() -> None:
    agg = dashfeed.Aggregator(window="1s")
    view = live(agg, "x", field="max")
    try:
        agg.add("x", "m", 1.0, ts=10, tags={"host": "b", "az": "1"})
        agg.add("x", "m", 3.0, ts=20, tags={"host": "b", "az": "1"})
        agg.add("other", "m", 7.0, ts=20)
        agg.advance_to(1000)
        assert view.wait(seq=1, timeout=10)
        assert view.values == {"m{az=1,host=b}": 3.0} and view.history == {"m{az=1,host=b}": [[1000, 3.0]]}
        assert view.status == "live" and agg.poll() == []
    finally:
        view.stop()


def test_the_remote_url_source_reads_a_real_server_and_reconnects() -> None:
    hub = dashfeed.Hub()
    hub.publish("ops", {"cpu": 0.5})
    with dashfeed.Server(hub) as server:
        port = server.port
        view = live(server.url, "ops")
        by_url = live(server.ws_url + "/dashboard/ops")
        try:
            assert view.wait(seq=1, timeout=10) and by_url.wait(seq=1, timeout=10)
            assert view.values == {"cpu": 0.5} and view.status == "live" and view.epoch
            for i in range(5):
                hub.publish("ops", {"cpu": i / 10, "mem": i})
            assert view.wait(seq=6, timeout=10) and by_url.wait(seq=6, timeout=10)
            assert view.values == by_url.values == {"cpu": 0.4, "mem": 4.0}
            assert wait_until(lambda: len(view.history["cpu"]) == 6 and len(view.history["mem"]) == 5), view.history
        finally:
            by_url.stop()
    # the server went away: the view says so, and catches up (resume from its seq) when it is back
    assert wait_until(lambda: view.status == "reconnecting", timeout=10), view.status
    hub.publish("ops", {"cpu": 0.9})
    with dashfeed.Server(hub, port=port):
        try:
            assert view.wait(seq=7, timeout=15), (view.status, view.error)
            assert view.status == "live" and view.values == {"cpu": 0.9, "mem": 4.0}
            # resumed (a `recovered` header + the missed update), not a fresh snapshot: that would have merged
            # "mem" again and given it a 6th point
            assert wait_until(lambda: len(view.history["cpu"]) == 7), view.history
            assert len(view.history["mem"]) == 5, view.history
        finally:
            view.stop()
    assert not view.running and view.status == "stopped" and view.error == ""


def test_a_removed_dashboard_ends_a_remote_view() -> None:
    hub = dashfeed.Hub()
    hub.publish("gone", {"x": 1})
    with dashfeed.Server(hub) as server:
        view = live(server.ws_url + "/dashboard/gone")
        assert view.wait(seq=1, timeout=10)
        hub.remove("gone")
        assert wait_until(lambda: not view.running, timeout=10)
        assert view.status == "closed"


def test_values_urls_and_errors() -> None:
    assert value_of(2) == 2.0 and value_of(True) == 1.0 and value_of(float("inf")) is None
    result = {"mean": 1.5, "max": 3.0, "quantiles": {"p99": 2.9}}
    assert value_of(result) == 1.5 and value_of(result, "max") == 3.0 and value_of(result, "p99") == 2.9
    assert value_of({"value": 0.5, "timestamp": 1, "metadata": {"cores": 8}}) == 0.5
    assert value_of([1, 2]) is None and value_of("up") == "up"
    assert series_name("cpu", {"z": "1", "host": "a"}) == "cpu{host=a,z=1}" and series_name("cpu") == "cpu"
    assert remote_url("http://h:1", "a b") == ("ws://h:1/dashboard/a%20b", "a b")
    assert remote_url("wss://h/base/dashboard/x%2Fy?token=t") == ("wss://h/base/dashboard/x%2Fy?token=t", "x/y")
    assert remote_url("h:8080", "ops") == ("ws://h:8080/dashboard/ops", "ops")
    with pytest.raises(ValueError):
        remote_url("ws://h:1")
    with pytest.raises(ValueError):
        remote_url("ws://h:1/dashboard/a", "b")
    with pytest.raises(ValueError):
        live(dashfeed.Hub())
    with pytest.raises(TypeError):
        live(42)  # type: ignore[arg-type]


def test_the_reader_thread_is_a_daemon_named_for_the_view() -> None:
    view = live(dashfeed.Hub(), "d")
    try:
        assert isinstance(view, LiveView) and view._feed.thread.daemon
        assert view._feed.thread.name == "dashfeed-notebook" and view._feed.thread in threading.enumerate()
    finally:
        view.close()


def test_a_wrong_path_is_a_final_error_not_endless_retries() -> None:
    with dashfeed.Server(dashfeed.Hub()) as server:
        view = live(server.ws_url + "/nope/dashboard/ops")  # the server answers HTTP 404
        try:
            assert wait_until(lambda: not view.running, timeout=10), (view.status, view.error)
            assert view.status == "error" and "HTTP 404" in view.error
        finally:
            view.close()


def test_interval_must_be_positive_and_a_reader_never_spins() -> None:
    agg = dashfeed.Aggregator(window="1s")
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            live(agg, interval=bad)
    view = live(agg, interval=1e-6)
    try:
        steps = []
        reader = view._feed.reader
        step = reader.step
        reader.step = lambda *a: (steps.append(1), step(*a))[1]  # type: ignore[method-assign]
        time.sleep(0.5)
        assert 5 <= len(steps) <= 0.5 * 60 + 5, len(steps)
    finally:
        view.close()


def test_history_is_synced_at_most_once_per_second_and_series_are_bounded() -> None:
    hub = dashfeed.Hub()
    view = live(hub, "d", max_series=3, interval=0.02)
    syncs = {"values": 0, "history": 0}
    view.observe(lambda change: syncs.__setitem__(change["name"], syncs[change["name"]] + 1), ["values", "history"])
    try:
        t0 = time.monotonic()
        for i in range(60):
            hub.publish("d", {"cpu": float(i)})
            time.sleep(0.025)
        assert view.wait(seq=60, timeout=10)
        elapsed = time.monotonic() - t0
        assert syncs["history"] <= elapsed + 2 and syncs["values"] >= 10, (syncs, elapsed)
        assert wait_until(lambda: len(view.history.get("cpu", [])) == 60), view.history
        for name in ("a", "b", "c"):  # a 4th series evicts the least recently updated one ("cpu")
            hub.publish("d", {name: 1.0})
        hub.publish("d", {"a": 2.0})
        assert view.wait(seq=64, timeout=10)
        assert wait_until(lambda: set(view.history) == {"a", "b", "c"}), view.history
        assert view.values == {"a": 2.0, "b": 1.0, "c": 1.0}
    finally:
        view.stop()
    with pytest.raises(ValueError):
        live(hub, "d", max_series=0)


def test_a_re_run_cell_replaces_the_earlier_view_of_the_same_source() -> None:
    hub = dashfeed.Hub()
    views = [live(hub, "d") for _ in range(5)]  # `view = live(hub, "d")` run five times
    try:
        assert views[-1].wait(updates=1, timeout=10)
        assert wait_until(lambda: sum(v.running for v in views) == 1), [v.running for v in views]
        assert views[-1].running and all(v.status == "stopped" for v in views[:-1])
        assert hub.stats["subscribers"] == 1 and hub.stats["topics"]["d"]["subscribers"] == 1, hub.stats
        other = live(hub, "e")  # another dashboard (or source) is another view
        try:
            assert views[-1].running and other.running and hub.stats["subscribers"] == 2
        finally:
            other.close()
    finally:
        views[-1].close()
    assert hub.stats["subscribers"] == 0
