'use strict';
// Aggregator.addMany with categorical text columns ({ names, codes }): the results of adding the rows
// one by one, and refused batches (code out of range, negative code, length mismatch, bad names)
// that leave the aggregator's state as it was.

const test = require('node:test');
const assert = require('node:assert/strict');
const dashfeed = require('../..');

const NAMES = Array.from({ length: 13 }, (_, i) => `m${i}`);
const N = 20000;

function rows() {
  let s = 11;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const codes = new Uint32Array(N);
  const values = new Float64Array(N);
  const ts = new BigInt64Array(N);
  for (let i = 0; i < N; i += 1) {
    codes[i] = Math.floor(rand() * NAMES.length);
    values[i] = rand() * 100;
    // 3 minutes of event time (keys are forgotten and re-interned), some rows late
    ts[i] = BigInt(Math.floor((i * 180000) / N) - (i % 37 === 0 ? 5000 : 0));
  }
  return { codes, values, ts };
}

const fresh = () => new dashfeed.Aggregator({ window: '1s', lateness: '200ms', quantiles: [0.5] });

function state(agg) {
  const late = agg.takeLate();
  const stats = agg.stats;
  return { stats, late, results: agg.flush() };
}

test('categorical columns give the results of adding the rows one by one', () => {
  const { codes, values, ts } = rows();
  const one = fresh();
  for (let i = 0; i < N; i += 1) one.add('ops', NAMES[codes[i]], values[i], ts[i]);
  const want = state(one);
  for (const [label, c] of [['Uint32Array', codes], ['Int32Array', Int32Array.from(codes)]]) {
    const agg = fresh();
    assert.equal(agg.addMany('ops', { names: NAMES, codes: c }, values, ts), N, label);
    assert.deepEqual(state(agg), want, label);
  }
  // Categorical dashboards, one metric.
  const byDash = fresh();
  const ref = fresh();
  byDash.addMany({ names: NAMES, codes }, 'cpu', values, ts);
  for (let i = 0; i < N; i += 1) ref.add(NAMES[codes[i]], 'cpu', values[i], ts[i]);
  assert.deepEqual(state(byDash), state(ref));
});

test('bad categorical batches are refused with invalid_input and apply nothing', () => {
  const { codes, values, ts } = rows();
  const agg = fresh();
  agg.addMany('ops', { names: NAMES, codes: codes.subarray(0, 100) }, values.subarray(0, 100), ts.subarray(0, 100));
  const before = agg.stats;
  const five = new Float64Array(5).fill(1);
  const bad = {
    'code out of range': [{ names: NAMES, codes: new Uint32Array([0, 1, 13, 2, 3]) }, /code 13 is out of range/],
    'negative code': [{ names: NAMES, codes: new Int32Array([0, -1, 1, 2, 3]) }, /metrics\[1\] is null/],
    'codes length': [{ names: NAMES, codes: new Uint32Array([0, 1]) }, /metrics has 2 codes, values has 5/],
    'empty name used': [{ names: ['a', ''], codes: new Uint32Array([0, 0, 0, 1, 0]) }, /metrics\[3\]/],
    'names not strings': [{ names: ['a', 7], codes: new Uint32Array([0, 0, 0, 0, 0]) }, /names\[1\]/],
    'a name undefined': [{ names: ['a', 'b', undefined], codes: new Uint32Array(5) }, /names\[2\] must be a string/],
    'a hole in names': [{ names: ['a', , 'c'], codes: new Uint32Array(5) }, /names\[1\] must be a string/], // a sparse array
    'a Symbol name': [{ names: [Symbol('a')], codes: new Uint32Array(5) }, /names\[0\] must be a string/],
    'a String object name': [{ names: ['a', new String('b')], codes: new Uint32Array(5) }, /names\[1\] must be a string/],
    'codes of another type': [{ names: NAMES, codes: new Float64Array(5) }, /Uint32Array \| Int32Array/],
    'codes missing': [{ names: NAMES }, /Uint32Array \| Int32Array/],
  };
  for (const [label, [metrics, message]] of Object.entries(bad)) {
    assert.throws(() => agg.addMany('ops', metrics, five, 1n), (err) => {
      assert.equal(err.code, 'invalid_input', label);
      assert.match(err.message, message, label);
      return true;
    });
    assert.deepEqual(agg.stats, before, `nothing applied: ${label}`);
  }
  // An unused bad name is not checked; the intact state goes on as if nothing was refused.
  assert.equal(agg.addMany('ops', { names: [...NAMES, ''], codes: codes.subarray(100) }, values.subarray(100),
    ts.subarray(100)), N - 100);
  const ref = fresh();
  for (let i = 0; i < N; i += 1) ref.add('ops', NAMES[codes[i]], values[i], ts[i]);
  assert.deepEqual(state(agg), state(ref));
});
