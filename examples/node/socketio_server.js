// The reference notes' Socket.io server, done with dashfeed: events published on a Redis pub/sub channel
// (JSON `{dashboardId, metric, value, metadata}`, as the reference's producers write them) reach the
// socket.io clients of room `dashboard-{id}` as `update` events, after an `initial-state`.
//
//   node examples/node/socketio_server.js --port 3000 --redis redis://127.0.0.1:6379
//
// What dashfeed adds to the reference: the messages are parsed in the Rust core (no JS object per event),
// each subscriber has a bounded queue (a slow browser gets the latest value per metric instead of an
// ever-growing socket.io buffer), clients resume after a reconnect with `since` (no gap, no duplicate),
// and `--cluster` shares the feed between several such servers through the same Redis (no
// @socket.io/redis-adapter): run two with `--cluster` and only one with `--channel`, and clients of both
// see every update with the same seq. `--secret S` requires a JWT (HS256) whose `dashboards` claim
// opens the dashboard. Flags: --port (0: any), --redis URL, --channel NAME (default dashboard-metrics;
// '' for none), --cluster, --secret. Prints one JSON line {"port", "ingest"} once listening; stops on
// SIGINT / SIGTERM.
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');
const { Pipeline } = require('dashfeed');
const { attachHub } = require('dashfeed/socketio');

function flags(argv) {
  const out = { port: 3000, redis: 'redis://127.0.0.1:6379', channel: 'dashboard-metrics', cluster: false, secret: null };
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'cluster') out.cluster = true;
    else if (name in out) out[name] = argv[(i += 1)];
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  out.port = Number(out.port);
  return out;
}

async function main() {
  const opts = flags(process.argv.slice(2));
  // The dashfeed side: a Redis pub/sub source feeding the hub (and, with --cluster, a hub shared through
  // Redis). Its own HTTP server (port 0) offers POST /api/events, /healthz and /metrics.
  const config = { server: { port: 0 }, source: [] };
  if (opts.channel) config.source.push({ kind: 'redis_pubsub', url: opts.redis, channels: [opts.channel] });
  if (opts.cluster) config.cluster = { redis: opts.redis };
  const pipeline = new Pipeline(config);
  const ingest = await pipeline.start();

  // The reference's server: an HTTP server with socket.io, its rooms filled by the bridge.
  const httpServer = http.createServer();
  const io = new Server(httpServer, { cors: { origin: '*' } });
  attachHub(io, pipeline.hub, opts.secret ? { auth: { secret: opts.secret } } : {});
  io.on('connection', (socket) => {
    socket.on('disconnect', (reason) => console.error(`client disconnected: ${socket.id} (${reason})`));
  });
  await new Promise((resolve) => httpServer.listen(opts.port, '127.0.0.1', resolve));
  console.log(JSON.stringify({ port: httpServer.address().port, ingest }));

  const stop = async () => {
    io.close();
    await pipeline.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
