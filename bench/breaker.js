'use strict';
// Circuit breaker benchmark, Node side: dashfeed vs opossum (the breaker Node users pick), in one run,
// on the same cases as bench/breaker.py.
//
// Run: node bench/breaker.js [--rounds 7] [--seconds 0.2]   (after `npm install`, which builds release)
// Cases: a guarded no-op in the closed state (sync and async function), an async no-op with a 10 s call
// timeout (opossum's default), a rejected call in the open state, and a 50% failure mix whose rate window
// never trips; plus the bare unguarded `await noop()` and dashfeed's synchronous `breaker.call(noop)`.
// Prints a Markdown table of the median ns per call over the rounds, the overhead (guarded - bare) and
// the ratios opossum / dashfeed (> 1: dashfeed faster). Like for like, opossum runs with `timeout: false`
// (its default is a 10 s timer per call) unless the case is about the timeout, and with
// `rollingPercentilesEnabled: false` (dashfeed keeps no latency percentiles): with its default, opossum
// sorts every latency of its 10 s window on each failure, so the cost of a failed call grows with the call
// rate — one extra row shows that default.

const fs = require('node:fs');
const path = require('node:path');
const Opossum = require('opossum');
const dashfeed = require('..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const ROUNDS = arg('rounds', 7);
const SECONDS = arg('seconds', 0.2);

class Boom extends Error {}

// opossum reads `result.then` of what the action returns, so a sync action must not return undefined.
function noop() {
  return 0;
}
async function asyncNoop() {
  return 0;
}
let flip = 0;
/** Fails every other call. */
function halfFail() {
  flip ^= 1;
  if (flip) throw new Boom('every other call');
  return 0;
}

/** Median ns per call of `await fn()` (or of `fn()` when `sync`), over ROUNDS rounds of ~`seconds`. */
async function bench(fn, sync = false, seconds = SECONDS) {
  const run = sync
    ? async (n) => {
      for (let j = 0; j < n; j += 1) fn();
    }
    : async (n) => {
      for (let j = 0; j < n; j += 1) await fn();
    };
  let n = 64;
  let elapsed = 0;
  for (let i = 0; i < 24; i += 1) {
    const t = process.hrtime.bigint();
    await run(n);
    elapsed = Number(process.hrtime.bigint() - t);
    if (elapsed > (seconds * 1e9) / 4) break;
    n *= 2;
  }
  n = Math.max(1, Math.round((n * seconds * 1e9) / Math.max(elapsed, 1)));
  const samples = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const t = process.hrtime.bigint();
    await run(n);
    samples.push(Number(process.hrtime.bigint() - t) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** `fn` with its rejection swallowed, as a caller that handles the error does. */
const caught = (fn) => async () => {
  try {
    await fn();
  } catch {
    // expected
  }
};

async function main() {
  const opossums = [];
  const opossum = (action, options = {}) => {
    const b = new Opossum(action, { timeout: false, rollingPercentilesEnabled: false, ...options });
    opossums.push(b);
    return b;
  };
  const rows = [];

  // Closed state, sync and async no-op.
  const bare = await bench(noop);
  const df = new dashfeed.CircuitBreaker({ failureThreshold: 1_000_000 });
  const ob = opossum(noop);
  rows.push({
    name: 'closed, guarded sync no-op',
    bare,
    dashfeed: await bench(() => df.fire(noop)),
    opossum: await bench(() => ob.fire()),
  });

  const bareAsync = await bench(asyncNoop);
  const oba = opossum(asyncNoop);
  rows.push({
    name: 'closed, guarded async no-op',
    bare: bareAsync,
    dashfeed: await bench(() => df.fire(asyncNoop)),
    opossum: await bench(() => oba.fire()),
  });

  const dft = new dashfeed.CircuitBreaker({ failureThreshold: 1_000_000, timeout: 10_000 });
  const obt = opossum(asyncNoop, { timeout: 10_000 });
  rows.push({
    name: 'closed, async no-op, 10 s timeout',
    bare: bareAsync,
    dashfeed: await bench(() => dft.fire(asyncNoop)),
    opossum: await bench(() => obt.fire()),
  });

  // Open state: rejected without calling the function.
  const dfo = new dashfeed.CircuitBreaker({ resetTimeout: 3_600_000 });
  dfo.open();
  const obo = opossum(noop, { resetTimeout: 3_600_000 });
  obo.open();
  rows.push({
    name: 'open, rejected call',
    bare,
    dashfeed: await bench(caught(() => dfo.fire(noop))),
    opossum: await bench(caught(() => obo.fire())),
  });

  // 50% failures with a rate rule that never trips (threshold 100%).
  const dfm = new dashfeed.CircuitBreaker({
    failureThreshold: 0,
    failureRate: 1.0,
    rateWindow: 100,
    minimumCalls: 100,
  });
  const obm = opossum(halfFail, { errorThresholdPercentage: 100 });
  rows.push({
    name: '50% failures',
    bare: await bench(caught(halfFail)),
    dashfeed: await bench(caught(() => dfm.fire(halfFail))),
    opossum: await bench(caught(() => obm.fire())),
  });
  // The same with opossum's default latency percentiles (a shorter run: its cost grows with the calls).
  const obp = opossum(halfFail, { errorThresholdPercentage: 100, rollingPercentilesEnabled: true });
  rows.push({
    name: '50% failures, opossum with its default percentiles',
    bare: rows[rows.length - 1].bare,
    dashfeed: rows[rows.length - 1].dashfeed,
    opossum: await bench(caught(() => obp.fire()), false, 0.05),
  });
  if (df.state !== 'closed' || dfm.state !== 'closed' || !ob.closed || !obm.closed || !obp.closed) {
    throw new Error('a breaker opened during the benchmark');
  }

  // dashfeed's synchronous path (opossum has none).
  const syncRow = {
    name: 'sync `breaker.call(noop)` (no Promise)',
    bare: await bench(noop, true),
    dashfeed: await bench(() => df.call(noop), true),
    opossum: null,
  };
  rows.push(syncRow);
  for (const b of opossums) b.shutdown();

  const version = (p) =>
    JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'node_modules', p, 'package.json'))).version;
  console.log(
    `node ${process.versions.node}, dashfeed ${require('../package.json').version}, opossum ${version('opossum')}; ` +
      `median ns per call of ${ROUNDS} rounds of ~${SECONDS} s\n`,
  );
  console.log('| case | bare ns | dashfeed ns (overhead) | opossum ns (overhead) | opossum / dashfeed (overhead) |');
  console.log('|---|---:|---:|---:|---:|');
  const f = (x) => Math.round(x).toLocaleString('en-US');
  for (const r of rows) {
    const od = r.dashfeed - r.bare;
    const cells = [r.name, f(r.bare), `${f(r.dashfeed)} (${f(od)})`];
    if (r.opossum === null) {
      cells.push('n/a', 'n/a');
    } else {
      const oo = r.opossum - r.bare;
      cells.push(
        `${f(r.opossum)} (${f(oo)})`,
        `${(r.opossum / r.dashfeed).toFixed(1)}x (${(oo / Math.max(od, 1)).toFixed(1)}x)`,
      );
    }
    console.log(`| ${cells.join(' | ')} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
