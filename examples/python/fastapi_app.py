"""dashfeed mounted next to an existing FastAPI app, sharing its asyncio loop.

    python examples/python/fastapi_app.py --port 8000 --feed-port 8081

What it shows: a small shop service with its own routes (``GET /``, ``POST /orders``, ``GET /orders``) that
also feeds a live dashboard. The app gains a lifespan, one line in its POST route and one route:

- the lifespan starts a :class:`dashfeed.Server` with ``async with`` and stops it (clients get close 1001)
  when uvicorn shuts down; the feed serves WebSocket ``/ws`` and ``/dashboard/shop``, SSE ``/sse/shop``,
  ``/api/dashboards/shop``, ``/metrics`` on its own port, from the core's threads — the app's loop never
  carries a WebSocket frame;
- ``POST /orders`` records the order as the app always did and publishes the new totals to the hub
  (``hub.publish`` takes microseconds and does not wait for any client);
- a task on the app's own loop follows the same dashboard with ``async for msg in hub.subscribe(...)``
  (woken by the core, no polling) — how app code reacts to what is published, here counting updates;
- ``GET /dashfeed`` tells a front end where the feed is and what it holds (URL, snapshot, position).

Run it with ``--port 0 --feed-port 0`` for free ports; it prints ``app at URL`` once bound, and the feed's
URL is at ``GET /dashfeed``. Under your own uvicorn command:
``uvicorn --app-dir examples/python --factory fastapi_app:create_app`` (the feed on 8081). Try:
``curl -XPOST localhost:8000/orders -H 'content-type: application/json' -d '{"item": "tea", "amount": 4.5}'``
while ``websocat ws://127.0.0.1:8081/dashboard/shop`` watches (or the page of examples/browser, opened with
``?server=ws://127.0.0.1:8081/ws&dashboards=shop``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

import dashfeed

DASHBOARD = "shop"


class Order(BaseModel):
    """The app's own request body."""

    item: str = Field(min_length=1, max_length=100)
    amount: float = Field(gt=0)


def create_app(feed_host: str = "127.0.0.1", feed_port: int = 8081) -> FastAPI:
    """The shop app with dashfeed next to it; the feed listens on ``feed_host:feed_port`` (0: a free port)."""
    hub = dashfeed.Hub(history=256)  # one hub per app: the POST route publishes, the feed fans out
    orders: List[Dict[str, Any]] = []  # the app's own state (a database in a real service)
    followed: Dict[str, Any] = {"updates": 0, "seq": 0, "revenue": 0.0}  # what the app's own task saw

    async def follow(sub: dashfeed.Subscription) -> None:
        """App code on the app's loop reacting to publications (alerts, audit, ...): here it counts them."""
        async for msg in sub:
            if msg.kind == "update":
                followed["updates"] += 1
                followed["seq"] = msg.seq
                followed["revenue"] = msg.data.get("revenue", followed["revenue"])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with dashfeed.Server(hub, host=feed_host, port=feed_port) as feed:
            app.state.feed = feed
            print(f"fastapi_app: dashfeed at {feed.url}", flush=True)
            sub = hub.subscribe(DASHBOARD, format="json")
            task = asyncio.create_task(follow(sub), name="dashfeed-follow")
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                sub.close()
        print("fastapi_app: dashfeed stopped", flush=True)

    app = FastAPI(title="shop", lifespan=lifespan)

    @app.get("/")
    async def index() -> Dict[str, Any]:
        """The app's own index route."""
        return {"service": "shop", "orders": len(orders)}

    @app.get("/orders")
    async def list_orders() -> List[Dict[str, Any]]:
        return orders

    @app.post("/orders", status_code=201)
    async def place_order(order: Order) -> Dict[str, Any]:
        """Records the order, then publishes the dashboard's new values: every subscriber gets them."""
        record = {"id": len(orders) + 1, "item": order.item, "amount": order.amount}
        orders.append(record)
        revenue = round(sum(o["amount"] for o in orders), 2)
        try:
            seq = hub.publish(DASHBOARD, {"orders": len(orders), "revenue": revenue, "last_amount": order.amount})
        except dashfeed.DashfeedError as e:  # e.g. slow_consumer from a full sink: the order still stands
            raise HTTPException(503, f"order {record['id']} recorded, dashboard not updated: {e.code}") from e
        return {**record, "seq": seq}

    @app.get("/dashfeed")
    async def feed_info() -> Dict[str, Any]:
        """Where the live feed is and what it holds, for the app's front end."""
        feed: dashfeed.Server = app.state.feed
        snap = hub.snapshot(DASHBOARD)
        return {
            "url": feed.url,
            "ws_url": f"{feed.ws_url}/dashboard/{DASHBOARD}",
            "dashboard": DASHBOARD,
            "epoch": snap.epoch if snap else None,
            "seq": snap.seq if snap else 0,
            "snapshot": snap.data if snap else {},
            "followed_by_app": dict(followed),
            "feed_stats": feed.stats,
        }

    return app


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="a FastAPI app with dashfeed next to it on one asyncio loop")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="interface of both servers")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="the app's port (0: free)")
    p.add_argument("--feed-port", type=int, default=int(os.environ.get("DASHFEED_PORT", "8081")),
                   help="dashfeed's port (0: free)")
    args = p.parse_args(argv)
    # Bound here so that the real port is known (and printed) with --port 0; uvicorn serves this socket and
    # handles SIGINT / SIGTERM: it runs the lifespan's exit, which stops the feed.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    print(f"fastapi_app: app at http://{args.host}:{sock.getsockname()[1]}  (Ctrl-C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(args.host, args.feed_port), log_level="warning"))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
