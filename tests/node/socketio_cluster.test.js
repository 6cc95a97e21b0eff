// examples/node/socketio_server.js as real processes: two socket.io servers with `--cluster` on one real
// redis-server (no @socket.io/redis-adapter). Events published on the Redis channel in the reference
// notes' JSON reach the clients of both servers as `update` events, with the same seqs and epoch, in
// order; one server killed (SIGKILL), its clients resume on the other with `since` and miss nothing.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { io: connect } = require('socket.io-client');
const { RedisServer } = require('./brokers.js');

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'node', 'socketio_server.js');

/** Starts the example; resolves with { proc, url } once it prints its port. */
function startNode(args) {
  const proc = spawn(process.execPath, [EXAMPLE, '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.resume();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('example did not start within 20 s')), 20000);
    readline.createInterface({ input: proc.stdout }).once('line', (line) => {
      clearTimeout(t);
      resolve({ proc, url: `http://127.0.0.1:${JSON.parse(line).port}` });
    });
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`example exited with ${code}`)); });
  });
}

function stopNode(node) {
  return new Promise((resolve) => {
    if (node.proc.exitCode !== null || node.proc.signalCode !== null) return resolve();
    const t = setTimeout(() => node.proc.kill('SIGKILL'), 10000);
    node.proc.once('exit', () => { clearTimeout(t); resolve(); });
    node.proc.kill('SIGTERM');
  });
}

async function until(what, check, ms = 20000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A client that applies updates and re-subscribes with `since` on every (re)connect to `urls[i]`. */
function client(urls) {
  const state = { updates: [], last: null, recovered: [], fresh: [] };
  let at = 0;
  const open = () => {
    const s = connect(urls[at % urls.length], { transports: ['websocket'], reconnection: false });
    s.on('connect', () => s.emit('subscribe', 'ops', state.last ? { since: state.last } : undefined));
    s.on('initial-state', (st) => { state.fresh.push(st); state.last = { epoch: st.epoch, seq: st.seq }; });
    s.on('recovered', (r) => state.recovered.push(r));
    s.on('update', (u) => { state.updates.push(u); state.last = { epoch: u.epoch, seq: u.seq }; });
    // a dropped server: the next URL (what a load balancer does), as socket.io-client's reconnection would
    s.on('disconnect', () => { at += 1; setTimeout(open, 20); });
    state.socket = s;
  };
  open();
  return state;
}

test('two socket.io servers share one feed through Redis; a killed one loses its clients nothing', async () => {
  const redis = await RedisServer.start();
  const nodes = [];
  const clients = [];
  try {
    nodes.push(await startNode(['--redis', redis.url, '--cluster'])); // reads the channel
    nodes.push(await startNode(['--redis', redis.url, '--cluster', '--channel', '']));
    await until('the pub/sub source subscribed', async () => (await redis.client.sendCommand(['PUBSUB', 'NUMSUB', 'dashboard-metrics']))[1] >= 1);
    const urls = nodes.map((n) => n.url);
    for (let i = 0; i < 6; i += 1) clients.push(client(i % 2 === 0 ? urls : [...urls].reverse()));
    await until('every client subscribed', () => clients.every((c) => c.last !== null));

    const publish = async (from, to) => {
      for (let i = from; i <= to; i += 1) {
        await redis.client.publish('dashboard-metrics', JSON.stringify({ dashboardId: 'ops', metric: 'cpu', value: i, metadata: { host: 'a' } }));
      }
    };
    await publish(1, 100);
    await until('100 updates on every client', () => clients.every((c) => c.updates.length === 100));
    const epoch = clients[0].updates[0].epoch;
    for (const c of clients) {
      assert.deepEqual(c.updates.map((u) => u.value), Array.from({ length: 100 }, (_, i) => i + 1));
      const seqs = c.updates.map((u) => u.seq);
      assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => seqs[0] + i), 'same gap-free seqs');
      assert.ok(c.updates.every((u) => u.epoch === epoch && u.metric === 'cpu{host=a}' && u.metadata.host === 'a'));
    }
    assert.deepEqual(new Set(clients.map((c) => c.updates[0].seq)).size, 1, 'every node numbers alike');

    // node B (no channel) dies: its clients move to node A and resume from where they were
    nodes[1].proc.kill('SIGKILL');
    await until('the clients of B reconnected to A', () => clients.every((c) => c.socket.connected && c.socket.io.uri.startsWith(urls[0])), 20000);
    await publish(101, 150);
    await until('150 updates everywhere', () => clients.every((c) => c.updates.length === 150));
    for (const c of clients) {
      assert.deepEqual(c.updates.map((u) => u.value), Array.from({ length: 150 }, (_, i) => i + 1), 'no gap, no duplicate');
    }
    assert.ok(clients.some((c) => c.recovered.length === 1), 'B clients resumed with recovered');
  } finally {
    for (const c of clients) { c.socket.removeAllListeners('disconnect'); c.socket.disconnect(); }
    for (const n of nodes) await stopNode(n);
    await redis.stop();
  }
});
