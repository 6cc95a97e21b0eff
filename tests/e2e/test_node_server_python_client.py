"""A Node-started dashfeed server with Python clients: the real `websockets` package and msgpack-python."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


class NodeServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", "tests/e2e/node_server.js"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def call(self, cmd: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if cmd is not None:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the node server exited"
        return dict(json.loads(line))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def unpack(raw: bytes | str) -> dict[str, Any]:
    assert isinstance(raw, bytes)
    return dict(msgpack.unpackb(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw))


async def test_node_server_python_client() -> None:
    node = NodeServer()
    try:
        port = (await asyncio.to_thread(node.call))["port"]
        assert (await asyncio.to_thread(node.call, {"op": "publish", "dashboard": "ops", "data": {"cpu": 0.5}}))["seq"] == 1
        url = f"ws://127.0.0.1:{port}/ws"
        async with connect(url, subprotocols=["dashfeed.v1.msgpack"]) as ws:  # type: ignore[list-item]
            await ws.send(msgpack.packb({"op": "subscribe", "dashboard": "ops"}))
            snap = unpack(await asyncio.wait_for(ws.recv(), 10))
            assert snap["type"] == "snapshot" and snap["data"] == {"cpu": 0.5}
            for i in range(10):
                await asyncio.to_thread(node.call, {"op": "publish", "dashboard": "ops", "data": {"cpu": i}})
            seqs = [unpack(await asyncio.wait_for(ws.recv(), 10))["seq"] for _ in range(10)]
            assert seqs == list(range(2, 12))
        async with connect(url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "dashboard": "ops", "since": {"epoch": snap["epoch"], "seq": 8}}))
            rec = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert rec["type"] == "recovered" and rec["missed"] == 3
            stop = asyncio.create_task(asyncio.to_thread(node.call, {"op": "stop"}))
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
            assert (await stop) == {"stopped": True}
    finally:
        node.kill()
