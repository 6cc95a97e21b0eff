// The reference notes' Socket.io server, made runnable for bench/socketio: a node-redis subscriber on
// channel `dashboard-metrics` → JSON.parse → io.to(`dashboard-${dashboardId}`).emit('update', {...}), and
// `subscribe` → join the room + `initial-state` from the Redis hash `dashboard:{id}` (HGETALL).
// node bench/socketio/reference_server.js --redis redis://127.0.0.1:6379   (prints {"port"} once listening)
'use strict';
const http = require('node:http');
const { Server } = require('socket.io');
const { createClient } = require('redis');

async function main() {
  const url = process.argv[process.argv.indexOf('--redis') + 1];
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  const client = createClient({ url });
  const subscriber = client.duplicate();
  await client.connect();
  await subscriber.connect();
  // Subscribe to Redis for dashboard data (the reference's client.on('message', ...))
  await subscriber.subscribe('dashboard-metrics', (message) => {
    const data = JSON.parse(message);
    // Emit to specific dashboard rooms
    io.to(`dashboard-${data.dashboardId}`).emit('update', {
      timestamp: Date.now(),
      metric: data.metric,
      value: data.value,
      metadata: data.metadata,
    });
  });
  const getInitialDashboardState = (id) => client.hGetAll(`dashboard:${id}`);
  io.on('connection', (socket) => {
    socket.on('subscribe', (dashboardId) => {
      socket.join(`dashboard-${dashboardId}`);
      getInitialDashboardState(dashboardId).then((state) => socket.emit('initial-state', state));
    });
  });
  httpServer.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: httpServer.address().port })));
}
main().catch((e) => { console.error(e); process.exit(1); });
