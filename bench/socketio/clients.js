// socket.io-client sockets for bench/socketio: `node clients.js URL COUNT SLOW` connects COUNT sockets
// (transport websocket) that emit('subscribe', 'ops'); the first SLOW of them stop reading their TCP socket
// once subscribed. Prints {"ready": true} once every socket got its initial-state, then on each stdin
// line answers one JSON line: deliveries so far (fast sockets), and publish→receive p50/p99 in ms over the
// samples since the previous line (value = the driver's send time in ms).
'use strict';
const readline = require('node:readline');
const { io } = require('socket.io-client');

const [url, count, slow] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] || 0)];
let ready = 0;
let deliveries = 0;
let lat = [];
const now = () => performance.timeOrigin + performance.now();
for (let i = 0; i < count; i += 1) {
  const s = io(url, { transports: ['websocket'], reconnection: false });
  s.on('connect', () => s.emit('subscribe', 'ops'));
  s.once('initial-state', () => {
    ready += 1;
    if (i < slow) s.io.engine.transport.ws._socket.pause();
    if (ready === count) console.log(JSON.stringify({ ready: true }));
  });
  s.on('update', (u) => {
    deliveries += 1;
    if (typeof u.value === 'number' && (deliveries & 7) === 0) lat.push(now() - u.value);
  });
}
const pct = (a, q) => (a.length ? a[Math.min(a.length - 1, Math.floor(q * a.length))] : null);
readline.createInterface({ input: process.stdin }).on('line', () => {
  const s = lat.sort((a, b) => a - b);
  console.log(JSON.stringify({ deliveries, p50: pct(s, 0.5), p99: pct(s, 0.99) }));
  lat = [];
});
