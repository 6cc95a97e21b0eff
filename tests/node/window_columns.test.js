'use strict';
// Aggregator.pollColumns / flushColumns: the window results as TypedArrays with the dashboards,
// metrics and tags dictionary-encoded. Row i must be the result poll() would have returned in its
// place, in the same order, whether an aggregator is polled as columns only or switches between
// the two forms.

const test = require('node:test');
const assert = require('node:assert/strict');
const dashfeed = require('../..');
const { columnRows } = require('./window_rows');

/** Event i of a stream over ~4 minutes of event time (keys are forgotten and their slots reused):
 * two dashboards, short and long metric names, tag sets shared by several keys, late rows. */
function add(agg, i) {
  const metric = i % 9 === 0 ? 'a.metric.name.longer.than.sixteen.bytes' : `m${Math.floor(i / 400) + (i % 9)}`;
  const tags = i % 4 === 0 ? { host: 'a' } : i % 4 === 1 ? { zone: 'z', host: 'b' } : undefined;
  const ts = i * 40 - (i % 31 === 0 ? 900 : 0);
  agg.add(i % 5 === 0 ? 'd2' : 'd1', metric, (i % 17) - 4.5, ts, tags);
}

/** The rows of a columns object, as the plain result objects poll() returns (the length checked). */
function rows(cols) {
  assert.equal(cols.start.length, cols.length);
  return columnRows(cols);
}

function unique(list) {
  return new Set(list.map((x) => JSON.stringify(x))).size === list.length;
}

const OPTIONS = [
  { window: '1s', quantiles: [0.5, 0.99], lateness: '200ms', emit: { mode: 'updates', interval: '250ms' } },
  { window: dashfeed.session('700ms') },
  { window: dashfeed.count(5) },
];

test('columns hold, row by row and in order, the results poll() returns', () => {
  const EVENTS = 6000;
  for (const options of OPTIONS) {
    // Polls every ~4 s of event time as columns only or alternating with poll(), and every 100 s
    // (a batch then spans keys forgotten and slots reused).
    for (const [every, asColumns] of [[97, () => true], [97, (n) => n % 2 === 0], [2500, () => true]]) {
      const want = new dashfeed.Aggregator(options);
      const agg = new dashfeed.Aggregator(options);
      const expected = [];
      const got = [];
      let polls = 0;
      for (let i = 0; i < EVENTS; i += 1) {
        add(want, i);
        add(agg, i);
        if (i % every !== 0) continue;
        expected.push(...want.poll());
        if (asColumns(polls)) {
          const cols = agg.pollColumns();
          assert.ok(unique(cols.dashboard.names) && unique(cols.metric.names) && unique(cols.tags.sets));
          got.push(...rows(cols));
        } else {
          got.push(...agg.poll());
        }
        polls += 1;
      }
      assert.deepEqual(agg.stats, want.stats);
      expected.push(...want.flush());
      got.push(...rows(agg.flushColumns()));
      assert.ok(expected.length > 500 && polls > 2, `${expected.length} results`);
      assert.equal(got.length, expected.length);
      assert.deepEqual(got, expected);
    }
  }
});

test('an empty poll has every column; tags with any name are own properties', () => {
  const agg = new dashfeed.Aggregator({ window: '1s', quantiles: [0.9] });
  const empty = agg.pollColumns();
  assert.equal(empty.length, 0);
  assert.deepEqual(Object.keys(empty.quantiles), ['p90']);
  assert.ok(empty.final instanceof Uint8Array && empty.final.length === 0);
  assert.deepEqual(empty.metric.names, []);
  agg.add('d', 'm', 1, 10, JSON.parse('{"__proto__": "x", "constructor": "y"}'));
  const cols = agg.flushColumns();
  assert.equal(cols.length, 1);
  const set = cols.tags.sets[0];
  assert.deepEqual(Object.keys(set), ['__proto__', 'constructor']);
  assert.equal(Object.getPrototypeOf(set), Object.prototype);
  assert.equal(set.__proto__, 'x');
});

test('pending columns count toward maxPendingResults and a full buffer refuses input', () => {
  const agg = new dashfeed.Aggregator({ window: '1s', maxPendingResults: 3 });
  agg.pollColumns();
  for (const [i, m] of ['a', 'b', 'c'].entries()) agg.add('d', m, 1, i);
  agg.advanceTo(5000);
  assert.equal(agg.stats.pendingResults, 3);
  assert.throws(() => agg.add('d', 'a', 1, 5000), (e) => e.code === 'too_large');
  const cols = agg.pollColumns();
  assert.deepEqual(cols.metric.names, ['a', 'b', 'c']);
  assert.deepEqual([...cols.count], [1, 1, 1]);
  agg.add('d', 'a', 1, 5000);
});
