// The feed server and the demo started from Node: `new Server(hub)`, `listen()`, `close()`; `npx dashfeed demo`.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { spawn } = require('node:child_process');
const path = require('node:path');
const WebSocket = require('ws');
const { Hub, Server } = require('../../index.js');

const ROOT = path.resolve(__dirname, '..', '..');

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

function nextMessage(ws, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message')), ms);
    ws.once('message', (d) => { clearTimeout(t); resolve(JSON.parse(d.toString())); });
  });
}

test('publishing from Node reaches WebSocket clients; close sends 1001', async () => {
  const hub = new Hub();
  const server = new Server(hub, { port: 0, pingInterval: 5000 });
  assert.equal(server.listening, false);
  const port = await server.listen();
  assert.equal(server.port, port);
  assert.equal(await server.listen(), port); // listening twice is harmless
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const ws = new WebSocket(`${server.wsUrl}/dashboard/ops`, ['dashfeed.v1.json']);
  const first = nextMessage(ws);
  await new Promise((r) => ws.once('open', r));
  const snap = await first;
  assert.equal(snap.type, 'snapshot');
  const upd = nextMessage(ws);
  hub.publish('ops', { cpu: 0.5 });
  assert.deepEqual((await upd).data, { cpu: 0.5 });
  const { status, body } = await get(`${server.url}/api/dashboards/ops`);
  assert.equal(status, 200);
  assert.deepEqual(JSON.parse(body).data, { cpu: 0.5 });
  assert.ok(server.stats.wsFrames >= 2);
  const closed = new Promise((r) => ws.once('close', (code) => r(code)));
  await server.close();
  assert.equal(await closed, 1001);
  assert.equal(server.listening, false);
  assert.throws(() => server.port, (e) => e.code === 'closed');
  await server.close(); // closing twice is harmless
});

test('bad server options are invalid_input', () => {
  const hub = new Hub();
  assert.throws(() => new Server(hub, { auth: {} }), (e) => e.code === 'invalid_input');
  assert.throws(() => new Server(hub, { tlsCert: '/tmp/x.pem' }), (e) => e.code === 'invalid_input');
  assert.throws(() => new Server(hub, { policy: 'sometimes' }), (e) => e.code === 'invalid_input');
  assert.throws(() => new Server(hub, { port: 70000 }), (e) => e.code === 'invalid_input');
});

test('npx dashfeed demo serves the page and stops on SIGTERM', { timeout: 60000 }, async () => {
  const proc = spawn(process.execPath, ['bindings-node/js/cli.js', 'demo', '--port', '0'], { cwd: ROOT });
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('demo did not start')), 20000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/(http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
  });
  const page = await get(url + '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/);
  const client = await get(url + '/client/index.js');
  assert.equal(client.status, 200);
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  proc.kill('SIGTERM');
  assert.equal(await exited, 0);
});
