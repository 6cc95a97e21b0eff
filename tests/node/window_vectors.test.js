'use strict';
// Replays tests/vectors/windows (shared with the Rust and Python suites; format in its README.md)
// through the Node Aggregator. Each scenario runs twice: batches as plain arrays, and as TypedArrays
// (Float64Array values, BigInt64Array times) read in place — both must give the vector's results.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dashfeed = require('../..');
const { columnRows } = require('./window_rows');

const DIR = path.join(__dirname, '..', 'vectors', 'windows');
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

/** A vector number: "NaN", "Infinity", "-Infinity" stand for those floats. */
function num(v) {
  if (typeof v === 'string') {
    const special = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity }[v];
    assert.ok(special !== undefined, `not a number: ${v}`);
    return special;
  }
  return Number(v);
}

/** snake_case stats names of the vectors → the Node getter's camelCase. */
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function make(config, clock) {
  const cfg = { ...config };
  if (Array.isArray(cfg.quantiles)) cfg.quantiles = cfg.quantiles.map(num);
  return dashfeed.Aggregator.fromConfig(cfg, clock);
}

function sameMap(got, exp) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(exp).sort());
  for (const k of Object.keys(exp)) assert.equal(got[k], exp[k], k);
}

function sameResult(got, exp, tol, where) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(exp).sort(), where);
  for (const [k, v] of Object.entries(exp)) {
    if (k === 'quantiles') {
      assert.deepEqual(Object.keys(got.quantiles).sort(), Object.keys(v).sort(), where);
      for (const [name, q] of Object.entries(v)) {
        const diff = Math.abs(got.quantiles[name] - num(q));
        assert.ok(diff <= tol * Math.abs(num(q)) + 1e-12, `${where}: ${name} ${got.quantiles[name]} vs ${q}`);
      }
    } else if (k === 'tags') {
      sameMap(got.tags, v);
    } else if (typeof v === 'boolean' || typeof v === 'string') {
      assert.equal(got[k], v, `${where}: ${k}`);
    } else {
      assert.equal(got[k], num(v), `${where}: ${k}`);
    }
  }
}

function columns(step, typed) {
  const values = step.values.map(num);
  let ts = step.ts;
  if (!typed) return [values, ts];
  if (Array.isArray(ts)) ts = BigInt64Array.from(ts.map(BigInt));
  return [Float64Array.from(values), ts];
}

/** Replays `scenario`; `typed`: columns as TypedArrays; `asColumns`: results taken with
 * pollColumns() / flushColumns() instead of poll() / flush(). */
function replay(scenario, typed, asColumns = false) {
  const clock = new dashfeed.ManualClock();
  if ('config_error' in scenario) {
    assert.throws(() => make(scenario.config, clock), (err) => err.code === scenario.config_error);
    return;
  }
  const agg = make(scenario.config, clock);
  const tol = scenario.quantile_tolerance ?? 0;
  scenario.steps.forEach((step, i) => {
    const where = `step ${i}: ${JSON.stringify(step)}`;
    const call = () => {
      switch (step.op) {
        case 'add': {
          const e = step.event;
          return agg.add(e.dashboard, e.metric, num(e.value), e.ts, e.tags ?? null, e.id ?? null);
        }
        case 'add_columns': {
          const [values, ts] = columns(step, typed);
          return agg.addMany(step.dashboards, step.metrics, values, ts, step.tags ?? null);
        }
        case 'advance_to':
          return agg.advanceTo(step.ts);
        default:
          throw new Error(`unknown op ${step.op}`);
      }
    };
    switch (step.op) {
      case 'add':
      case 'add_columns':
      case 'advance_to':
        if ('error' in step) {
          assert.throws(call, (err) => err.code === step.error, where);
        } else {
          call();
        }
        break;
      case 'clock':
        clock.advanceMs(step.advance_ms);
        break;
      case 'poll':
      case 'flush': {
        let got;
        if (asColumns) got = columnRows(step.op === 'poll' ? agg.pollColumns() : agg.flushColumns());
        else got = step.op === 'poll' ? agg.poll() : agg.flush();
        assert.equal(got.length, step.expect.length, `${where}: got ${JSON.stringify(got)}`);
        got.forEach((r, j) => sameResult(r, step.expect[j], tol, `${where} [${j}]`));
        break;
      }
      case 'take_late': {
        const got = agg.takeLate();
        assert.equal(got.length, step.expect.length, `${where}: got ${JSON.stringify(got)}`);
        got.forEach((g, j) => {
          const e = step.expect[j];
          assert.equal(g.dashboard, e.dashboard, where);
          assert.equal(g.metric, e.metric, where);
          assert.equal(g.value, num(e.value), where);
          assert.equal(g.ts, e.ts, where);
          sameMap(g.tags, e.tags ?? {});
          assert.equal(g.id, e.id ?? null, where);
        });
        break;
      }
      case 'stats': {
        const stats = agg.stats;
        for (const [k, v] of Object.entries(step.expect)) assert.equal(stats[camel(k)], v, `${where}: ${k}`);
        break;
      }
      default:
        throw new Error(`unknown op ${step.op}`);
    }
  });
}

test('every vector file is replayed', () => {
  assert.ok(FILES.length >= 10, FILES.join(', '));
});

for (const file of FILES) {
  const { scenarios } = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
  for (const scenario of scenarios) {
    for (const typed of [false, true]) {
      test(`${file}: ${scenario.name}${typed ? ' (TypedArrays)' : ''}`, () => replay(scenario, typed));
    }
    test(`${file}: ${scenario.name} (pollColumns)`, () => replay(scenario, true, true));
  }
}
