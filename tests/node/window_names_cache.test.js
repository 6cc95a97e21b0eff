'use strict';
// What Aggregator.addMany keeps of its text columns' names between calls (bindings-node/js/window.js,
// bindings-node/src/window/names.rs): a string[] column's dictionary grows from call to call and a
// categorical column's names are kept while they stay equal. Whatever is kept, every batch gives the
// results of adding its rows one by one; what is kept is measured in heap bytes, and is given back by
// flush(), by the bounds, and with the aggregator.

const test = require('node:test');
const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');
const dashfeed = require('../..');
const { runChild } = require('./child');
const { rng } = require('./window_rows');

const fresh = () => new dashfeed.Aggregator({ window: '1s', lateness: '200ms' });

/** `n` rows over `names`, event time from `t0` on (some rows late). */
function rows(names, n, t0, seed) {
  const r = rng(seed);
  const codes = new Uint32Array(n);
  const values = new Float64Array(n);
  const ts = new BigInt64Array(n);
  for (let i = 0; i < n; i += 1) {
    codes[i] = Math.floor(r() * names.length);
    values[i] = Math.round(r() * 1000) / 8;
    ts[i] = BigInt(t0 + Math.floor((i * 3000) / n) - (i % 29 === 0 ? 400 : 0));
  }
  return { codes, values, ts, texts: Array.from(codes, (c) => names[c]) };
}

function state(agg) {
  const late = agg.takeLate();
  const stats = agg.stats;
  return { stats, late, results: agg.flush() };
}

/** Adds batch `b` of metrics `m` to `agg` with addMany and to `ref` row by row. */
function both(agg, ref, metrics, b, dashboards = 'ops', dashTexts = null) {
  agg.addMany(dashboards, metrics, b.values, b.ts);
  for (let i = 0; i < b.values.length; i += 1) {
    ref.add(dashTexts ? dashTexts[i] : dashboards, b.texts[i], b.values[i], b.ts[i]);
  }
}

const names = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('string[] columns: a dictionary kept across calls gives the results of adding the rows one by one', () => {
  const agg = fresh();
  const ref = fresh();
  // Names that a plain object would treat specially, names that are array indexes, and non-ASCII.
  const special = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '0', '1', '4294967295',
    'é', '日本', 'a\u0000b'];
  let pool = [...special, ...names('m', 50)];
  for (let call = 0; call < 12; call += 1) {
    if (call % 3 === 2) pool = [...pool, ...names(`n${call}_`, 40)]; // new names now and then
    if (call === 7) pool = pool.slice(30); // old names unused
    const b = rows(pool, 3000, call * 3000, call + 1);
    // Dashboards as a string[] too, over names the metrics column also has.
    const dash = Array.from(b.texts, (t, i) => (i % 3 === 0 ? t : 'ops'));
    both(agg, ref, b.texts, b, dash, dash);
  }
  assert.deepEqual(state(agg), state(ref));
});

test('a row that is not a string is refused, never read as the name its text would be', () => {
  const agg = fresh();
  const ref = fresh();
  const b = rows(['5', 'x', 'y'], 100, 0, 3);
  both(agg, ref, b.texts, b);
  const before = agg.stats;
  let called = 0;
  const sneaky = { toString: () => { called += 1; return 'x'; } };
  for (const [bad, label] of [[5, 'the number 5 ("5" is a kept name)'], [sneaky, 'an object whose text is "x"'],
    [null, 'null'], [new String('x'), 'a String object']]) {
    const texts = ['x', 'y', bad, 'x'];
    assert.throws(() => agg.addMany('ops', texts, new Float64Array(4), 10n), (err) => {
      assert.equal(err.code, 'invalid_input', label);
      assert.match(err.message, /metrics\[2\] must be a string/, label);
      return true;
    });
    assert.deepEqual(agg.stats, before, `nothing applied: ${label}`);
  }
  assert.equal(called, 0, 'no toString() called');
  // A refused call may have added names to the dictionary: later calls are still right.
  const next = rows(['x', 'y', 'z', '5'], 100, 100, 4);
  both(agg, ref, next.texts, next);
  assert.deepEqual(state(agg), state(ref));
});

test('categorical names kept between calls: changed in place, reordered, equal in a new array', () => {
  const agg = fresh();
  const ref = fresh();
  const list = names('cat', 100);
  const feed = (namesArg, call) => {
    const b = rows(namesArg, 2000, call * 3000, call + 10);
    // `texts` read from the names as they are at this call
    both(agg, ref, { names: namesArg, codes: b.codes }, b);
  };
  feed(list, 0);
  feed(list, 1); // the same array: kept
  list[7] = 'changed'; // mutated in place
  feed(list, 2);
  list.reverse(); // reordered
  feed(list, 3);
  feed([...list], 4); // equal names in a new array
  feed(list.map((s) => `${s}`.slice(0)), 5); // equal texts, maybe other string objects
  feed(list.slice(0, 80), 6); // fewer names
  feed(names('few', 10), 7); // a short list
  feed(list, 8);
  // The same column as a string[] between two categorical calls, and back.
  const b = rows(list, 2000, 9 * 3000, 99);
  both(agg, ref, b.texts, b);
  feed(list, 10);
  assert.deepEqual(state(agg), state(ref));
});

test('categorical names: a refused call keeps nothing wrong; dashboards and metrics are kept apart', () => {
  const agg = fresh();
  const ref = fresh();
  const list = names('k', 70);
  const b = rows(list, 1000, 0, 5);
  both(agg, ref, { names: list, codes: b.codes }, b);
  const before = agg.stats;
  const bad = [...list];
  bad[69] = 69;
  assert.throws(() => agg.addMany('ops', { names: bad, codes: b.codes }, b.values, b.ts),
    (err) => err.code === 'invalid_input' && /metrics\.names\[69\] must be a string/.test(err.message));
  assert.deepEqual(agg.stats, before);
  // The two columns with each other's names, swapped between calls.
  const other = names('d', 70);
  for (let call = 1; call < 5; call += 1) {
    const [dn, mn] = call % 2 ? [list, other] : [other, list];
    const d = rows(dn, 1000, call * 3000, call + 20);
    const m = rows(mn, 1000, call * 3000, call + 20);
    agg.addMany({ names: dn, codes: d.codes }, { names: mn, codes: m.codes }, m.values, m.ts);
    for (let i = 0; i < 1000; i += 1) ref.add(d.texts[i], m.texts[i], m.values[i], m.ts[i]);
  }
  assert.deepEqual(state(agg), state(ref));
});

test('flush() drops what is kept and later calls read the names again', () => {
  const agg = fresh();
  const ref = fresh();
  const list = names('f', 100);
  for (let call = 0; call < 4; call += 1) {
    const b = rows(list, 1000, call * 3000, call + 30);
    if (call % 2) both(agg, ref, { names: list, codes: b.codes }, b);
    else both(agg, ref, b.texts, b);
    if (call === 1) assert.deepEqual(agg.flush(), ref.flush());
    if (call === 2) assert.deepEqual(agg.flushColumns().length, ref.flush().length);
  }
  assert.deepEqual(state(agg), state(ref));
  // Two aggregators keep their own names.
  const a = fresh();
  const c = fresh();
  const ra = fresh();
  const rc = fresh();
  for (let call = 0; call < 3; call += 1) {
    const ba = rows(names('a', 90), 500, call * 3000, call + 40);
    const bc = rows(names('c', 90), 500, call * 3000, call + 50);
    both(a, ra, ba.texts, ba);
    both(c, rc, { names: names('c', 90), codes: bc.codes }, bc);
  }
  assert.deepEqual(state(a), state(ra));
  assert.deepEqual(state(c), state(rc));
});

/** The JS heap in use after a full garbage collection. */
function heapUsed() {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** `n` distinct names of 40 characters, made afresh (only the caller holds them). */
const longNames = (tag, n) => Array.from({ length: n }, (_, i) => `${tag}-${String(i).padStart(8, '0')}-${'x'.repeat(28)}`);

test('what is kept is measured: the names stay allocated until flush() or the aggregator goes', async () => {
  const N = 100_000;
  const namesBytes = N * 40; // at least one byte per character (V8 one-byte strings)
  const base = heapUsed();
  // One-hour windows, every event in the one after the last flush: no result waits, none is late.
  let agg = new dashfeed.Aggregator({ window: '1h' });
  {
    let texts = longNames('s', N);
    agg.addMany('ops', texts, new Float64Array(N), 1n);
    texts = null;
  }
  const kept = heapUsed() - base;
  assert.ok(kept > namesBytes, `string[] dictionary keeps its names: ${kept} bytes retained`);
  agg.flush();
  const afterFlush = heapUsed() - base;
  assert.ok(afterFlush < kept - namesBytes, `flush() gives them back: ${afterFlush} bytes retained, ${kept} before`);

  {
    let list = longNames('c', N);
    agg.addMany('ops', { names: list, codes: new Uint32Array(N).map((_, i) => i) }, new Float64Array(N), 7_200_000n);
    list = null;
  }
  const keptCat = heapUsed() - base;
  assert.ok(keptCat > afterFlush + namesBytes, `categorical names kept: ${keptCat} bytes retained`);
  // Other names replace them.
  agg.addMany('ops', { names: names('o', 100), codes: new Uint32Array(1) }, new Float64Array(1), 7_200_000n);
  const replaced = heapUsed() - base;
  assert.ok(replaced < keptCat - namesBytes, `replaced by the next names: ${replaced} bytes, ${keptCat} before`);

  agg = null;
  // An aggregator that keeps a dictionary, made and dropped in another frame; collected, it takes
  // what it kept with it (the helper's WeakMap).
  let collected = false;
  const registry = new FinalizationRegistry(() => { collected = true; });
  const keepThenDrop = () => {
    const other = new dashfeed.Aggregator({ window: '1h' });
    other.addMany('ops', longNames('g', N), new Float64Array(N), 1n);
    registry.register(other, 'other');
    return heapUsed();
  };
  const withOther = keepThenDrop() - base;
  assert.ok(withOther > replaced + namesBytes, `kept by the other aggregator: ${withOther} bytes`);
  for (let i = 0; i < 20 && !collected; i += 1) {
    heapUsed();
    await new Promise((res) => setImmediate(res));
  }
  assert.ok(collected, 'the aggregator was collected');
  const gone = heapUsed() - base;
  assert.ok(gone < withOther - namesBytes, `its names went with it: ${gone} bytes, ${withOther} before`);
});

test('a dictionary past 2^20 names starts over at the next call', () => {
  const agg = fresh();
  const N = (1 << 20) + 1;
  const base = heapUsed();
  {
    let texts = Array.from({ length: N }, (_, i) => `n${i}`);
    agg.addMany('ops', texts, new Float64Array(N), 5n); // one call: a dictionary grows only by batches at least half its size
    texts = null;
  }
  const full = heapUsed() - base;
  assert.ok(full > N * 16, `the full dictionary is kept: ${full} bytes`);
  agg.addMany('ops', ['a', 'b'], new Float64Array(2), 6n);
  const restarted = heapUsed() - base;
  assert.ok(restarted < full / 4, `started over: ${restarted} bytes retained, ${full} before`);
  assert.equal(agg.stats.keys, N + 2, 'every name reached the core');
  assert.equal(agg.stats.events, N + 2);
});

test('a call made by a getter while addMany reads its arguments does not change the names of the first', () => {
  const agg = fresh();
  const ref = fresh();
  const first = rows(['a', 'b', 'c'], 300, 0, 61);
  agg.addMany(first.texts, 'm', first.values, first.ts); // dashboards a, b, c kept
  for (let i = 0; i < 300; i += 1) ref.add(first.texts[i], 'm', first.values[i], first.ts[i]);
  const outer = rows(['a', 'b', 'c'], 50, 3000, 62);
  const nested = rows(['x', 'y'], 20, 6000, 63);
  const values = Array.from(outer.values);
  let flushed = null;
  // The values column is an array: reading it runs this getter after both text columns were read.
  Object.defineProperty(values, 0, {
    get() {
      if (flushed === null) {
        flushed = agg.flush(); // drops what is kept
        agg.addMany(nested.texts, 'm', nested.values, nested.ts); // a new dictionary for dashboards
      }
      return outer.values[0];
    },
  });
  agg.addMany(outer.texts, 'm', values, outer.ts);
  assert.deepEqual(flushed, ref.flush());
  for (let i = 0; i < 20; i += 1) ref.add(nested.texts[i], 'm', nested.values[i], nested.ts[i]);
  for (let i = 0; i < 50; i += 1) ref.add(outer.texts[i], 'm', outer.values[i], outer.ts[i]);
  assert.deepEqual(state(agg), state(ref));
});

test('a getter among categorical names that calls the aggregator does not deadlock it', async () => {
  // A names array the native side reads itself (it holds a non-string, so the call is refused):
  // the getter calls flush() and addMany() on the same aggregator while it is read.
  const code = `
    const dashfeed = require('.');
    const agg = new dashfeed.Aggregator({ window: '1s' });
    agg.addMany('ops', { names: ['p', 'q'], codes: new Uint32Array([0, 1]) }, [1, 2], 1n);
    let calls = 0;
    const names = ['a', 5];
    Object.defineProperty(names, 0, { get() { calls += 1; agg.flush(); agg.addMany('ops', ['r', 's'], [3, 4], 2n); return 'a'; } });
    try { agg.addMany('ops', { names, codes: new Uint32Array([0, 0]) }, [1, 1], 3n); } catch (e) { console.log(e.code, e.message); }
    console.log('calls', calls, 'events', agg.stats.events);
  `;
  const { status, out, err } = await runChild(code, 20_000);
  assert.equal(status, 0, err);
  assert.match(out, /invalid_input .*metrics\.names\[1\] must be a string/);
  assert.match(out, /calls [1-9]/);
});

test('small batches after a large dictionary, and large ones again: the results of adding the rows one by one', () => {
  const agg = fresh();
  const ref = fresh();
  const pool = names('big', 60_000);
  for (let call = 0; call < 10; call += 1) {
    // 30,000 rows, then 10, then 3 over names partly new, in turn (the dictionary reaches ~46,000
    // names), then 4,100-row batches, which start over a dictionary of more than 8 names per row
    // plus 4,096 (36,896)
    const n = call < 8 ? [30_000, 10, 3][call % 3] : 4_100;
    const b = rows([...pool, ...names(`new${call}_`, 5)], n, call * 3000, call + 70);
    both(agg, ref, b.texts, b);
  }
  assert.deepEqual(state(agg), state(ref));
});

test('the same names call after call: the process does not grow (no copy kept per call)', () => {
  const N = 100_000;
  const agg = new dashfeed.Aggregator({ window: '1h' });
  const texts = longNames('r', N);
  const values = new Float64Array(N);
  agg.addMany('ops', texts, values, 1n);
  heapUsed();
  const before = process.memoryUsage().rss;
  // Each native copy of these names is ~4.8 MB (40 bytes of text and an 8-byte end per name):
  // kept again by each of 40 calls (appended to the kept list), they would add ~190 MB.
  for (let call = 0; call < 40; call += 1) agg.addMany('ops', texts, values, 2n);
  heapUsed();
  const grown = process.memoryUsage().rss - before;
  assert.ok(grown < 48 * 1024 * 1024, `RSS grew by ${grown} bytes over 40 calls`);
  assert.equal(agg.stats.events, 41 * N);
});

test('past 2^25 UTF-16 units a dictionary starts over, and categorical names past the bounds are not kept', () => {
  // 140,000 names of 240 characters: 33.6M units, past 2^25 (33.55M); each name within the core's
  // 256-byte limit.
  const N = 140_000;
  const wide = (tag) => Array.from({ length: N }, (_, i) => `${tag}${String(i).padStart(7, '0')}`.padEnd(240, 'w'));
  const agg = new dashfeed.Aggregator({ window: '1h' });
  const base = heapUsed();
  const addWide = () => {
    agg.addMany('ops', wide('s'), new Float64Array(N), 1n);
  };
  addWide();
  const full = heapUsed() - base;
  assert.ok(full > N * 240, `the dictionary holds its names: ${full} bytes`);
  agg.addMany('ops', ['a', 'b'], new Float64Array(2), 2n); // the next call starts it over
  const restarted = heapUsed() - base;
  assert.ok(restarted < full - N * 200, `started over: ${restarted} bytes retained, ${full} before`);

  // Categorical names past 2^25 units, then past 2^20 names: read for their call, not kept.
  for (const [label, make] of [['2^25 units', () => wide('c')],
    ['2^20 names', () => Array.from({ length: (1 << 20) + 1 }, (_, i) => `k${i}`)]]) {
    const before = heapUsed() - base;
    // In a frame of its own, gone before the heap is measured (the caller holds nothing).
    const addOnce = () => {
      const list = make();
      const codes = new Uint32Array(64).map((_, i) => i);
      agg.addMany('ops', { names: list, codes }, new Float64Array(64), 3n);
      return list.length;
    };
    const size = addOnce();
    const after = heapUsed() - base;
    assert.ok(after < before + size * 8, `${label}: ${after - before} bytes retained for ${size} names`);
  }
  assert.equal(agg.stats.events, N + 2 + 128);
});
