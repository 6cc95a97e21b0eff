// A clustered hub from Node: two `Pipeline`s with the same `[cluster]` Redis (a real redis-server started
// here) share their dashboards — `hub.publish` on one reaches a subscriber of the other with the seq Redis
// assigned, a resume works on either, ids are deduplicated across both, the links are reported, and
// publishing while Redis is down fails with a code while the local snapshot stays.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Pipeline } = require('../../index.js');
const { RedisServer } = require('./brokers.js');

/** The next `count` messages of `sub` (bounded). */
async function take(sub, count, ms = 10000) {
  const out = [];
  const deadline = Date.now() + ms;
  while (out.length < count) {
    const m = sub.tryRecv();
    if (m) out.push(m);
    else if (Date.now() > deadline) throw new Error(`only ${out.length} of ${count} messages`);
    else await new Promise((r) => setTimeout(r, 5));
  }
  return out;
}

test('two clustered pipelines share seqs, snapshots, history and ids', async () => {
  const redis = await RedisServer.start();
  const toml = `[server]\nport = 0\n[cluster]\nredis = "${redis.url}"\ntimeout_ms = 500\n`;
  const a = new Pipeline(toml);
  const b = new Pipeline(toml);
  try {
    await body(a, b, redis);
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

async function body(a, b, redis) {
  await a.start();
  await b.start();
  const sub = b.hub.subscribe('ops');
  const [first] = await take(sub, 1);
  assert.deepEqual([first.kind, first.seq], ['snapshot', 0]);
  assert.deepEqual([1, 2, 3].map((i) => a.hub.publish('ops', { cpu: i })), [1, 2, 3]);
  const got = await take(sub, 3);
  assert.deepEqual(got.map((m) => [m.kind, m.seq, m.data.cpu, m.epoch]), [1, 2, 3].map((i) => ['update', i, i, first.epoch]));
  assert.equal(b.hub.publish('ops', { mem: 1 }), 4);
  const resumed = a.hub.subscribe('ops', { since: { epoch: first.epoch, seq: 2 } });
  const [head, ...missed] = await take(resumed, 3);
  assert.deepEqual([head.kind, head.missed, missed.map((m) => m.seq)], ['recovered', 2, [3, 4]]);
  assert.equal(a.hub.publish('ops', { cpu: 9 }, 'w:1'), 5);
  assert.equal(b.hub.publish('ops', { cpu: 9 }, 'w:1'), null);
  assert.deepEqual(a.links().map((l) => [l.name, l.up]), [['cluster:redis', true], ['cluster:bus', true]]);
  // Redis down: a coded error, the local state kept.
  await redis.proc.kill('SIGKILL');
  const codes = new Set();
  for (let i = 0; i < 5; i += 1) {
    assert.throws(() => a.hub.publish('ops', { cpu: -1 }), (e) => { codes.add(e.code); return true; });
  }
  assert.ok([...codes].every((c) => ['io_error', 'timeout', 'circuit_open'].includes(c)), [...codes].join());
  assert.equal(b.hub.snapshot('ops').seq, 5);
}
