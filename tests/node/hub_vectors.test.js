'use strict';
// Replays tests/vectors/hub (shared with the Rust and Python suites; format in its README.md) through
// the Node Hub: messages are compared as the JSON text of their pre-encoded JSON bytes (decoded, key
// order kept), and their MessagePack bytes, decoded by dashfeed and by msgpackr, and toJSON() must give
// the same object.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Unpackr } = require('msgpackr');
const dashfeed = require('../..');

const DIR = path.join(__dirname, '..', 'vectors', 'hub');
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false, int64AsType: 'number' });
const zlib = require('node:zlib');

/** {"$bin": hex} is bytes; everything else is JSON as is. */
function fromNotation(v) {
  if (Array.isArray(v)) return v.map(fromNotation);
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$bin') return Buffer.from(v.$bin, 'hex');
    return Object.fromEntries(keys.map((k) => [k, fromNotation(v[k])]));
  }
  return v;
}

/** Replaces "$name" strings by the stored epochs. */
function subst(v, epochs) {
  if (typeof v === 'string' && v.startsWith('$')) {
    assert.ok(v.slice(1) in epochs, `unknown epoch ${v}`);
    return epochs[v.slice(1)];
  }
  if (Array.isArray(v)) return v.map((x) => subst(x, epochs));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, subst(x, epochs)]));
  }
  return v;
}

const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const gunzip = (b) => (b[0] === 0x1f && b[1] === 0x8b ? zlib.gunzipSync(b) : b);

/** The message as compact JSON text, from its pre-encoded JSON bytes; checks the other forms agree. */
function wire(msg) {
  const decoded = dashfeed.decode(msg.raw('json'), { format: 'json' });
  assert.deepStrictEqual(dashfeed.decode(msg.raw('msgpack')), decoded);
  assert.deepStrictEqual(unpackr.unpack(gunzip(msg.raw('msgpack'))), decoded);
  assert.deepStrictEqual(msg.toJSON(), decoded);
  assert.equal(msg.kind, decoded.type);
  assert.equal(msg.seq, decoded.seq);
  assert.equal(msg.epoch, decoded.epoch);
  return JSON.stringify(decoded);
}

function makeHub(config, clock) {
  const names = {
    history: 'history',
    history_age_ms: 'historyAge',
    policy: 'policy',
    queue_messages: 'queue',
    queue_bytes: 'queueBytes',
    compress_over: 'compressOver',
    dedupe_capacity: 'dedupe',
    dedupe_horizon_ms: 'dedupeHorizon',
  };
  const options = { clock };
  for (const [k, v] of Object.entries(config ?? {})) {
    assert.ok(k in names, `unknown config key ${k}`);
    options[names[k]] = v;
  }
  return new dashfeed.Hub(options);
}

function replay(c) {
  const clock = new dashfeed.ManualClock();
  const hub = makeHub(c.config, clock);
  const subs = {};
  const epochs = {};
  c.steps.forEach((step, i) => {
    const where = `step ${i}: ${JSON.stringify(step)}`;
    const run = () => {
      if (step.op === 'publish') return hub.publish(step.dashboard, fromNotation(step.data), step.id);
      if (step.op === 'subscribe') {
        const options = {};
        if ('since' in step) options.since = subst(step.since, epochs);
        for (const [src, dst] of [['policy', 'policy'], ['queue_messages', 'queue'], ['queue_bytes', 'queueBytes'], ['format', 'format']]) {
          if (src in step) options[dst] = step[src];
        }
        subs[step.sub] = hub.subscribe(step.dashboard, options);
        return undefined;
      }
      throw new Error(`unknown op ${step.op}`);
    };
    if ('expect_error' in step) {
      assert.throws(run, (err) => err instanceof Error && err.code === step.expect_error, where);
      return;
    }
    switch (step.op) {
      case 'publish':
        assert.equal(run(), step.expect, where);
        break;
      case 'subscribe':
        run();
        break;
      case 'recv_all': {
        const sub = subs[step.sub];
        const got = [];
        let end = null;
        for (let n = 0; n < 100000; n += 1) {
          let msg;
          try {
            msg = sub.tryRecv();
          } catch (err) {
            end = err.code;
            break;
          }
          if (msg === null) break;
          got.push(wire(msg));
        }
        const expected = step.expect.map((m) => JSON.stringify(subst(m, epochs)));
        assert.deepEqual(got, expected, where);
        assert.equal(end, step.end ?? null, where);
        break;
      }
      case 'close':
        subs[step.sub].close();
        break;
      case 'snapshot': {
        const snap = hub.snapshot(step.dashboard);
        if (step.expect === null) {
          assert.equal(snap, null, where);
        } else {
          assert.ok(snap, where);
          assert.equal(wire(snap), JSON.stringify(subst(step.expect, epochs)), where);
        }
        break;
      }
      case 'epoch': {
        const snap = hub.snapshot(step.dashboard);
        assert.ok(snap, where);
        epochs[step.as] = snap.epoch;
        break;
      }
      case 'reset_epoch':
        epochs[step.as] = hub.resetEpoch(step.dashboard);
        break;
      case 'remove':
        assert.equal(hub.remove(step.dashboard), step.expect, where);
        break;
      case 'advance_ms':
        clock.advanceMs(step.ms);
        break;
      case 'stats': {
        const stats = hub.stats;
        for (const [k, v] of Object.entries(step.expect)) assert.equal(stats[camel(k)], v, `${where}: ${k}`);
        break;
      }
      case 'topic': {
        const topic = hub.stats.topics[step.dashboard];
        assert.ok(topic, where);
        for (const [k, v] of Object.entries(subst(step.expect, epochs))) assert.equal(topic[k], v, `${where}: ${k}`);
        break;
      }
      case 'sub_stats': {
        const st = subs[step.sub].stats;
        for (const [k, v] of Object.entries(step.expect)) assert.equal(st[camel(k)], v, `${where}: ${k}`);
        break;
      }
      default:
        throw new Error(`unknown op ${step.op}`);
    }
  });
  for (const sub of Object.values(subs)) sub.close();
}

test('every vector file is replayed', () => {
  assert.ok(FILES.length >= 5, FILES.join(', '));
});

for (const file of FILES) {
  const { cases } = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
  for (const c of cases) test(`${file}: ${c.name}`, () => replay(c));
}
