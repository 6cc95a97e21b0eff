'use strict';
// The circuit breaker and rate limiter from Node: fire/call (sync and async), errors passing through,
// rejection, fallback, errorFilter, timeout, listeners, manual control, stats, bad options, half-open
// admission under concurrent promises, permits, the keyed rate limiter. Every wait is bounded.

const test = require('node:test');
const assert = require('node:assert/strict');
const dashfeed = require('../..');

const { CircuitBreaker, ManualClock, RateLimiter } = dashfeed;

class Boom extends Error {}

/** What `fn` throws (a failure if it does not). */
function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return assert.fail('expected an error');
}

/** What `promise` rejects with (a failure if it resolves). */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return assert.fail('expected a rejection');
}

/** A promise settled from outside. */
function gate() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves after `ms` real milliseconds (only to bound waits). */
const delay = (ms) => new Promise((res) => setTimeout(res, ms));

/** `promise`, or a failure after `ms` real milliseconds. */
function within(ms, promise) {
  let timer;
  const limit = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

test('fire runs sync and async functions with their arguments and returns a Promise', async () => {
  const b = new CircuitBreaker();
  const p = b.fire((a, c) => a + c, 2, 3);
  assert.ok(p instanceof Promise);
  assert.equal(await p, 5);
  assert.equal(await b.fire(async (x) => x * 2, 21), 42);
  assert.deepStrictEqual(await b.fire((...args) => args, 1, 'two', null, undefined, 5, 6, 7, 8, 9, 10), [
    1,
    'two',
    null,
    undefined,
    5,
    6,
    7,
    8,
    9,
    10,
  ]);
  assert.equal(await b.fire(function count() { return arguments.length; }), 0);
  // A plain thenable is followed like a Promise.
  assert.equal(await b.fire(() => ({ then: (ok) => ok('thenable') })), 'thenable');
  // `fire` needs no `this`.
  const { fire } = b;
  assert.equal(await fire(() => 'detached'), 'detached');
  assert.equal(b.fire, b.fire);
  assert.deepStrictEqual(
    { ...b.stats },
    {
      state: 'closed',
      calls: 6,
      successes: 6,
      failures: 0,
      ignored: 0,
      rejections: 0,
      slowCalls: 0,
      timeouts: 0,
      stateChanges: 0,
    },
  );
});

test('calls nest: a guarded function may call the breaker again', async () => {
  const b = new CircuitBreaker({ failureThreshold: 3 });
  const inner = (x) => b.call((y) => y + 1, x);
  assert.equal(b.call((x) => inner(x) * 2, 1), 4);
  assert.equal(await b.fire(async (x) => (await b.fire(inner, x)) * 10, 1), 20);
  const boom = new Boom();
  assert.equal(thrown(() => b.call(() => b.call(() => { throw boom; }))), boom);
  assert.equal(b.stats.calls, 7);
  assert.equal(b.stats.successes, 5);
  assert.equal(b.stats.failures, 2);
});

test('call is synchronous for sync functions and guards async ones', async () => {
  const b = new CircuitBreaker({ failureThreshold: 2 });
  assert.equal(b.call((a, c) => a * c, 6, 7), 42);
  const original = new Boom('sync');
  assert.equal(thrown(() => b.call(() => { throw original; })), original);
  const p = b.call(async () => { throw new Boom('async'); });
  assert.ok(p instanceof Promise);
  assert.ok((await rejection(p)) instanceof Boom);
  assert.equal(b.state, 'open');
  let ran = false;
  const err = thrown(() => b.call(() => { ran = true; }));
  assert.equal(err.code, 'circuit_open');
  assert.equal(ran, false);
});

test('the original error passes through unchanged, sync or async', async () => {
  const b = new CircuitBreaker();
  const sync = new Boom('same object');
  assert.equal(await rejection(b.fire(() => { throw sync; })), sync);
  const async_ = new Boom('async object');
  assert.equal(await rejection(b.fire(async () => { throw async_; })), async_);
  assert.equal(await rejection(b.fire(() => Promise.reject(async_))), async_);
  // Non-Error values too.
  assert.equal(await rejection(b.fire(() => { throw 'a string'; })), 'a string');
  const obj = { reason: 'plain object' };
  assert.equal(await rejection(b.fire(async () => { throw obj; })), obj);
  assert.equal(b.stats.failures, 5);
});

test('an open breaker rejects without calling fn, with circuit_open and the retry time', async () => {
  const clock = new ManualClock();
  const b = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 30_000, clock });
  let calls = 0;
  const bad = () => {
    calls += 1;
    throw new Boom();
  };
  for (let i = 0; i < 2; i += 1) await rejection(b.fire(bad));
  assert.equal(b.state, 'open');
  clock.advanceMs(10_000);
  const err = await rejection(b.fire(bad));
  assert.equal(calls, 2);
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'circuit_open');
  assert.ok(dashfeed.errorCodes().includes(err.code));
  assert.equal(err.retryAfter, 20_000);
  assert.match(err.message, /circuit open; next trial in 20s/);
  const acq = thrown(() => b.acquire());
  assert.equal(acq.code, 'circuit_open');
  assert.equal(acq.retryAfter, 20_000);
  assert.equal(b.stats.rejections, 2);
});

test('fallback answers rejected and failed calls with the call arguments', async () => {
  const seen = [];
  const b = new CircuitBreaker({
    failureThreshold: 1,
    fallback: (...args) => {
      seen.push(args);
      return 'fallback';
    },
  });
  const bad = () => { throw new Boom(); };
  assert.equal(await b.fire(bad, 1), 'fallback');
  assert.equal(b.state, 'open');
  let ran = false;
  assert.equal(await b.fire(() => { ran = true; }, 2, 'x'), 'fallback');
  assert.equal(ran, false);
  assert.deepStrictEqual(seen, [[1], [2, 'x']]);
  assert.equal(b.call(bad, 3), 'fallback');
  assert.deepStrictEqual(b.stats.rejections, 2);

  // An async fallback is awaited; one that throws rejects the call with its error.
  const a = new CircuitBreaker({ failureThreshold: 1, fallback: async (x) => `cached ${x}` });
  assert.equal(await a.fire(async () => { throw new Boom(); }, 7), 'cached 7');
  assert.equal(await a.fire(() => 1, 8), 'cached 8');
  const fbErr = new Error('fallback broke');
  const c = new CircuitBreaker({ fallback: () => { throw fbErr; } });
  assert.equal(await rejection(c.fire(() => { throw new Boom(); })), fbErr);
});

test('errorFilter excludes errors: not counted, no fallback, the error passes through', async () => {
  const b = new CircuitBreaker({
    failureThreshold: 1,
    errorFilter: (err) => err instanceof RangeError,
    fallback: () => 'fallback',
  });
  const excluded = new RangeError('not the dependency');
  assert.equal(await rejection(b.fire(() => { throw excluded; })), excluded);
  assert.equal(await rejection(b.fire(async () => { throw excluded; })), excluded);
  assert.equal(b.state, 'closed');
  assert.equal(b.stats.ignored, 2);
  assert.equal(b.stats.failures, 0);
  assert.equal(await b.fire(() => { throw new Boom(); }), 'fallback');
  assert.equal(b.state, 'open');

  // A filter that throws: the call counts as a failure and rejects with the filter's error.
  const filterBug = new Error('filter bug');
  const f = new CircuitBreaker({ failureThreshold: 1, errorFilter: () => { throw filterBug; } });
  assert.equal(await rejection(f.fire(() => { throw new Boom(); })), filterBug);
  assert.equal(f.state, 'open');
});

test('timeout: a call still pending when the timer fires rejects with code timeout and counts', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const b = new CircuitBreaker({ timeout: 50, failureThreshold: 2 });
  const never = b.fire(() => new Promise(() => {}));
  let settled = false;
  never.then(() => { settled = true; }, () => { settled = true; });
  t.mock.timers.tick(49);
  await Promise.resolve();
  assert.equal(settled, false);
  t.mock.timers.tick(1);
  const err = await rejection(never);
  assert.equal(err.code, 'timeout');
  assert.match(err.message, /timed out after 50ms/);
  assert.equal(b.stats.timeouts, 1);
  assert.equal(b.stats.failures, 1);

  // Settling before the timer clears it: a success, and no timeout later.
  const quick = gate();
  const p = b.fire(() => quick.promise);
  quick.resolve('fast');
  assert.equal(await p, 'fast');
  t.mock.timers.tick(100);
  assert.equal(b.stats.timeouts, 1);
  assert.equal(b.stats.successes, 1);

  // A late settlement after the timeout changes nothing, not even for the call that took over
  // its slot meanwhile.
  const late = gate();
  const q = b.fire(() => late.promise);
  t.mock.timers.tick(50);
  assert.equal((await rejection(q)).code, 'timeout');
  const next = gate();
  const r = b.fire(() => next.promise);
  late.resolve('too late');
  await late.promise;
  await Promise.resolve();
  assert.equal(b.stats.successes, 1);
  next.resolve('next');
  assert.equal(await r, 'next');
  assert.equal(b.stats.successes, 2);
  assert.equal(b.stats.timeouts, 2);
  // The successes in between reset the consecutive count.
  assert.equal(b.state, 'closed');
  // The timer is not involved in an async rejection before it.
  const boom = new Boom();
  assert.equal(await rejection(b.fire(() => Promise.reject(boom))), boom);
  t.mock.timers.tick(100);
  assert.equal(b.stats.timeouts, 2);
  assert.equal(b.stats.failures, 3);
});

test('timeout with a fallback resolves with the fallback', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const b = new CircuitBreaker({ timeout: 10, fallback: (x) => `fallback ${x}` });
  const p = b.fire(() => new Promise(() => {}), 'arg');
  t.mock.timers.tick(10);
  assert.equal(await p, 'fallback arg');
  assert.equal(b.stats.timeouts, 1);
});

test('timeout with the real timers (bounded)', async () => {
  const b = new CircuitBreaker({ timeout: 20 });
  const err = await within(5_000, rejection(b.fire(() => new Promise(() => {}))));
  assert.equal(err.code, 'timeout');
});

test('listeners see transitions, rejections and outcomes; off removes them', async () => {
  const clock = new ManualClock();
  const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 1000, clock });
  const log = [];
  const ids = {};
  for (const name of ['open', 'halfOpen', 'close', 'stateChange', 'reject', 'success', 'failure', 'ignored']) {
    ids[name] = b.on(name, (ev) => log.push([name, ev]));
  }
  await rejection(b.fire(() => { clock.advanceMs(3); throw new Boom(); }));
  assert.deepStrictEqual(log, [
    ['failure', { type: 'failure', duration: 3, kind: 'error' }],
    ['open', { type: 'stateChange', from: 'closed', to: 'open' }],
    ['stateChange', { type: 'stateChange', from: 'closed', to: 'open' }],
  ]);
  log.length = 0;
  clock.advanceMs(400);
  await rejection(b.fire(() => 1));
  assert.deepStrictEqual(log, [['reject', { type: 'reject', state: 'open', retryAfter: 600 }]]);
  log.length = 0;
  clock.advanceMs(600);
  assert.equal(b.state, 'half_open');
  assert.deepStrictEqual(log.map(([n]) => n), ['halfOpen', 'stateChange']);
  log.length = 0;
  assert.equal(await b.fire(() => { clock.advanceMs(2); return 'ok'; }), 'ok');
  assert.deepStrictEqual(log, [
    ['success', { type: 'success', duration: 2 }],
    ['close', { type: 'stateChange', from: 'half_open', to: 'closed' }],
    ['stateChange', { type: 'stateChange', from: 'half_open', to: 'closed' }],
  ]);
  log.length = 0;
  b.acquire().ignore();
  assert.deepStrictEqual(log, [['ignored', { type: 'ignored' }]]);

  // off by id and by function.
  assert.equal(b.off(ids.success), true);
  assert.equal(b.off(ids.success), false);
  const fn = () => log.push(['extra']);
  b.on('success', fn);
  assert.equal(b.off('success', fn), true);
  assert.equal(b.off('success', fn), false);
  log.length = 0;
  await b.fire(() => 1);
  assert.deepStrictEqual(log, []);
  for (const name of Object.keys(ids)) b.off(ids[name]);
  await rejection(b.fire(() => { throw new Boom(); }));
  assert.deepStrictEqual(log, []);
});

test('a listener may call the breaker; its events come after it returns', async () => {
  const b = new CircuitBreaker({ failureThreshold: 1 });
  const order = [];
  b.on('open', () => {
    order.push(`open seen, state ${b.state}`);
    b.close();
  });
  b.on('close', () => order.push('close'));
  await rejection(b.fire(() => { throw new Boom(); }));
  assert.deepStrictEqual(order, ['open seen, state open', 'close']);
  assert.equal(b.state, 'closed');
});

// A throwing listener: tests/node/listeners.test.js (the module's one policy, in a child process).

test('manual open, close and reset; stats', async () => {
  const b = new CircuitBreaker({ resetTimeout: 1000 });
  b.open();
  assert.equal(b.state, 'open');
  const err = await rejection(b.fire(() => 1));
  assert.equal(err.code, 'circuit_open');
  assert.equal(err.retryAfter, 1000);
  b.close();
  assert.equal(b.state, 'closed');
  assert.equal(await b.fire(() => 1), 1);
  assert.equal(b.stats.stateChanges, 2);
  b.reset();
  assert.deepStrictEqual(
    { ...b.stats },
    {
      state: 'closed',
      calls: 0,
      successes: 0,
      failures: 0,
      ignored: 0,
      rejections: 0,
      slowCalls: 0,
      timeouts: 0,
      stateChanges: 0,
    },
  );
});

test('slow calls and the failure-rate rule, on the manual clock', async () => {
  const clock = new ManualClock();
  const b = new CircuitBreaker({
    failureThreshold: 0,
    failureRate: 0.5,
    rateWindow: 4,
    minimumCalls: 4,
    slowCallDuration: 100,
    clock,
  });
  await b.fire(() => 1);
  await b.fire(() => { clock.advanceMs(101); return 'slow but fine'; });
  await b.fire(() => 1);
  assert.equal(b.state, 'closed');
  await rejection(b.fire(() => { throw new Boom(); }));
  assert.equal(b.state, 'open');
  assert.equal(b.stats.slowCalls, 1);
  assert.equal(b.stats.failures, 2);
});

test('invalid options and arguments are invalid_input', async () => {
  const bad = [
    { failureRate: 1.5 },
    { failureRate: 0 },
    { resetTimeout: -1 },
    { resetTimeout: 0 },
    { resetTimeout: 'x' },
    { failureThreshold: 1.5 },
    { failureThreshold: 0 },
    { halfOpenMaxCalls: 0 },
    { timeout: Number.NaN },
    { failureRate: 0.5, rateWindow: 10, minimumCalls: 11 },
    { failureRate: 0.5, rateWindowMs: 5, rateBuckets: 10 },
    { errorFilter: 'not a function' },
    { fallback: 42 },
    { clock: {} },
  ];
  for (const options of bad) {
    const err = thrown(() => new CircuitBreaker(options));
    assert.equal(err.code, 'invalid_input', JSON.stringify(options));
    assert.ok(err instanceof Error);
  }
  assert.equal(thrown(() => new CircuitBreaker(5)).code, 'invalid_input');
  const b = new CircuitBreaker();
  assert.equal((await rejection(b.fire('not a function'))).code, 'invalid_input');
  assert.equal((await rejection(b.fire())).code, 'invalid_input');
  assert.equal(thrown(() => b.call(null)).code, 'invalid_input');
  assert.equal(thrown(() => b.on('nope', () => {})).code, 'invalid_input');
  assert.equal(thrown(() => b.on('open', 'not a function')).code, 'invalid_input');
  assert.equal(thrown(() => b.off('open')).code, 'invalid_input');
  assert.equal(thrown(() => b.acquire().success(-1)).code, 'invalid_input');
  assert.equal(b.stats.calls, 1);
});

test('half-open admits at most halfOpenMaxCalls concurrent trials', async () => {
  const MAX = 3;
  const clock = new ManualClock();
  const b = new CircuitBreaker({
    failureThreshold: 1,
    resetTimeout: 1000,
    halfOpenMaxCalls: MAX,
    successThreshold: 5,
    clock,
  });
  await rejection(b.fire(() => { throw new Boom(); }));
  clock.advanceMs(1000);
  assert.equal(b.state, 'half_open');

  let inFlight = 0;
  let peak = 0;
  const gates = [];
  const trial = async (i) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    const g = gate();
    gates.push(g);
    await g.promise;
    inFlight -= 1;
    return i;
  };
  const calls = Array.from({ length: 100 }, (_, i) => b.fire(trial, i).then(
    (v) => ({ ok: v }),
    (err) => ({ err }),
  ));
  assert.equal(gates.length, MAX);
  assert.equal(peak, MAX);
  // Free the slots one by one; each freed slot admits exactly one more trial.
  const extra = [];
  for (let round = 0; round < 2; round += 1) {
    gates.shift().resolve();
    await new Promise((res) => setImmediate(res));
    assert.equal(inFlight, MAX - 1);
    extra.push(b.fire(trial, 100 + round));
    assert.equal(inFlight, MAX);
    assert.equal((await rejection(b.fire(trial, -1))).code, 'circuit_open');
  }
  assert.equal(peak, MAX);
  while (gates.length > 0) gates.shift().resolve();
  assert.deepStrictEqual(await within(5_000, Promise.all(extra)), [100, 101]);
  const results = await within(5_000, Promise.all(calls));
  const admitted = results.filter((r) => 'ok' in r);
  const rejected = results.filter((r) => 'err' in r);
  assert.equal(admitted.length, MAX);
  assert.equal(rejected.length, 100 - MAX);
  assert.equal(b.stats.rejections, 100 - MAX + 2);
  for (const { err } of rejected) {
    assert.equal(err.code, 'circuit_open');
    assert.equal(err.retryAfter, 0);
  }
  assert.equal(b.state, 'closed');
  assert.equal(peak, MAX);
});

test('permits: reported once, durations default to the breaker clock', () => {
  const clock = new ManualClock();
  const b = new CircuitBreaker({ slowCallDuration: 100, clock });
  const p = b.acquire();
  clock.advanceMs(150);
  assert.equal(p.elapsedMs, 150);
  p.success();
  assert.equal(b.stats.slowCalls, 1);
  assert.equal(thrown(() => p.failure()).code, 'invalid_input');
  const q = b.acquire();
  q.success(5);
  assert.equal(b.stats.successes, 1);
  b.acquire().timeout(1);
  assert.equal(b.stats.timeouts, 1);
  assert.ok(thrown(() => new dashfeed.Permit()) instanceof Error);
});

test('RateLimiter: check, checkN, tryAcquire, size and invalid quotas', () => {
  const clock = new ManualClock();
  const lim = new RateLimiter(10, 2, clock);
  assert.equal(lim.rate, 10);
  assert.equal(lim.burst, 2);
  assert.deepStrictEqual(lim.check('a'), { allowed: true, retryAfterMs: 0 });
  assert.equal(lim.check('a').allowed, true);
  assert.deepStrictEqual(lim.check('a'), { allowed: false, retryAfterMs: 100 });
  assert.equal(lim.check('b').allowed, true);
  const err = thrown(() => lim.tryAcquire('a'));
  assert.equal(err.code, 'rate_limited');
  assert.equal(err.retryAfter, 100);
  assert.match(err.message, /rate limited; retry in 100ms/);
  clock.advanceMs(100);
  lim.tryAcquire('a');
  assert.equal(lim.size, 2);
  clock.advanceMs(10_000);
  lim.retainRecent();
  assert.equal(lim.size, 0);
  assert.deepStrictEqual(lim.checkN('w', 2), { allowed: true, retryAfterMs: 0 });
  assert.deepStrictEqual(lim.checkN('w', 1), { allowed: false, retryAfterMs: 100 });
  assert.equal(thrown(() => lim.checkN('w', 3)).code, 'invalid_input');
  assert.equal(thrown(() => lim.checkN('w', -1)).code, 'invalid_input');
  assert.equal(thrown(() => lim.check(42)).code, 'invalid_input');
  assert.equal(new RateLimiter(2.5).burst, 3);
  for (const args of [[0], [-1], [Number.NaN], [2e9], [1, 0], ['x'], [1, 1, {}]]) {
    assert.equal(thrown(() => new RateLimiter(...args)).code, 'invalid_input', String(args));
  }
});

test('RateLimiter.acquire waits on timers until allowed (bounded)', async () => {
  const lim = new RateLimiter(1000, 1);
  const t0 = process.hrtime.bigint();
  await within(5_000, (async () => {
    for (let i = 0; i < 5; i += 1) await lim.acquire('k');
  })());
  // Five calls at 1000/s with a burst of 1 take at least 4 ms.
  assert.ok(Number(process.hrtime.bigint() - t0) >= 3.9e6);
  assert.equal(lim.check('k').allowed, false);

  // With a ManualClock, the wait ends once the clock has moved.
  const clock = new ManualClock();
  const manual = new RateLimiter(1, 1, clock);
  await manual.acquire('m');
  let done = false;
  const waiting = manual.acquire('m').then(() => { done = true; });
  await delay(5);
  assert.equal(done, false);
  clock.advanceMs(1000);
  await within(5_000, waiting);
  assert.equal(done, true);
});

/** Forces a full garbage collection (and lets finalizers run). */
async function collectGarbage() {
  const v8 = require('node:v8');
  const vm = require('node:vm');
  v8.setFlagsFromString('--expose-gc');
  vm.runInNewContext('gc')();
  await new Promise((res) => setImmediate(res));
}

test('a trial whose promise is garbage-collected unsettled frees its half-open slot', async () => {
  const clock = new ManualClock();
  const b = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 10, clock });
  await rejection(b.fire(() => { throw new Boom(); }));
  clock.advanceMs(10);
  b.fire(() => new Promise(() => {})); // holds the only trial slot, never settles
  assert.equal((await rejection(b.fire(() => 1))).code, 'circuit_open');
  // Once nothing references the pending promise, its permit is dropped: counted as ignored.
  for (let i = 0; i < 20 && b.stats.ignored === 0; i += 1) await collectGarbage();
  assert.equal(b.stats.ignored, 1);
  assert.equal(await b.fire(() => 'trial'), 'trial');
  assert.equal(b.state, 'closed');
});

test('a breaker referenced by its own listeners, fallback and filter can be collected', async () => {
  let collected = 0;
  const registry = new FinalizationRegistry(() => { collected += 1; });
  const N = 20;
  for (let i = 0; i < N; i += 1) {
    const b = new CircuitBreaker({ fallback: () => b.state, errorFilter: () => b.stats.calls < 0 });
    b.on('success', () => b.stats);
    await b.fire(async () => i);
    registry.register(b, i);
  }
  for (let i = 0; i < 20 && collected < N; i += 1) await collectGarbage();
  assert.equal(collected, N);
});
