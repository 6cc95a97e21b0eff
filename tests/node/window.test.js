'use strict';
// The Aggregator from Node: result objects, TypedArray batches read in place, whole-batch validation,
// late output, idle close on a ManualClock, and the one-line bridge into a Hub.

const test = require('node:test');
const assert = require('node:assert/strict');
const dashfeed = require('../..');
const { rng } = require('./window_rows');

const RESULT_KEYS = ['dashboard', 'metric', 'tags', 'start', 'end', 'count', 'sum', 'min', 'max', 'mean', 'first',
  'last', 'quantiles', 'final'];

function throwsCode(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

test('a result is the plain object WindowResult.to_value() describes, keys in order', () => {
  const agg = new dashfeed.Aggregator({ window: '1s', quantiles: [0.5, 0.99] });
  [1, 2, 3, 4].forEach((v, i) => agg.add('host', 'cpu', v, 1000 + i * 100, { core: '0' }));
  assert.deepEqual(agg.poll(), []);
  agg.advanceTo(2000);
  const [r, ...rest] = agg.poll();
  assert.equal(rest.length, 0);
  assert.deepEqual(Object.keys(r), RESULT_KEYS);
  assert.equal(Object.getPrototypeOf(r), Object.prototype);
  assert.deepEqual(
    { ...r, quantiles: Object.keys(r.quantiles) },
    {
      dashboard: 'host', metric: 'cpu', tags: { core: '0' }, start: 1000, end: 2000, count: 4, sum: 10, min: 1,
      max: 4, mean: 2.5, first: 1, last: 4, quantiles: ['p50', 'p99'], final: true,
    },
  );
  // Nearest rank: p50 of [1, 2, 3, 4] is rank ⌈2⌉ = 2, p99 rank ⌈3.96⌉ = 4 (the maximum).
  assert.ok(r.quantiles.p50 === 2 && r.quantiles.p99 === 4, JSON.stringify(r));
  assert.equal(agg.watermark, 2000);
  assert.deepEqual(agg.stats, {
    events: 4, late: 0, openWindows: 0, keys: 1, pendingResults: 0, pendingLate: 0, watermark: 2000,
  });
});

test('window helpers, durations and fromConfig build the same aggregators', () => {
  for (const w of [dashfeed.tumbling('250ms'), dashfeed.hopping('10s', '1s'), dashfeed.session('30s'), dashfeed.count(10), 1000, '1m']) {
    assert.ok(new dashfeed.Aggregator({ window: w }));
  }
  assert.deepEqual(dashfeed.hopping('10s', 1000), { kind: 'hopping', size: '10s', slide: 1000 });
  const a = new dashfeed.Aggregator({ window: dashfeed.hopping(1000, 500), lateness: 100, idleClose: '5s' });
  const b = dashfeed.Aggregator.fromConfig({ window: { kind: 'hopping', size: '1s', slide: '500ms' }, lateness: '100ms', idle_close: 5000 });
  for (const agg of [a, b]) {
    agg.add('d', 'm', 1, 1200);
    agg.advanceTo(2200);
  }
  assert.deepEqual(a.poll(), b.poll());
  throwsCode(() => dashfeed.Aggregator.fromConfig({ window: { kind: 'tumbling', size: '1s' }, idleClose: '1s' }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: '1s', idle_close: '1s' }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator(), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: '1s', clock: {} }), 'invalid_input');
});

test('bad input is refused with its code and applies nothing', () => {
  throwsCode(() => new dashfeed.Aggregator({ window: '-5s' }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: -5 }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: { kind: 'weekly', size: '1s' } }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: '1s', quantiles: [1.5] }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: '1s', quantiles: ['p50'] }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: '1s', quantiles: [0.5, 0.5] }), 'invalid_input');
  throwsCode(() => new dashfeed.Aggregator({ window: '1s', emit: 'updates' }), 'invalid_input');

  const agg = new dashfeed.Aggregator({ window: '1s' });
  agg.add('d', 'm', 1, 100);
  const bad = [
    () => agg.add('d', 'm', NaN, 200),
    () => agg.add('d', 'm', Infinity, 200),
    () => agg.add('d', 'm', '1', 200),
    () => agg.add('', 'm', 1, 200),
    () => agg.add('d', 'm', 1, 200.5),
    () => agg.add('d', 'm', 1, 200, { host: 1 }),
    () => agg.addMany('d', 'm', new Float64Array([1, NaN]), new BigInt64Array([300n, 400n])),
    () => agg.addMany('d', 'm', new Float64Array([1, 2]), new BigInt64Array([300n])),
    () => agg.addMany('d', ['m', 'n', 'o'], [1, 2], 300),
    () => agg.addMany('d', ['m', ''], [1, 2], 300),
    () => agg.addMany('d', ['m', 7], [1, 2], 300),
    () => agg.addMany('d', 'm', new Int32Array([1, 2]), 300),
    () => agg.addMany('d', 'm', [1, 'x'], 300),
    () => agg.addMany('d', 'm', [1, 2], new Int32Array([1, 2])),
    () => agg.addMany('d', 'm', [1, 2], [300, 400.5]),
    () => agg.addMany('d', 'm', 5, 300),
  ];
  for (const fn of bad) throwsCode(fn, 'invalid_input');
  assert.equal(agg.stats.events, 1);
  agg.advanceTo(1000);
  const [r] = agg.poll();
  assert.equal(r.count, 1);
  assert.equal(r.sum, 1);
});

test('Float64Array / BigInt64Array batches equal per-event adds', () => {
  const n = 50_000;
  const next = rng(7);
  const values = new Float64Array(n);
  const ts = new BigInt64Array(n);
  const metrics = [];
  let t = 0;
  for (let i = 0; i < n; i += 1) {
    values[i] = Math.exp(next() * 4 - 2);
    t += Math.floor(next() * 3);
    ts[i] = BigInt(t);
    metrics.push(`m${i % 7}`);
  }
  const make = () => new dashfeed.Aggregator({ window: '1s', quantiles: [0.5] });
  const typed = make();
  const arrays = make();
  const perEvent = make();
  const floatTimes = make();
  assert.equal(typed.addMany('ops', metrics, values, ts), n);
  assert.equal(arrays.addMany('ops', metrics, Array.from(values), Array.from(ts, Number)), n);
  assert.equal(floatTimes.addMany('ops', metrics, values, Float64Array.from(ts, Number)), n);
  for (let i = 0; i < n; i += 1) perEvent.add('ops', metrics[i], values[i], Number(ts[i]));
  const expected = perEvent.flush();
  assert.ok(expected.length > 7 * 10, String(expected.length));
  assert.deepEqual(typed.flush(), expected);
  assert.deepEqual(arrays.flush(), expected);
  assert.deepEqual(floatTimes.flush(), expected);

  // One dashboard per row, one time for the batch, tags for every row; a view with an offset.
  const c = new dashfeed.Aggregator({ window: '1s' });
  const backing = new Float64Array([9, 1, 2, 9]);
  assert.equal(c.addMany(['x', 'y'], 'm', backing.subarray(1, 3), 500, { host: 'a' }), 2);
  assert.deepEqual(c.flush().map((r) => [r.dashboard, r.sum, r.tags]), [['x', 1, { host: 'a' }], ['y', 2, { host: 'a' }]]);
});

test('late events are returned by takeLate, never mixed into results', () => {
  const agg = new dashfeed.Aggregator({ window: '1s', lateness: '100ms' });
  agg.add('d', 'm', 1, 500);
  agg.add('d', 'm', 2, 1200); // watermark 1100: [0, 1000) closes
  agg.add('d', 'm', 99, 900, { host: 'a' }, 'retry-1'); // late
  const [r] = agg.poll();
  assert.equal(r.count, 1);
  assert.equal(r.sum, 1);
  assert.deepStrictEqual(agg.takeLate(), [{ dashboard: 'd', metric: 'm', value: 99, ts: 900, id: 'retry-1', tags: { host: 'a' } }]);
  assert.deepEqual(agg.takeLate(), []);
  assert.equal(agg.stats.late, 1);
  const flushed = agg.flush();
  assert.deepEqual(flushed.map((x) => [x.start, x.sum]), [[1000, 2]]);
});

test('idle close on a ManualClock closes the last window of a quiet stream', () => {
  const clock = new dashfeed.ManualClock();
  const agg = new dashfeed.Aggregator({ window: '1s', idleClose: '2s', clock });
  agg.add('d', 'm', 1, 100);
  assert.deepEqual(agg.poll(), []);
  clock.advanceMs(1999);
  assert.deepEqual(agg.poll(), []);
  clock.advanceMs(1);
  assert.deepEqual(agg.poll().map((r) => r.count), [1]);
});

test('emit updates gives partial results, then the final one', () => {
  const agg = new dashfeed.Aggregator({ window: '10s', emit: { mode: 'updates', interval: '1s' } });
  agg.add('d', 'm', 1, 0);
  agg.add('d', 'm', 2, 1500); // a new 1 s tick: the partial result of [0, 10 s)
  const partial = agg.poll();
  assert.deepEqual(partial.map((r) => [r.count, r.final]), [[2, false]]);
  agg.advanceTo(10_000);
  assert.deepEqual(agg.poll().map((r) => [r.count, r.final]), [[2, true]]);
});

test('a full results buffer refuses input with too_large and applies nothing', () => {
  const agg = new dashfeed.Aggregator({ window: '1s', maxPendingResults: 1 });
  agg.add('d', 'm', 1, 100);
  agg.advanceTo(1000);
  throwsCode(() => agg.add('d', 'm', 1, 1100), 'too_large');
  throwsCode(() => agg.addMany('d', 'm', [1], 1100), 'too_large');
  assert.equal(agg.stats.events, 1);
  assert.equal(agg.poll().length, 1);
  agg.add('d', 'm', 1, 1100);
  assert.equal(agg.stats.events, 2);
});

test('hub.publishResults(agg.poll()) publishes one update per dashboard and window', () => {
  const hub = new dashfeed.Hub();
  const sub = hub.subscribe('host');
  const agg = new dashfeed.Aggregator({ window: '1s', quantiles: [0.99, 0.5] });
  agg.add('host', 'cpu', 0.5, 10);
  agg.add('host', 'cpu', 0.7, 20, { core: '1' });
  agg.add('host', 'mem', 0.7, 20);
  agg.add('api', 'p99', 9, 50);
  agg.advanceTo(1000);
  const results = agg.poll();
  assert.deepEqual(hub.publishResults(results), [1, 1]);
  assert.equal(sub.tryRecv().kind, 'snapshot');
  const msg = sub.tryRecv();
  assert.equal(msg.kind, 'update');
  assert.deepEqual(Object.keys(msg.data), ['cpu', 'cpu{core=1}', 'mem']);
  assert.equal(msg.data.cpu.mean, 0.5);
  assert.equal(msg.data.mem.count, 1);
  assert.deepEqual(Object.keys(msg.data.cpu.quantiles), ['p99', 'p50']);
  assert.deepEqual(msg.data.cpu.quantiles, { p99: 0.5, p50: 0.5 });
  assert.deepEqual(Object.keys(msg.data.cpu), RESULT_KEYS);
  assert.equal(hub.snapshot('api').data.p99.sum, 9);
  throwsCode(() => hub.publishResults([{ dashboard: 'x' }]), 'invalid_input');
  throwsCode(() => hub.publishResults([{ ...results[0], quantiles: { median: 1 } }]), 'invalid_input');
  throwsCode(() => hub.publishResults([{ ...results[0], count: 'x' }]), 'invalid_input');
  assert.equal(hub.stats.publications, 2); // the refused batches published nothing
  sub.close();
});

test('add on interleaved aggregators, a collected one and foreign receivers goes to the right object', () => {
  // `add` remembers its last receiver (bindings-node/src/napi/glue.rs, ReceiverCache): every call must
  // still reach the object it was called on, and a foreign `this` must still be refused.
  const a = new dashfeed.Aggregator({ window: '1s' });
  const b = new dashfeed.Aggregator({ window: '1s' });
  for (let i = 0; i < 10; i += 1) {
    a.add('d', 'm', 1, 100);
    b.add('d', 'm', 2, 100);
    b.add('d', 'm', 2, 100);
  }
  assert.equal(a.stats.events, 10);
  assert.equal(b.stats.events, 20);
  // Short-lived aggregators, each added to once: a new object (perhaps where a collected one was) is
  // never taken for the previous one.
  for (let i = 0; i < 200; i += 1) {
    const c = new dashfeed.Aggregator({ window: '1s' });
    c.add('d', 'm', i, 100);
    c.advanceTo(1000);
    assert.deepEqual(c.poll().map((r) => [r.count, r.sum]), [[1, i]]);
  }
  if (global.gc) global.gc();
  a.add('d', 'm', 1, 100);
  assert.equal(a.stats.events, 11);
  const add = dashfeed.Aggregator.prototype.add;
  throwsCode(() => add.call({}, 'd', 'm', 1, 100), 'invalid_input');
  throwsCode(() => add.call(new dashfeed.Hub(), 'd', 'm', 1, 100), 'invalid_input');
  a.add('d', 'm', 1, 100);
  assert.equal(a.stats.events, 12);
  // Optional arguments by count: tags as the fifth, an id as the sixth (kept on late output only).
  a.add('d', 'm', 1, 100, { host: 'x' });
  a.add('d', 'm', 1, 100, null, 'once');
  a.add('d', 'm', 1, 100, undefined, 'once');
  throwsCode(() => a.add('d', 'm', 1, 100, { host: 1 }), 'invalid_input');
  throwsCode(() => a.add('d', 'm', 1, 100, null, 7), 'invalid_input');
  throwsCode(() => a.add('d', 'm', 1, 'soon'), 'invalid_input');
  a.add('d', 'm', 1, 100n);
  a.add('d', 'm', 1, null);
  a.add('d', 'm', 1);
  a.advanceTo(10_000_000_000_000);
  const counts = a.poll().map((r) => [JSON.stringify(r.tags), r.count]);
  const untagged = counts.filter(([t]) => t === '{}').reduce((n, [, c]) => n + c, 0);
  const tagged = counts.filter(([t]) => t === '{"host":"x"}').reduce((n, [, c]) => n + c, 0);
  assert.equal(tagged, 1);
  assert.equal(untagged, 12 + 2 + 3);
});
