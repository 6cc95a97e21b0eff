'use strict';
// One socket.io 4 node of bench/cluster/run.py: `http.createServer` + `new Server(httpServer, {adapter:
// createAdapter(pubClient, subClient)})` with node-redis clients on `--redis URL` (the
// @socket.io/redis-adapter README's setup), so that a broadcast on any node reaches the sockets of every node.
//
// - A client emits `subscribe` with a dashboard id (and an ack callback): the socket joins
//   `dashboard-<id>` and the ack answers `{ok: true}` once it has joined.
// - `POST /publish` with a JSON array of `{dashboard, metric, value}`: for each,
//   `io.to('dashboard-' + dashboard).emit('update', {dashboard, metric, value, seq})` (seq: this node's
//   counter); the adapter PUBLISHes it to Redis and the other nodes deliver it to their own sockets.
//   Answers `{"published": n}`.
// - `GET /healthz` → 200 `{"status":"ok"}`; `GET /stats` → `{"sockets", "seq"}`.
//
// `LISTENING <port>` on stdout once the adapter's Redis subscriptions are in place and the server
// listens (`--port 0` picks a free port). SIGTERM closes everything (at most 3 s).
//
// Run: node bench/cluster/socketio_node.js --port 0 --redis redis://127.0.0.1:6379

const http = require('node:http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) {
    console.error(`socketio_node: --${name} is required`);
    process.exit(2);
  }
  return fallback;
}

const MAX_BODY = 8 * 1024 * 1024;

function reply(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function main() {
  const port = Number(arg('port', '0'));
  const url = arg('redis');
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  pubClient.on('error', (e) => console.error(`socketio_node: redis pub client: ${e.message}`));
  subClient.on('error', (e) => console.error(`socketio_node: redis sub client: ${e.message}`));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  let seq = 0;
  let io = null;
  const httpServer = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/publish') {
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on('end', () => {
        if (size > MAX_BODY) return reply(res, 413, { error: 'body too large' });
        let list;
        try {
          list = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          return reply(res, 400, { error: `not JSON: ${e.message}` });
        }
        if (!Array.isArray(list)) return reply(res, 400, { error: 'expected a JSON array' });
        for (const p of list) {
          seq += 1;
          io.to(`dashboard-${p.dashboard}`).emit('update', {
            dashboard: p.dashboard, metric: p.metric, value: p.value, seq,
          });
        }
        return reply(res, 200, { published: list.length });
      });
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') return reply(res, 200, { status: 'ok' });
    if (req.method === 'GET' && req.url === '/stats') return reply(res, 200, { sockets: io.engine.clientsCount, seq });
    return reply(res, 404, { error: 'not found' });
  });

  io = new Server(httpServer, { serveClient: false, adapter: createAdapter(pubClient, subClient) });
  io.on('connection', (socket) => {
    socket.on('subscribe', (id, ack) => {
      socket.join(`dashboard-${id}`);
      if (typeof ack === 'function') ack({ ok: true });
    });
  });

  // The adapter sent PSUBSCRIBE / SUBSCRIBE on subClient without exposing their promises; Redis answers a
  // connection's commands in order, so once this later SUBSCRIBE is answered the adapter is listening.
  await subClient.subscribe('bench-cluster-ready', () => {});

  const shutdown = () => {
    setTimeout(() => process.exit(0), 3000).unref();
    io.disconnectSockets(true);
    io.close(() => {
      Promise.allSettled([pubClient.quit(), subClient.quit()]).then(() => process.exit(0));
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  httpServer.keepAliveTimeout = 60000;
  httpServer.listen(port, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
  });
}

main().catch((e) => {
  console.error(`socketio_node: ${e.stack || e}`);
  process.exit(1);
});
