'use strict';
// Contender `dashfeed-node`: the dashfeed feed server started from Node (`new Server(hub, {port})`,
// `await server.listen()`), default hub and server options. Clients connect to /dashboard/room; each
// publication is `hub.publish('room', data)`: the hub encodes it once, the Rust server writes the
// shared bytes to every subscriber.
//
// Run: taskset -c 0 node bench/server/servers/dashfeed_server.js --port N   (control: control.js)

const path = require('node:path');
const { Hub, Server } = require(path.join(__dirname, '..', '..', '..'));
const { portArg, padFor, update, serveControl } = require('./control');

const port = portArg();
const hub = new Hub();
const server = new Server(hub, { host: '127.0.0.1', port });
// Wire form: {"type":"update","dashboard":"room","epoch":"<16 hex>","seq":…,"data":{…}}
const pad = padFor((p) => Buffer.byteLength(JSON.stringify({
  type: 'update', dashboard: 'room', epoch: '0123456789abcdef', seq: 100000, data: update(100000, 10, p),
})));

function publish(seq, step) {
  hub.publish('room', update(seq, step, pad));
}

server.listen().then(() =>
  serveControl({
    port,
    publish,
    subscribers: () => server.stats.connections,
    shutdown: () => server.close(),
  }));
