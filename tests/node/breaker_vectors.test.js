'use strict';
// Replays tests/vectors/breaker (shared with the Rust and Python suites, format in its README.md)
// through the Node API: the breaker transcripts on a ManualClock, with transitions recorded by a
// 'stateChange' listener, and the keyed rate limiter transcripts.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dashfeed = require('../..');

const DIR = path.join(__dirname, '..', 'vectors', 'breaker');
const load = (name) => JSON.parse(fs.readFileSync(path.join(DIR, name), 'utf8'));
const BREAKER_FILES = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.json') && f !== 'limiter.json')
  .sort();

class Counted extends Error {}
class Excluded extends Error {}

/** The vectors' snake_case counter names → the keys of `breaker.stats`. */
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** Retry-after values are whole ms; compare within 1 µs. */
function assertMs(actual, expectedMs, where) {
  assert.equal(typeof actual, 'number', where);
  assert.ok(Math.abs(actual - expectedMs) <= 1e-3, `${where}: retryAfter ${actual} != ${expectedMs}`);
}

function makeBreaker(config, clock) {
  const options = {
    failureThreshold: config.failure_threshold,
    resetTimeout: config.reset_timeout_ms,
    halfOpenMaxCalls: config.half_open_max_calls,
    successThreshold: config.success_threshold,
    errorFilter: (err) => err instanceof Excluded,
    clock,
  };
  if ('slow_call_ms' in config) options.slowCallDuration = config.slow_call_ms;
  if ('timeout_ms' in config) options.timeout = config.timeout_ms;
  if (config.fallback) options.fallback = () => 'fallback';
  const rate = config.failure_rate;
  if (rate) {
    options.failureRate = rate.threshold;
    options.minimumCalls = rate.minimum_calls;
    if ('count' in rate.window) {
      options.rateWindow = rate.window.count;
    } else {
      options.rateWindowMs = rate.window.time_ms;
      options.rateBuckets = rate.window.buckets;
    }
  }
  return new dashfeed.CircuitBreaker(options);
}

/** A call step's answer when it names none (tests/vectors/breaker/README.md). */
function defaultAnswer(step) {
  if (step.expect === 'rejected') return 'circuit_open';
  return step.outcome === 'success' ? 'value' : 'error';
}

/** The rejection of a promise (or a failure if it resolves). */
async function rejection(promise, where) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${where}: expected a rejection`);
}

async function replay(c) {
  const clock = new dashfeed.ManualClock();
  const breaker = makeBreaker(c.config, clock);
  const entered = [];
  breaker.on('stateChange', (ev) => entered.push(ev.to));
  const permits = new Map();
  for (const [i, step] of c.steps.entries()) {
    const where = `${c.name} step ${i}: ${JSON.stringify(step)}`;
    switch (step.op) {
      case 'acquire':
        if (step.expect === 'allowed') {
          permits.set(step.permit, breaker.acquire());
        } else {
          const err = (() => {
            try {
              breaker.acquire();
            } catch (e) {
              return e;
            }
            return assert.fail(`${where}: acquire should be rejected`);
          })();
          assert.equal(err.code, 'circuit_open', where);
          assertMs(err.retryAfter, step.retry_after_ms, where);
        }
        break;
      case 'report': {
        const permit = permits.get(step.permit);
        assert.ok(permit, where);
        permits.delete(step.permit);
        const d = step.duration_ms ?? 0;
        if (step.outcome === 'success') permit.success(d);
        else if (step.outcome === 'failure') permit.failure(d);
        else if (step.outcome === 'timeout') permit.timeout(d);
        else permit.ignore();
        break;
      }
      case 'call': {
        let ran = false;
        const fn = () => {
          ran = true;
          clock.advanceMs(step.duration_ms);
          if (step.outcome === 'failure') throw new Counted('boom');
          if (step.outcome === 'ignored') throw new Excluded('not counted');
          if (step.outcome === 'timed_out') return new Promise(() => {}); // the breaker's timer ends it
          return 'ok';
        };
        const answer = step.answer ?? defaultAnswer(step);
        if (answer === 'value' || answer === 'fallback') {
          assert.equal(await breaker.fire(fn), answer === 'value' ? 'ok' : 'fallback', where);
        } else {
          const err = await rejection(breaker.fire(fn), where);
          if (answer === 'error') {
            assert.ok(err instanceof (step.outcome === 'failure' ? Counted : Excluded), where);
          } else {
            assert.equal(err.code, answer, where);
            if (answer === 'circuit_open') assertMs(err.retryAfter, step.retry_after_ms, where);
          }
        }
        assert.equal(ran, step.expect === 'allowed', `${where}: fn ran`);
        break;
      }
      case 'advance':
        clock.advanceMs(step.ms);
        break;
      case 'open':
      case 'close':
      case 'reset':
        breaker[step.op]();
        break;
      case 'counters': {
        const stats = breaker.stats;
        for (const [name, n] of Object.entries(step.expect)) {
          assert.equal(stats[camel(name)], n, `${where}: ${name}`);
        }
        break;
      }
      default:
        assert.fail(`unknown op ${step.op}`);
    }
    assert.equal(breaker.state, step.state, where);
    assert.deepStrictEqual(entered, step.transitions ?? [], where);
    entered.length = 0;
  }
}

for (const file of BREAKER_FILES) {
  test(`breaker vectors: ${file}`, async (t) => {
    const { cases } = load(file);
    assert.ok(cases.length > 0);
    for (const c of cases) {
      await t.test(c.name, () => replay(c));
    }
  });
}

test('limiter vectors: limiter.json', async (t) => {
  const { cases } = load('limiter.json');
  assert.ok(cases.length > 0);
  for (const c of cases) {
    await t.test(c.name, () => {
      const clock = new dashfeed.ManualClock();
      const limiter = new dashfeed.RateLimiter(c.config.rate, c.config.burst, clock);
      let now = 0;
      for (const [i, step] of c.steps.entries()) {
        const where = `${c.name} step ${i}: ${JSON.stringify(step)}`;
        clock.advanceMs(step.t_ms - now);
        now = step.t_ms;
        if (step.op === 'retain_recent') {
          limiter.retainRecent();
          assert.equal(limiter.size, step.keys, where);
          continue;
        }
        assert.equal(step.op, 'check', where);
        if (step.expect === 'error') {
          assert.throws(() => limiter.checkN(step.key, step.n), { code: step.code }, where);
          continue;
        }
        const decision = step.n === undefined ? limiter.check(step.key) : limiter.checkN(step.key, step.n);
        if (step.expect === 'allowed') {
          assert.deepStrictEqual(decision, { allowed: true, retryAfterMs: 0 }, where);
        } else {
          assert.equal(step.expect, 'limited', where);
          assert.equal(decision.allowed, false, where);
          assertMs(decision.retryAfterMs, step.retry_after_ms, where);
        }
      }
    });
  }
});
