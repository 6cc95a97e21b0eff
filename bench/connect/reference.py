"""The reference notes' ``RealTimeDashboardFeed`` (../shared/reference/000_a7f0db8dd3850dea.txt, "Real-Time
Data Pipeline with Python") made runnable, for bench/connect/run.py.

Kept as in the notes: a Kafka consumer of ``dashboard-metrics`` (group, ``auto.offset.reset=earliest``), for
each message ``json.loads``, one synchronous redis-py ``HSET dashboard:{id} {metric_name}
json.dumps({value, timestamp, metadata})`` (one round trip per message, on the event loop), then
``await websocket.send(json.dumps(data))`` to every client of that dashboard, clients connected at
``ws://host:port/dashboard/{id}`` to a ``websockets`` asyncio server.

What changed to make it run:
- kafka-python's blocking ``for message in consumer`` would never yield to the event loop (no client could
  ever connect), so it is confluent_kafka's ``Consumer.poll(0)`` in a loop, with ``await asyncio.sleep(0.001)``
  when nothing is fetched (``sleep(0)`` would spin a core at 100% while idle);
- the notes never fill ``active_connections``: the connection handler adds the socket to the set of the
  dashboard in its path and removes it when it closes;
- ``fetch.wait.max.ms`` comes from the command line (run.py sets it on both contenders: tansu answers a
  fetch only when that wait ends, not when data arrives, which would add ~250 ms to every event);
- the notes' ``KafkaProducer`` (unused by the pipeline) is left out; addresses come from the command line;
- the ``websockets`` 17 asyncio server replaces the legacy ``websockets.server.serve`` (same per-send API).
  Compression is whatever the client offers (the bench clients offer none, as dashfeed's server has no
  permessage-deflate; a browser would offer it and the server would then deflate every send).

Run: python3 bench/connect/reference.py --port P --brokers H:P --redis-port P --group G [--fetch-wait-ms 10]
Prints ``listening`` once the server is up; SIGTERM stops it.
"""

import argparse
import asyncio
import json
import signal
from collections import defaultdict

import redis
from confluent_kafka import Consumer
from websockets.asyncio.server import serve


class RealTimeDashboardFeed:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.redis_client = redis.Redis(host='127.0.0.1', port=args.redis_port, db=0)
        self.active_connections = defaultdict(set)

    async def kafka_consumer_handler(self):
        """Process messages from Kafka and update dashboards"""
        consumer = Consumer({
            'bootstrap.servers': self.args.brokers,
            'group.id': self.args.group,
            'auto.offset.reset': 'earliest',
            'session.timeout.ms': 6000,
            'fetch.wait.max.ms': self.args.fetch_wait_ms,
        })
        consumer.subscribe(['dashboard-metrics'])
        try:
            while True:
                message = consumer.poll(0)
                if message is None:
                    await asyncio.sleep(0.001)
                    continue
                if message.error():
                    continue
                data = json.loads(message.value().decode('utf-8'))
                dashboard_id = data.get('dashboard_id')
                # Cache latest values in Redis
                self.redis_client.hset(
                    f"dashboard:{dashboard_id}",
                    data['metric_name'],
                    json.dumps({
                        'value': data['value'],
                        'timestamp': data['timestamp'],
                        'metadata': data.get('metadata', {})
                    })
                )
                # Broadcast to connected WebSocket clients
                await self.broadcast_to_dashboard(dashboard_id, data)
        finally:
            consumer.close()

    async def broadcast_to_dashboard(self, dashboard_id, data):
        """Send data to all clients subscribed to a dashboard"""
        if dashboard_id in self.active_connections:
            disconnected = []
            for websocket in self.active_connections[dashboard_id]:
                try:
                    await websocket.send(json.dumps(data))
                except:  # noqa: E722  (as in the notes)
                    disconnected.append(websocket)
            # Clean up disconnected clients
            for ws in disconnected:
                self.active_connections[dashboard_id].discard(ws)

    async def connection_handler(self, websocket):
        """Not in the notes: ws://host/dashboard/{id} joins the set of dashboard `id` until it closes."""
        path = websocket.request.path
        if not path.startswith('/dashboard/'):
            await websocket.close(1008, 'unknown path')
            return
        dashboard_id = path[len('/dashboard/'):]
        self.active_connections[dashboard_id].add(websocket)
        try:
            await websocket.wait_closed()
        finally:
            self.active_connections[dashboard_id].discard(websocket)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--brokers', required=True)
    p.add_argument('--redis-port', type=int, required=True)
    p.add_argument('--group', required=True)
    p.add_argument('--fetch-wait-ms', type=int, default=500)
    args = p.parse_args()
    feed = RealTimeDashboardFeed(args)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with serve(feed.connection_handler, '127.0.0.1', args.port):
        print('listening', flush=True)
        consume = asyncio.create_task(feed.kafka_consumer_handler())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([consume, stopped], return_when=asyncio.FIRST_COMPLETED)
        consume.cancel()
        try:
            await consume
        except (asyncio.CancelledError, Exception):
            pass


if __name__ == '__main__':
    asyncio.run(main())
