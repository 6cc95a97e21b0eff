'use strict';
// In-process fan-out benchmark, Node side, on the same workload as bench/hub.py: one publisher, 1 / 100 /
// 1,000 subscribers, ~200 B and ~4 KiB MessagePack updates.
//
// - dashfeed: a Hub, each subscriber a `for await (const msg of sub)` loop taking `msg.raw()` (the
//   MessagePack bytes the hub encoded once per publication); also the same with `sub.on('message')`.
// - EventEmitter: what a Node server does by hand — `msgpackr.pack` once per publication and
//   `emitter.emit('update', seq, buffer)` to one listener per subscriber (synchronous, unbounded: no
//   queue, no snapshot, no slow-consumer policy).
//
// Run: node bench/hub.js [--rounds 3] [--burst 50]   (after a release build: npm install)
// The publisher publishes in bursts of `--burst` (50) and yields to the event loop (setImmediate)
// between bursts; `--burst 300` queues each 1,000-subscriber case's 300 publications at once, more
// than one refill of a subscription's JavaScript buffer (256).
// Reports deliveries per CPU-second of the process (process.cpuUsage: user + system, all threads),
// p50 / p99 publish→receive latency in µs (measured on every 10th subscriber), and the ratio
// dashfeed / EventEmitter of deliveries per CPU-second (> 1: dashfeed better). Markdown table.

const { EventEmitter } = require('node:events');
const { pack } = require('msgpackr');
const dashfeed = require('..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const ROUNDS = arg('rounds', 3);
const BURST = arg('burst', 50);
const CASES = [[1, 20_000], [100, 2_000], [1_000, 300]];
const SIZES = [[200, '200 B'], [4096, '4 KiB']];

const payloads = new Map();
/** One of 64 prebuilt updates of about `size` MessagePack bytes (building objects is not measured). */
function payload(size, i) {
  if (!payloads.has(size)) {
    const n = Math.max(1, Math.floor(size / 24));
    const list = [];
    for (let j = 0; j < 64; j += 1) {
      const o = {};
      for (let k = 0; k < n; k += 1) o[`metric_${String(k).padStart(3, '0')}`] = j + k * 0.5 + 0.25;
      list.push(o);
    }
    payloads.set(size, list);
  }
  return payloads.get(size)[i % 64];
}

const nowUs = () => performance.now() * 1000;
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const immediate = () => new Promise((resolve) => setImmediate(resolve));

/** Runs the publisher loop; `publish(i)` sends publication i (1-based). */
async function publishAll(pubs, sent, publish) {
  for (let i = 1; i <= pubs; i += 1) {
    sent[i] = nowUs();
    publish(i);
    if (i % BURST === 0) await immediate();
  }
}

/** dashfeed with `for await` consumers (mode 'iterate') or 'message' listeners (mode 'listen'). */
async function runDashfeed(subs, pubs, size, mode) {
  const hub = new dashfeed.Hub({ compressOver: null, queue: pubs + 10, queueBytes: 2 ** 30 });
  const sent = new Float64Array(pubs + 1);
  const lat = [];
  let remaining = subs;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const ended = () => {
    remaining -= 1;
    if (remaining === 0) finish();
  };
  const subscriptions = [];
  for (let s = 0; s < subs; s += 1) {
    const sub = hub.subscribe('b');
    subscriptions.push(sub);
    const record = s % Math.max(1, Math.floor(subs / 10)) === 0;
    const take = (msg) => {
      msg.raw();
      const { seq } = msg;
      if (seq !== 0 && record) lat.push(nowUs() - sent[seq]);
      return seq === pubs;
    };
    if (mode === 'iterate') {
      (async () => {
        for await (const msg of sub) if (take(msg)) break;
        ended();
      })();
    } else {
      sub.on('message', (msg) => {
        if (take(msg)) {
          sub.close();
          ended();
        }
      });
    }
  }
  await immediate();
  const c0 = cpuUs();
  await publishAll(pubs, sent, (i) => hub.publish('b', payload(size, i)));
  await done;
  const cpu = (cpuUs() - c0) / 1e6;
  for (const sub of subscriptions) sub.close();
  return { rate: (subs * pubs) / cpu, lat };
}

/** The hand-written peer: msgpackr once per publication, EventEmitter to every subscriber. */
async function runEmitter(subs, pubs, size) {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const sent = new Float64Array(pubs + 1);
  const lat = [];
  let remaining = subs;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  for (let s = 0; s < subs; s += 1) {
    const record = s % Math.max(1, Math.floor(subs / 10)) === 0;
    const listener = (seq, raw) => {
      if (raw.length === 0) throw new Error('empty update');
      if (record) lat.push(nowUs() - sent[seq]);
      if (seq === pubs) {
        emitter.off('update', listener);
        remaining -= 1;
        if (remaining === 0) finish();
      }
    };
    emitter.on('update', listener);
  }
  await immediate();
  const c0 = cpuUs();
  await publishAll(pubs, sent, (i) => emitter.emit('update', i, pack(payload(size, i))));
  await done;
  const cpu = (cpuUs() - c0) / 1e6;
  return { rate: (subs * pubs) / cpu, lat };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function medianRun(fn) {
  const rates = [];
  const p50s = [];
  const p99s = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const { rate, lat } = await fn();
    lat.sort((a, b) => a - b);
    rates.push(rate);
    p50s.push(lat[Math.floor(lat.length / 2)]);
    p99s.push(lat[Math.floor(lat.length * 0.99)]);
  }
  return { rate: median(rates), p50: median(p50s), p99: median(p99s) };
}

const fmt = (x) => Math.round(x).toLocaleString('en');

async function main() {
  console.log(`dashfeed (Node ${process.version}); median of ${ROUNDS} rounds; latency µs publish→receive\n`);
  console.log('| subscribers | update | dashfeed for-await deliveries/CPU-s | p50 / p99 µs | dashfeed on(\'message\') '
    + 'deliveries/CPU-s | p50 / p99 µs | EventEmitter deliveries/CPU-s | p50 / p99 µs | for-await / EventEmitter '
    + '| on(\'message\') / EventEmitter |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [subs, pubs] of CASES) {
    for (const [size, label] of SIZES) {
      const it = await medianRun(() => runDashfeed(subs, pubs, size, 'iterate'));
      const on = await medianRun(() => runDashfeed(subs, pubs, size, 'listen'));
      const ee = await medianRun(() => runEmitter(subs, pubs, size));
      console.log(`| ${subs} | ${label} | ${fmt(it.rate)} | ${it.p50.toFixed(0)} / ${it.p99.toFixed(0)} `
        + `| ${fmt(on.rate)} | ${on.p50.toFixed(0)} / ${on.p99.toFixed(0)} `
        + `| ${fmt(ee.rate)} | ${ee.p50.toFixed(0)} / ${ee.p99.toFixed(0)} `
        + `| ${(it.rate / ee.rate).toFixed(2)}x | ${(on.rate / ee.rate).toFixed(2)}x |`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
