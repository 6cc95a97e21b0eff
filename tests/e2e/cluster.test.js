// Several dashfeed nodes on one redis-server, as real processes: two `python3 -m dashfeed serve` and one
// `node bindings-node/js/cli.js serve`, each with the same `[cluster] redis = ...`, clients on plain `ws`.
// - 200 clients over 3 nodes, 10,000 publications made on two nodes at once (HTTP ingest): every client
//   gets every publication once, in seq order, with the same epoch and the same bytes;
// - kill -9 of a node while clients are subscribed: its clients resume on the others with no gap and no
//   duplicate (checked per client against the full publication log);
// - redis-server restarted empty: /healthz names the link while it is down, live clients get a
//   `recovered: false` snapshot of the new epoch, and a client resuming from the old epoch too.
// Everything on loopback, spare ports, every wait bounded.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const WebSocket = require('ws');
const { RedisServer, waitFor } = require('../node/brokers.js');
const { ROOT } = require('./helpers.js');

const T = 15000;

/** One node: `python3 -m dashfeed serve` (`py`) or the Node CLI (`node`) with `[cluster]` on `redisUrl`. */
async function startNode(kind, redisUrl) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashfeed-cluster-'));
  const config = path.join(dir, 'node.toml');
  fs.writeFileSync(config, [
    '[server]', 'host = "127.0.0.1"', 'port = 0', 'ingest_rate = 1000000.0', 'ingest_burst = 100000',
    '[hub]', 'history = 20000', 'policy = "disconnect"', 'queue_messages = 20000', 'queue_bytes = 67108864',
    '[cluster]', `redis = "${redisUrl}"`, 'history = 20000', 'timeout_ms = 2000', '',
  ].join('\n'));
  const [cmd, args] = kind === 'py'
    ? ['python3', ['-m', 'dashfeed', 'serve', '--config', config]]
    : [process.execPath, [path.join(ROOT, 'bindings-node/js/cli.js'), 'serve', '--config', config]];
  const proc = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${kind} node did not start`)), 30000);
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = line.match(/listening at (\S+)/);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    proc.once('exit', (code) => reject(new Error(`${kind} node exited with ${code}`)));
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return { kind, proc, url, ws: url.replace(/^http/, 'ws'), exited,
    async kill() { if (proc.exitCode === null) proc.kill('SIGKILL'); await exited; } };
}

/** A client of dashboard `ops` on `node` (resuming from `since` when given) that records every frame. */
function client(node, log, since) {
  const q = since ? `?epoch=${since.epoch}&seq=${since.seq}` : '';
  const ws = new WebSocket(`${node.ws}/dashboard/ops${q}`);
  const c = { ws, log, node, opened: new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }) };
  ws.on('message', (data) => {
    const text = data.toString();
    c.log.push({ text, m: JSON.parse(text) });
  });
  c.closed = new Promise((resolve) => ws.once('close', resolve));
  return c;
}

/** The last seq a log holds, 0 when only its snapshot. */
const lastSeq = (log) => (log.length ? log[log.length - 1].m.seq : -1);

/** POSTs `n` events `{dashboard: ops, metric, value: i}` to `node` in batches of `batch`. */
async function publish(node, metric, n, batch = 100) {
  for (let i = 0; i < n; i += batch) {
    const events = [];
    for (let j = i; j < Math.min(n, i + batch); j += 1) events.push({ dashboard: 'ops', metric, value: j });
    const r = await fetch(`${node.url}/api/events`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events),
    });
    const body = await r.text();
    assert.equal(r.status, 202, body);
    assert.equal(JSON.parse(body).accepted, events.length, body);
  }
}

/** The updates of a client log after its first message, checked gap-free; returns seq → frame text. */
function updates(log, epoch) {
  const out = new Map();
  for (const { text, m } of log) {
    if (m.type !== 'update') continue;
    assert.equal(m.epoch, epoch);
    assert.ok(!out.has(m.seq), `seq ${m.seq} delivered twice`);
    out.set(m.seq, text);
  }
  return out;
}

test('3 nodes, 200 clients, 10,000 publications from two nodes: every client gets each once, in seq order', { timeout: 240000 }, async () => {
  const redis = await RedisServer.start();
  const nodes = await Promise.all([startNode('py', redis.url), startNode('py', redis.url), startNode('node', redis.url)]);
  try {
    const clients = [];
    for (let i = 0; i < 200; i += 1) clients.push(client(nodes[i % 3], []));
    await Promise.all(clients.map((c) => c.opened));
    await waitFor('every snapshot', () => clients.every((c) => c.log.length >= 1), T);
    const epoch = clients[0].log[0].m.epoch;
    for (const c of clients) assert.deepEqual([c.log[0].m.type, c.log[0].m.epoch, c.log[0].m.seq], ['snapshot', epoch, 0]);
    await Promise.all([publish(nodes[0], 'n0', 5000), publish(nodes[1], 'n1', 5000)]);
    await waitFor('10,000 publications at every client', () => clients.every((c) => lastSeq(c.log) === 10000), 120000, 50);
    const reference = clients[0].log.slice(1).map((e) => e.text);
    // Each publisher's own order survives inside the shared order.
    for (const metric of ['n0', 'n1']) {
      const mine = clients[0].log.slice(1).map((e) => e.m.data[metric]).filter((v) => v !== undefined);
      assert.deepEqual(mine, [...Array(5000).keys()]);
    }
    for (const c of clients) {
      assert.equal(c.log.length, 10001, `${c.node.kind} client got ${c.log.length - 1} updates`);
      c.log.slice(1).forEach((e, i) => {
        assert.equal(e.m.seq, i + 1);
        if (e.text !== reference[i]) assert.equal(e.text, reference[i]);
      });
    }
    // Redis kept the shared history (entries of grouped publications, the last one ending at 10000)
    // and the snapshot.
    assert.equal(Number(await redis.client.hGet('dashfeed:meta:ops', 'seq')), 10000);
    const [newest] = await redis.client.xRevRange('dashfeed:history:ops', '+', '-', { COUNT: 1 });
    assert.equal(newest.id, '10000-0');
    const snap = await redis.client.hGetAll('dashboard:ops');
    assert.equal(JSON.parse(snap.n0).value, 4999);
    for (const c of clients) c.ws.close();
  } finally {
    await Promise.all(nodes.map((n) => n.kill()));
    await redis.stop();
  }
});

test('kill -9 of a node: its clients resume on the others with no gap and no duplicate', { timeout: 180000 }, async () => {
  const redis = await RedisServer.start();
  const nodes = await Promise.all([startNode('py', redis.url), startNode('node', redis.url), startNode('py', redis.url)]);
  try {
    const clients = [];
    for (let i = 0; i < 30; i += 1) {
      const log = [];
      clients.push({ logs: [log], conns: [client(nodes[i % 3], log)] });
    }
    await Promise.all(clients.map((c) => c.conns[0].opened));
    await waitFor('every snapshot', () => clients.every((c) => c.logs[0].length >= 1), T);
    const epoch = clients[0].logs[0][0].m.epoch;
    const total = 3000;
    let published = 0;
    const publisher = (async () => {
      while (published < total) {
        await publish(nodes[0], 'cpu', 100);
        published += 100;
        if (published === 1000) {
          await nodes[2].kill(); // the clients of node 2 lose their connection mid-stream
        }
      }
    })();
    // Clients of the killed node reconnect to the surviving ones, resuming from the last seq they had.
    const victims = clients.filter((c, i) => i % 3 === 2);
    await Promise.all(victims.map((c) => c.conns[0].closed));
    for (const [k, c] of victims.entries()) {
      const last = c.logs[0].filter((e) => e.m.type === 'update').pop();
      const since = { epoch, seq: last ? last.m.seq : 0 };
      const log = [];
      c.logs.push(log);
      c.conns.push(client(nodes[k % 2], log, since));
    }
    await publisher;
    await waitFor(`${total} publications at every client`, () => clients.every((c) => lastSeq(c.logs[c.logs.length - 1]) === total), T, 50)
      .catch((e) => {
        const where = clients.map((c) => c.logs.map((l) => `${l.length}:${lastSeq(l)}:${l[0] && l[0].m.type}`).join('/'));
        throw new Error(`${e.message}: ${where.join(' ')}`);
      });
    // The full publication log: what a client on node 0 that never disconnected received.
    const full = updates(clients[0].logs[0], epoch);
    assert.equal(full.size, total);
    for (const c of clients) {
      const seen = new Map();
      for (const [n, log] of c.logs.entries()) {
        if (n > 0) {
          assert.equal(log[0].m.type, 'recovered', 'a resume on another node is recovered');
          assert.equal(log[0].m.recovered, true);
        }
        for (const [seq, text] of updates(log, epoch)) {
          assert.ok(!seen.has(seq), `seq ${seq} twice across reconnects`);
          seen.set(seq, text);
        }
      }
      assert.equal(seen.size, total, 'no gap');
      for (const [seq, text] of seen) if (text !== full.get(seq)) assert.equal(text, full.get(seq));
    }
    assert.ok(victims.every((c) => c.logs.length === 2));
    for (const c of clients) for (const conn of c.conns) conn.ws.close();
  } finally {
    await Promise.all(nodes.map((n) => n.kill()));
    await redis.stop();
  }
});

test('redis restarted empty: /healthz names the link, clients are told recovered=false', { timeout: 120000 }, async () => {
  const redis = await RedisServer.start();
  const nodes = await Promise.all([startNode('py', redis.url), startNode('node', redis.url)]);
  try {
    const log = [];
    const live = client(nodes[0], log);
    await live.opened;
    await publish(nodes[1], 'cpu', 10, 5);
    await waitFor('10 updates', () => lastSeq(log) === 10, T);
    const oldEpoch = log[0].m.epoch;
    await redis.proc.kill('SIGKILL');
    for (const n of nodes) {
      await waitFor(`${n.kind} /healthz 503 naming the cluster link`, async () => {
        const r = await fetch(`${n.url}/healthz`);
        const body = await r.text();
        return r.status === 503 && body.includes('cluster:') ? body : false;
      }, T, 50);
    }
    // A publication while Redis is down is refused with a code; the local subscriber is untouched.
    const refused = await fetch(`${nodes[0].url}/api/events`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dashboard: 'ops', metric: 'cpu', value: -1 }),
    });
    assert.ok(refused.status >= 500, `status ${refused.status}`);
    assert.equal(live.ws.readyState, WebSocket.OPEN);
    await redis.restart();
    for (const n of nodes) {
      await waitFor(`${n.kind} /healthz 200`, async () => (await fetch(`${n.url}/healthz`)).status === 200, T, 50);
    }
    // The live client's mirror was reset: a recovered=false snapshot in a new epoch, values kept.
    await waitFor('a recovered=false snapshot', () => log.some((e) => e.m.type === 'snapshot' && e.m.recovered === false), T);
    const reset = log.find((e) => e.m.type === 'snapshot' && e.m.recovered === false).m;
    assert.notEqual(reset.epoch, oldEpoch);
    assert.equal(reset.data.cpu, 9);
    // The first call after the restart may still meet a connection Redis closed: coded, then fine.
    await waitFor('a publication accepted again', async () => {
      const r = await fetch(`${nodes[1].url}/api/events`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ dashboard: 'ops', metric: 'cpu', value: 100 }),
      });
      if (r.status !== 202) assert.match(await r.text(), /"code":"(io_error|timeout|circuit_open)"/);
      return r.status === 202;
    }, T, 50);
    await waitFor('the first update of the new epoch', () => log.some((e) => e.m.type === 'update' && e.m.epoch === reset.epoch), T);
    // A client that resumes from the old epoch, on the other node, gets recovered=false too.
    const resumedLog = [];
    const resumed = client(nodes[1], resumedLog, { epoch: oldEpoch, seq: 10 });
    await waitFor('the resume answer', () => resumedLog.length >= 1, T);
    assert.deepEqual([resumedLog[0].m.type, resumedLog[0].m.recovered], ['snapshot', false]);
    assert.notEqual(resumedLog[0].m.epoch, oldEpoch);
    live.ws.close();
    resumed.ws.close();
  } finally {
    await Promise.all(nodes.map((n) => n.kill()));
    await redis.stop();
  }
});
