'use strict';
// One-process A/B of two builds of the Node module: both are `require`d and the same calls are timed
// in interleaved rounds, so the machine's swings (up to 2x between runs on this 2-core VM) hit both
// builds alike. Prints, per case, the median ns per call of each build and new / old.
//
// Run: node bench/node_ab.js OLD_DIR NEW_DIR [--rounds 15]
//   (each DIR is a checkout whose index.js loads its own built .node; e.g. a `git worktree` of the
//   older commit built with `npx napi build --platform --release --manifest-path
//   bindings-node/Cargo.toml --output-dir .`)

const path = require('node:path');

const [oldDir, newDir] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!oldDir || !newDir) {
  console.error('usage: node bench/node_ab.js OLD_DIR NEW_DIR [--rounds N]');
  process.exit(2);
}
const at = process.argv.indexOf('--rounds');
const ROUNDS = at > 0 ? Number(process.argv[at + 1]) : 15;
const OLD = require(path.resolve(oldDir));
const NEW = require(path.resolve(newDir));

const KEYS = Array.from({ length: 1000 }, (_, i) => `m${i}`);
const MSG = { type: 'update', dashboard: 'host', seq: 42, ts: 1700000000000, data: { cpu: 0.5, mem: 1234, name: 'web-1' } };
const ROWS = Array.from({ length: 4096 }, (_, i) => KEYS[(i * 7919) % 1000]);
const ROW_VALUES = Float64Array.from({ length: 4096 }, (_, i) => i * 0.5);
const { BATCH } = require('./messages');
// 64 prebuilt updates of 8 metrics (as bench/hub.js publishes): building them is not what is timed.
const UPDATES = Array.from({ length: 64 }, (_, j) => Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`metric_${k}`, j + k * 0.5])));
const noop = () => 0;
const asyncNoop = async () => 0;
let flip = 0;
const halfFail = () => {
  flip ^= 1;
  if (flip) throw new Error('every other call');
  return 0;
};
const caught = (fn) => async () => {
  try {
    await fn();
  } catch {
    // expected
  }
};

/** The cases of one build: [name, fn, calls per round, async]. */
function cases(m) {
  const closed = new m.CircuitBreaker({ failureThreshold: 1_000_000 });
  const open = new m.CircuitBreaker({ resetTimeout: 3_600_000 });
  open.open();
  const mixed = new m.CircuitBreaker({ failureThreshold: 0, failureRate: 1.0, rateWindow: 100, minimumCalls: 100 });
  const encoded = m.encode(MSG);
  const codec = new m.Codec();
  const hub = new m.Hub();
  const agg = new m.Aggregator({ window: '1m' });
  const batched = new m.Aggregator({ window: '1s' });
  let batchTs = 1700000000000;
  return [
    ['breaker fire, closed, sync no-op', () => closed.fire(noop), 20000, true],
    ['breaker fire, closed, async no-op', () => closed.fire(asyncNoop), 20000, true],
    ['breaker fire, open (rejected)', caught(() => open.fire(noop)), 20000, true],
    ['breaker fire, 50% failures', caught(() => mixed.fire(halfFail)), 20000, true],
    ['encode (small message)', () => m.encode(MSG), 50000, false],
    ['decode (small message)', () => m.decode(encoded), 50000, false],
    ['Codec.encode (small message)', () => codec.encode(MSG), 50000, false],
    ['Codec.decode (small message)', () => codec.decode(encoded), 50000, false],
    ['Codec.encode (4 KiB batch, gzipped)', () => codec.encode(BATCH), 1000, false],
    ['Hub.publish (8 keys, no subscriber)', (j) => hub.publish('d', UPDATES[j & 63]), 50000, false],
    ['Aggregator.add (1k keys)', (j) => agg.add('d', KEYS[j % 1000], j, 1700000000000), 50000, false],
    // One call: 4,096 rows of 1k keys at one event time, 100 ms later each call (1 s windows close
    // every ten calls), results polled.
    [
      'Aggregator.addMany (4,096 rows, 1k keys) + poll',
      () => {
        batchTs += 100;
        batched.addMany('d', ROWS, ROW_VALUES, batchTs);
        batched.poll();
      },
      200,
      false,
    ],
  ];
}

async function time([, fn, n, isAsync]) {
  const t = process.hrtime.bigint();
  if (isAsync) for (let j = 0; j < n; j += 1) await fn(j);
  else for (let j = 0; j < n; j += 1) fn(j);
  return Number(process.hrtime.bigint() - t) / n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  const a = cases(OLD);
  const b = cases(NEW);
  const samples = a.map(() => ({ old: [], new: [] }));
  for (let i = 0; i < a.length; i += 1) {
    await time(a[i]);
    await time(b[i]);
  }
  for (let r = 0; r < ROUNDS; r += 1) {
    for (let i = 0; i < a.length; i += 1) {
      samples[i].old.push(await time(a[i]));
      samples[i].new.push(await time(b[i]));
    }
  }
  console.log('| case | old ns/call | new ns/call | new / old |\n|---|---:|---:|---:|');
  a.forEach(([name], i) => {
    const [o, n] = [median(samples[i].old), median(samples[i].new)];
    console.log(`| ${name} | ${o.toFixed(0)} | ${n.toFixed(0)} | ${(n / o).toFixed(2)} |`);
  });
})();
