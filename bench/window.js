'use strict';
// Windowed aggregation benchmark, Node side, on the same events as bench/window.py: dashfeed `addMany`
// on TypedArray columns (values Float64Array, times BigInt64Array, metrics string[] or a categorical
// `{ names, codes }`), dashfeed per-event `add`, and a plain JavaScript Map-of-windows loop (what a Node
// user writes by hand). The categorical column is made before timing, as bench/window.py makes its
// (names, codes) form: the shape dictionary-encoded data already has (Arrow JS, a database driver).
//
// Run: node bench/window.js [--events 1000000] [--rounds 5]   (after a release build: npm install)
// 1 s tumbling windows over 60 s of event time, count/sum/min/max/mean, 1k and 100k keys; plus a dashfeed
// run with p50/p99. Every implementation hands back its closed windows as result objects, but the
// `pollColumns` row, which takes them as columns (TypedArrays, texts dictionary-encoded). Prints a
// Markdown table: median ns/event over the rounds, and speed ratios (baseline ns / dashfeed ns, > 1 means
// dashfeed is faster). The machine is shared and noisy: compare ratios, not absolute numbers.

const dashfeed = require('..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const EVENTS = arg('events', 1_000_000);
const ROUNDS = arg('rounds', 5);
const CHUNK = 65_536;
const T0 = 1_764_288_000_000;

/** A small deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` events over `keys` metric names: lognormal values, sorted times over 60 s. */
function makeEvents(n, keys) {
  const next = rng(1);
  const names = Array.from({ length: keys }, (_, i) => `metric_${i}`);
  const metrics = new Array(n);
  const values = new Float64Array(n);
  const offsets = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    metrics[i] = names[Math.floor(next() * keys)];
    const u = 1 - next();
    const v = 1 - next();
    values[i] = Math.exp(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)); // lognormal(0, 1)
    offsets[i] = Math.floor(next() * 60_000);
  }
  offsets.sort();
  const index = new Map(names.map((name, i) => [name, i]));
  const codes = Uint32Array.from(metrics, (m) => index.get(m));
  const ts = new BigInt64Array(n);
  const tsNum = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    tsNum[i] = T0 + offsets[i];
    ts[i] = BigInt(tsNum[i]);
  }
  return { metrics, names, codes, values, ts, tsNum };
}

/** The hand-written baseline: a Map of (metric, window) → accumulator, results at the end. */
function mapLoop({ metrics, values, tsNum }) {
  const windows = new Map();
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i];
    const w = Math.floor(tsNum[i] / 1000);
    const k = `${metrics[i]}\u0000${w}`;
    const acc = windows.get(k);
    if (acc === undefined) {
      windows.set(k, { metric: metrics[i], w, count: 1, sum: v, min: v, max: v });
    } else {
      acc.count += 1;
      acc.sum += v;
      if (v < acc.min) acc.min = v;
      if (v > acc.max) acc.max = v;
    }
  }
  const out = [];
  for (const a of windows.values()) {
    out.push({
      dashboard: 'ops', metric: a.metric, start: a.w * 1000, end: (a.w + 1) * 1000, count: a.count, sum: a.sum,
      min: a.min, max: a.max, mean: a.sum / a.count,
    });
  }
  return out.length;
}

function dfBatch({ metrics, values, ts }, quantiles) {
  const agg = new dashfeed.Aggregator({ window: '1s', quantiles });
  let out = 0;
  for (let i = 0; i < values.length; i += CHUNK) {
    const end = Math.min(i + CHUNK, values.length);
    agg.addMany('ops', metrics.slice(i, end), values.subarray(i, end), ts.subarray(i, end));
    out += agg.poll().length; // results are taken as they close (the pending buffer is bounded)
  }
  return out + agg.flush().length;
}

function dfCoded({ names, codes, values, ts }, columns = false) {
  const agg = new dashfeed.Aggregator({ window: '1s' });
  let out = 0;
  for (let i = 0; i < values.length; i += CHUNK) {
    const end = Math.min(i + CHUNK, values.length);
    agg.addMany('ops', { names, codes: codes.subarray(i, end) }, values.subarray(i, end), ts.subarray(i, end));
    out += columns ? agg.pollColumns().length : agg.poll().length;
  }
  return out + (columns ? agg.flushColumns().length : agg.flush().length);
}

function dfAdd({ metrics, values, tsNum }, quantiles) {
  const agg = new dashfeed.Aggregator({ window: '1s', quantiles });
  let out = 0;
  for (let i = 0; i < values.length; i += 1) {
    agg.add('ops', metrics[i], values[i], tsNum[i]);
    if ((i & 0xffff) === 0) out += agg.poll().length;
  }
  return out + agg.flush().length;
}

/** Median ns per event over ROUNDS runs of `fn`; checks every run returns the same result count. */
function timed(fn, n) {
  const samples = [];
  let count;
  for (let r = 0; r < ROUNDS; r += 1) {
    const t = process.hrtime.bigint();
    const c = fn();
    samples.push(Number(process.hrtime.bigint() - t) / n);
    if (count !== undefined && c !== count) throw new Error(`result count changed: ${count} then ${c}`);
    count = c;
  }
  samples.sort((a, b) => a - b);
  return { ns: samples[Math.floor(samples.length / 2)], results: count };
}

function main() {
  console.log(`dashfeed (Node ${process.version}); ${EVENTS.toLocaleString('en')} events, 1 s tumbling windows over 60 s;`
    + ` median of ${ROUNDS} rounds\n`);
  console.log('| keys | stats | implementation | results | ns/event | baseline / dashfeed addMany | baseline / dashfeed add |');
  console.log('|---:|---|---|---:|---:|---:|---:|');
  for (const keys of [1_000, 100_000]) {
    const events = makeEvents(EVENTS, keys);
    for (const [quantiles, label] of [[[], 'count/sum/min/max/mean'], [[0.5, 0.99], '+ p50/p99']]) {
      const batch = timed(() => dfBatch(events, quantiles), EVENTS);
      const add = timed(() => dfAdd(events, quantiles), EVENTS);
      const k = keys.toLocaleString('en');
      console.log(`| ${k} | ${label} | dashfeed addMany (Float64Array/BigInt64Array) | ${batch.results} | ${batch.ns.toFixed(0)} | 1.00 | |`);
      console.log(`| ${k} | ${label} | dashfeed add (per event) | ${add.results} | ${add.ns.toFixed(0)} | | 1.00 |`);
      if (quantiles.length) continue;
      const coded = timed(() => dfCoded(events), EVENTS);
      if (coded.results !== batch.results) throw new Error(`categorical: ${coded.results} results, string[]: ${batch.results}`);
      console.log(`| ${k} | ${label} | dashfeed addMany (categorical { names, codes }) | ${coded.results} | ${coded.ns.toFixed(0)} | | |`);
      const cols = timed(() => dfCoded(events, true), EVENTS);
      if (cols.results !== batch.results) throw new Error(`pollColumns: ${cols.results} results, poll: ${batch.results}`);
      console.log(`| ${k} | ${label} | dashfeed addMany (categorical) + pollColumns | ${cols.results} | ${cols.ns.toFixed(0)} | | |`);
      const loop = timed(() => mapLoop(events), EVENTS);
      console.log(`| ${k} | ${label} | plain JS Map-of-windows loop | ${loop.results} | ${loop.ns.toFixed(0)} `
        + `| ${(loop.ns / batch.ns).toFixed(2)}x / ${(loop.ns / coded.ns).toFixed(2)}x (categorical) / `
        + `${(loop.ns / cols.ns).toFixed(2)}x (categorical + pollColumns) | ${(loop.ns / add.ns).toFixed(2)}x |`);
    }
  }
}

main();
