// The feed server and the demo started from Node: `new Server(hub)`, `listen()`, `close()`; `npx dashfeed demo`.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
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

test('writeDelay holds updates and writes them together; over 1000 ms is invalid_input', async () => {
  const hub = new Hub();
  assert.throws(() => new Server(hub, { writeDelay: 1500 }).listen(), (e) => e.code === 'invalid_input' && /write_delay/.test(e.message));
  const server = new Server(hub, { port: 0, writeDelay: 300 });
  await server.listen();
  // Counted from before the connection: a write is counted just after its syscall returns, so the
  // client can hold the bytes before the count moves.
  const writes = server.stats.socketWrites;
  const ws = new WebSocket(`${server.wsUrl}/dashboard/ops`, ['dashfeed.v1.json']);
  const got = [];
  const first = nextMessage(ws);
  await new Promise((r) => ws.once('open', r));
  assert.equal((await first).type, 'snapshot');
  const ten = new Promise((resolve) => ws.on('message', (d) => {
    got.push(JSON.parse(d.toString()).seq);
    if (got.length === 10) resolve();
  }));
  const t0 = performance.now();
  for (let i = 0; i < 10; i += 1) hub.publish('ops', { cpu: i });
  await ten;
  assert.ok(performance.now() - t0 >= 299, `delivered after ${performance.now() - t0} ms`);
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  for (let i = 0; i < 200 && server.stats.socketWrites - writes < 3; i += 1) {
    await new Promise((r) => setTimeout(r, 10)); // bounded: until the last write is counted
  }
  // The 101 answer, the snapshot, then one write for the ten.
  assert.equal(server.stats.socketWrites - writes, 3);
  ws.close();
  await server.close();
});

test('batch frames (?batch=1) reach the ws package in JSON and MessagePack; a bad batch is 400', async () => {
  // writeDelay holds the twenty updates together, so one drain takes them all: one batch message each.
  const { unpack } = require('msgpackr');
  const hub = new Hub();
  const server = new Server(hub, { port: 0, writeDelay: 200 });
  await server.listen();
  const open = (query, protocols) => {
    const ws = new WebSocket(`${server.wsUrl}/dashboard/ops${query}`, protocols);
    const frames = [];
    const first = new Promise((resolve) => ws.on('message', (d, isBinary) => {
      frames.push(isBinary ? unpack(d) : JSON.parse(d.toString()));
      resolve();
    }));
    return { ws, frames, first };
  };
  const js = open('?batch=1', []);
  const mp = open('?batch=1', ['dashfeed.v1.msgpack']);
  await Promise.all([js.first, mp.first]);
  for (const c of [js, mp]) assert.equal(c.frames[0].type, 'snapshot');
  for (let i = 0; i < 20; i += 1) hub.publish('ops', { cpu: i });
  for (const c of [js, mp]) {
    for (let i = 0; i < 500 && c.frames.length < 2; i += 1) await new Promise((r) => setTimeout(r, 10));
    const batch = c.frames[1];
    assert.deepEqual(Object.keys(batch), ['type', 'messages']);
    assert.equal(batch.type, 'batch');
    assert.deepEqual(batch.messages.map((m) => m.seq), Array.from({ length: 20 }, (_, k) => k + 1));
    assert.deepEqual(batch.messages[19].data, { cpu: 19 });
    c.ws.close();
  }
  const refused = await new Promise((resolve) => {
    const ws = new WebSocket(`${server.wsUrl}/ws?batch=2`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.on('error', () => {});
  });
  assert.equal(refused, 400);
  await server.close();
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

/** `{dashboard_id: value}` of the samples of `name` in a Prometheus text exposition. */
function samples(text, name) {
  const out = {};
  const re = new RegExp(`^${name}\\{dashboard_id="([^"]*)"\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) out[m[1]] = Number(m[2]);
  return out;
}

test('/metrics counts what Node publishes, per dashboard, and the connections of each', async () => {
  const hub = new Hub({ compressOver: 64 });
  const server = new Server(hub, { port: 0 });
  await server.listen();
  for (let i = 0; i < 4; i++) hub.publish('node', { cpu: i });
  // A plain client (no subprotocol): JSON text frames, even over the gzip threshold.
  const ws = new WebSocket(`${server.wsUrl}/dashboard/node`);
  const frames = [];
  const waiters = [];
  ws.on('message', (d, isBinary) => {
    frames.push({ isBinary, text: d.toString() });
    if (waiters[frames.length - 1]) waiters[frames.length - 1]();
  });
  const nth = (n) => new Promise((r) => { if (frames.length > n) r(); else waiters[n] = r; });
  await nth(0); // the snapshot: the connection is subscribed
  const { body } = await get(`${server.url}/metrics`);
  assert.deepEqual(samples(body, 'dashboard_messages_processed_total'), { node: 4 });
  assert.equal(samples(body, 'dashboard_active_connections').node, 1);
  hub.publish('node', { blob: 'x'.repeat(500) });
  await nth(1);
  assert.deepEqual(frames.map((f) => f.isBinary), [false, false]);
  assert.equal(JSON.parse(frames[1].text).data.blob.length, 500);
  ws.close();
  await server.close();
});

test('listen() on a taken port rejects with a coded error; the first server keeps serving', async () => {
  const hub = new Hub();
  const first = new Server(hub, { port: 0 });
  const port = await first.listen();
  const second = new Server(hub, { port });
  await assert.rejects(second.listen(), (e) => {
    assert.ok(require('../../index.js').errorCodes().includes(e.code), `${e.code}: ${e.message}`);
    assert.notEqual(e.code, 'internal', e.message);
    return true;
  });
  const res = await get(`${first.url}/healthz`);
  assert.equal(res.status, 200);
  await first.close();
  await second.close(); // closing a server that never listened does nothing
});

test('TOKIO_WORKER_THREADS sets the runtime worker count; a bad value is invalid_input', () => {
  // The same runtime setting as in Python (tests/python/test_server_plain.py): counted by thread name
  // in a fresh process once a server has started the runtime (a thread names itself when it first
  // runs: polled, bounded).
  const script = `
    const fs = require('node:fs');
    const { Hub, Server } = require(${JSON.stringify(path.join(ROOT, 'index.js'))});
    const workers = () => fs.readdirSync('/proc/self/task').filter((t) => {
      try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() === 'dashfeed-worker'; }
      catch { return false; }
    }).length;
    (async () => {
      const expected = Number(process.argv[1]);
      let server;
      try {
        server = new Server(new Hub(), { port: 0 });
        await server.listen();
      } catch (e) {
        console.log(e.code + ' ' + e.message);
        return;
      }
      const deadline = Date.now() + 10000;
      while (workers() !== expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      console.log(String(workers()));
      await server.close();
    })();
  `;
  for (const [value, expected] of [['1', '1'], ['3', '3'], ['0', null], ['two', null]]) {
    const out = spawnSync(process.execPath, ['-e', script, expected ?? '0'], {
      env: { ...process.env, TOKIO_WORKER_THREADS: value },
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.equal(out.status, 0, out.stderr);
    if (expected !== null) {
      assert.equal(out.stdout.trim(), expected, `TOKIO_WORKER_THREADS=${value}`);
    } else {
      assert.match(out.stdout, /^invalid_input /, out.stdout);
      assert.ok(out.stdout.includes(`TOKIO_WORKER_THREADS must be a positive integer, not "${value}"`), out.stdout);
    }
  }
});
