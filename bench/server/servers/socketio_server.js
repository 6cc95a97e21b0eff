'use strict';
// Contender `socketio`: a socket.io 4 server; every connection joins room "dashboard-room" and each
// publication is `io.to(room).emit('update', data)` (socket.io encodes the packet once per broadcast).
// Default options except `serveClient: false`; clients connect with the WebSocket transport.
//
// Run: taskset -c 0 node bench/server/servers/socketio_server.js --port N   (control: control.js)

const http = require('node:http');
const { Server } = require('socket.io');
const { portArg, padFor, update, serveControl } = require('./control');

const ROOM = 'dashboard-room';
const port = portArg();
const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false });
io.on('connection', (socket) => socket.join(ROOM));

// Wire form of an event: 42["update",{…}]
const pad = padFor((p) => Buffer.byteLength(`42${JSON.stringify(['update', update(100000, 10, p)])}`));

function publish(seq, step) {
  io.to(ROOM).emit('update', update(seq, step, pad));
}

httpServer.listen(port, '127.0.0.1', () =>
  serveControl({
    port,
    publish,
    subscribers: () => io.sockets.adapter.rooms.get(ROOM)?.size ?? 0,
    shutdown: () => new Promise((resolve) => {
      io.disconnectSockets(true);
      io.close(() => resolve());
    }),
  }));
