'use strict';
// Contender `ws`: a `ws` WebSocketServer; each publication is JSON-encoded once into one Buffer, sent
// as a text frame to every open client by a loop over `wss.clients` (what a hand-written Node
// broadcast does). No per-message deflate (ws's default).
//
// Run: taskset -c 0 node bench/server/servers/ws_server.js --port N   (control on stdin, see control.js)

const { WebSocketServer, WebSocket } = require('ws');
const { portArg, padFor, update, serveControl } = require('./control');

const port = portArg();
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
const envelope = (data) => JSON.stringify({ type: 'update', dashboard: 'room', data });
const pad = padFor((p) => Buffer.byteLength(envelope(update(100000, 10, p))));

function publish(seq, step) {
  const buf = Buffer.from(envelope(update(seq, step, pad)));
  for (const client of wss.clients) {
    if (client.readyState === WebSocket.OPEN) client.send(buf, { binary: false });
  }
}

wss.on('listening', () =>
  serveControl({
    port,
    publish,
    subscribers: () => wss.clients.size,
    shutdown: () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    }),
  }));
