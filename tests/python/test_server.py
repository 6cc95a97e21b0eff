"""The feed server started from Python, exercised with real clients: the `websockets` package, msgpack-python,
raw HTTP for SSE and the REST endpoints, PyJWT for tokens."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any, AsyncIterator

import jwt
import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import dashfeed

SECRET = "test-secret-that-is-long-enough-for-hs256"


@pytest.fixture
async def served() -> AsyncIterator[tuple[dashfeed.Hub, dashfeed.Server]]:
    hub = dashfeed.Hub()
    async with dashfeed.Server(hub, ping_interval=5, idle_timeout=30) as server:
        yield hub, server


async def recv_json(ws: Any, timeout: float = 5) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    if isinstance(raw, bytes):
        return dict(dashfeed.decode(raw, "json"))
    return dict(json.loads(raw))


async def test_snapshot_then_updates_in_order(served: tuple[dashfeed.Hub, dashfeed.Server]) -> None:
    hub, server = served
    hub.publish("ops", {"cpu": 0.1})
    async with connect(server.ws_url + "/ws", subprotocols=["dashfeed.v1.json"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "dashfeed.v1.json"
        await ws.send(json.dumps({"op": "subscribe", "dashboard": "ops"}))
        snap = await recv_json(ws)
        assert snap["type"] == "snapshot" and snap["seq"] == 1 and snap["data"] == {"cpu": 0.1}
        for i in range(50):
            hub.publish("ops", {"cpu": i / 100})
        seqs = [(await recv_json(ws))["seq"] for _ in range(50)]
        assert seqs == list(range(2, 52))
        await ws.send(json.dumps({"op": "ping", "id": 7}))
        assert await recv_json(ws) == {"type": "pong", "id": 7}


async def test_msgpack_frames_decode_with_msgpack_python(served: tuple[dashfeed.Hub, dashfeed.Server]) -> None:
    hub, server = served
    async with connect(server.ws_url + "/dashboard/ops", subprotocols=["dashfeed.v1.msgpack"]) as ws:  # type: ignore[list-item]
        snap = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
        assert snap["type"] == "snapshot"
        hub.publish("ops", {"mem": 0.5, "label": "web-1"})
        upd = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
        assert list(upd) == ["type", "dashboard", "epoch", "seq", "data"]
        assert upd["data"] == {"mem": 0.5, "label": "web-1"}


async def test_reconnect_with_since_gets_recovered(served: tuple[dashfeed.Hub, dashfeed.Server]) -> None:
    hub, server = served
    hub.publish("ops", {"n": 1})
    async with connect(server.ws_url + "/ws") as ws:
        await ws.send(json.dumps({"op": "subscribe", "dashboard": "ops"}))
        snap = await recv_json(ws)
    epoch, seq = snap["epoch"], snap["seq"]
    for i in range(2, 5):
        hub.publish("ops", {"n": i})
    async with connect(server.ws_url + "/ws") as ws:
        await ws.send(json.dumps({"op": "subscribe", "dashboard": "ops", "since": {"epoch": epoch, "seq": seq}}))
        rec = await recv_json(ws)
        assert rec["type"] == "recovered" and rec["recovered"] is True and rec["missed"] == 3
        assert [(await recv_json(ws))["data"]["n"] for _ in range(3)] == [2, 3, 4]
        await ws.send(json.dumps({"op": "subscribe", "dashboard": "ops", "since": {"epoch": "gone", "seq": 1}}))
        fresh = await recv_json(ws)
        assert fresh["type"] == "snapshot" and fresh["recovered"] is False and fresh["data"] == {"n": 4}


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


async def test_rest_sse_ingest_metrics_and_health(served: tuple[dashfeed.Hub, dashfeed.Server]) -> None:
    hub, server = served
    loop = asyncio.get_running_loop()
    status, body = await loop.run_in_executor(None, http, server.url + "/api/dashboards/none")
    assert status == 404 and json.loads(body)["code"]
    events = [{"dashboard": "ingest", "metric": "cpu", "value": 0.3}, {"dashboard": "ingest", "metric": "mem", "value": 0.7, "id": "e-1"}]
    status, body = await loop.run_in_executor(
        None, lambda: http(server.url + "/api/events", json.dumps(events).encode(), {"Content-Type": "application/json"})
    )
    assert status == 202, body
    status, body = await loop.run_in_executor(None, http, server.url + "/api/dashboards/ingest")
    assert status == 200 and json.loads(body)["data"] == {"cpu": 0.3, "mem": 0.7}
    async with connect(server.ws_url + "/dashboard/ingest") as ws:
        await recv_json(ws)
        status, body = await loop.run_in_executor(None, http, server.url + "/metrics")
    text = body.decode()
    assert status == 200 and 'dashboard_messages_processed_total{dashboard_id="ingest"} 2' in text
    assert 'dashboard_active_connections{dashboard_id="ingest"} 1' in text
    assert "dashboard_processing_seconds_bucket" in text
    status, body = await loop.run_in_executor(None, http, server.url + "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    # SSE: read the snapshot event and one update from a raw HTTP stream.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /sse/ingest HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    buf = b""

    async def read_until(marker: bytes) -> None:
        nonlocal buf
        deadline = time.monotonic() + 5
        while marker not in buf and time.monotonic() < deadline:
            buf += await asyncio.wait_for(reader.read(4096), 5)

    await read_until(b"event: snapshot")
    hub.publish("ingest", {"cpu": 0.9})
    await read_until(b'"cpu":0.9')
    text = buf.decode()
    assert "text/event-stream" in text and "event: snapshot" in text and "event: update" in text
    assert '"cpu":0.9' in text
    writer.close()


async def test_auth_tokens_forbidden_dashboards_and_origin() -> None:
    hub = dashfeed.Hub()
    async with dashfeed.Server(hub, auth={"secret": SECRET}, allowed_origins=["https://dash.example"]) as server:
        url = server.ws_url + "/ws"
        with pytest.raises(InvalidStatus) as info:
            async with connect(url):
                pass
        assert info.value.response.status_code == 401
        expired = jwt.encode({"exp": int(time.time()) - 10}, SECRET, algorithm="HS256")
        with pytest.raises(InvalidStatus) as info:
            async with connect(url + "?token=" + expired):
                pass
        assert info.value.response.status_code == 401
        no_exp = jwt.encode({"sub": "x"}, SECRET, algorithm="HS256")
        with pytest.raises(InvalidStatus):
            async with connect(url + "?token=" + no_exp):
                pass
        good = jwt.encode({"exp": int(time.time()) + 60, "dashboards": ["team-*"]}, SECRET, algorithm="HS256")
        with pytest.raises(InvalidStatus) as info:
            async with connect(url + "?token=" + good, origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert info.value.response.status_code == 403
        async with connect(url, additional_headers={"Authorization": f"Bearer {good}"}) as ws:
            await ws.send(json.dumps({"op": "subscribe", "dashboard": "billing"}))
            err = await recv_json(ws)
            assert err["type"] == "error" and err["code"] == "forbidden"
            await ws.send(json.dumps({"op": "subscribe", "dashboard": "team-a"}))
            assert (await recv_json(ws))["type"] == "snapshot"


async def test_bad_input_keeps_the_connection_and_others_unaffected(served: tuple[dashfeed.Hub, dashfeed.Server]) -> None:
    hub, server = served
    async with connect(server.ws_url + "/ws") as bystander, connect(server.ws_url + "/ws", max_size=None) as ws:
        await bystander.send(json.dumps({"op": "subscribe", "dashboard": "ops"}))
        await recv_json(bystander)
        await ws.send("{not json")
        assert (await recv_json(ws))["code"] == "decode_error"
        await ws.send(json.dumps({"op": "dance"}))
        assert (await recv_json(ws))["code"] == "unknown_op"
        await ws.send(json.dumps({"op": "subscribe", "dashboard": 5}))
        assert (await recv_json(ws))["code"] == "invalid_input"
        await ws.send("x" * (70 * 1024))  # over the 64 KiB message cap
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        hub.publish("ops", {"still": "alive"})
        assert (await recv_json(bystander))["data"] == {"still": "alive"}


async def test_graceful_shutdown_sends_1001() -> None:
    hub = dashfeed.Hub()
    server = dashfeed.Server(hub)
    server.start()
    async with connect(server.ws_url + "/ws") as ws:
        await ws.send(json.dumps({"op": "subscribe", "dashboard": "ops"}))
        await recv_json(ws)
        await asyncio.get_running_loop().run_in_executor(None, server.stop)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert not server.running
    with pytest.raises(dashfeed.ClosedError):
        _ = server.port


def test_invalid_server_options_have_codes() -> None:
    hub = dashfeed.Hub()
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Server(hub, auth={"nothing": 1})
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Server(hub, tls_cert="/tmp/x.pem")
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Server(hub, policy="sometimes")  # type: ignore[arg-type]


async def test_write_delay_holds_updates_and_writes_them_together() -> None:
    hub = dashfeed.Hub()
    with pytest.raises(dashfeed.InvalidInputError, match="write_delay"):
        dashfeed.Server(hub, write_delay=1.5).start()
    async with dashfeed.Server(hub, write_delay=0.3) as server:
        # Counted from before the connection: a write is counted just after its syscall returns, so the
        # client can hold the bytes before the count moves.
        writes = server.stats["socket_writes"]
        async with connect(server.ws_url + "/dashboard/ops") as ws:
            assert (await recv_json(ws))["type"] == "snapshot"
            t0 = time.monotonic()
            for i in range(10):
                hub.publish("ops", {"cpu": i})
            seqs = [(await recv_json(ws))["seq"] for _ in range(10)]
            assert seqs == list(range(1, 11))
            assert time.monotonic() - t0 >= 0.3
            for _ in range(200):  # bounded: until the last write is counted
                if server.stats["socket_writes"] - writes >= 3:
                    break
                await asyncio.sleep(0.01)
            # The 101 answer, the snapshot, then one write for the ten.
            assert server.stats["socket_writes"] - writes == 3


async def test_batch_frames_decode_with_msgpack_python_and_json() -> None:
    # write_delay holds the twenty updates together, so one drain takes them all: one batch message each.
    hub = dashfeed.Hub()
    async with dashfeed.Server(hub, write_delay=0.2) as server:
        async with connect(server.ws_url + "/dashboard/ops?batch=1", subprotocols=["dashfeed.v1.msgpack"]) as mp, \
                connect(server.ws_url + "/dashboard/ops?batch=1") as js, \
                connect(server.ws_url + "/dashboard/ops") as plain:  # type: ignore[list-item]
            assert msgpack.unpackb(await asyncio.wait_for(mp.recv(), 5))["type"] == "snapshot"
            assert (await recv_json(js))["type"] == "snapshot"
            assert (await recv_json(plain))["type"] == "snapshot"
            for i in range(20):
                hub.publish("ops", {"cpu": i})
            batch = msgpack.unpackb(await asyncio.wait_for(mp.recv(), 5))
            assert list(batch) == ["type", "messages"] and batch["type"] == "batch"
            assert [m["seq"] for m in batch["messages"]] == list(range(1, 21))
            assert batch["messages"][-1]["data"] == {"cpu": 19}
            text = await asyncio.wait_for(js.recv(), 5)
            assert isinstance(text, str)  # JSON batches are text frames
            assert [m["seq"] for m in json.loads(text)["messages"]] == list(range(1, 21))
            assert [(await recv_json(plain))["seq"] for _ in range(20)] == list(range(1, 21))
        for q in ("batch=2", "batch=yes"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(server.ws_url + f"/ws?{q}"):
                    pass
            assert refused.value.response.status_code == 400
