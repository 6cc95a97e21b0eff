'use strict';
// Durations in the Node module are milliseconds (the Python module's are seconds). A duration option
// between 0 and 1 (`resetTimeout: 0.5`) is taken as ms, but the first one a process reads is reported
// once with process.emitWarning (type DashfeedWarning, code DASHFEED_DURATION_UNIT). This file runs in
// its own process (node --test runs each file in one), so the warning is still to come when it starts.
// Also: RateLimiter.check() returns a decision object, never a boolean.

const test = require('node:test');
const assert = require('node:assert/strict');
const { CircuitBreaker, Hub, ManualClock, RateLimiter } = require('../..');

/** Lets process.emitWarning's next-tick emission happen. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

test('a duration that looks like seconds is warned about once and taken as ms', async () => {
  const warnings = [];
  const listener = (w) => warnings.push(w);
  process.on('warning', listener);
  try {
    new CircuitBreaker({ resetTimeout: 30, timeout: 2000, slowCallDuration: 1 });
    new Hub({ historyAge: 60_000, dedupeHorizon: 600_000 });
    await settle();
    assert.deepStrictEqual(warnings, [], 'plausible ms values are not warned about');

    const clock = new ManualClock();
    const b = new CircuitBreaker({ resetTimeout: 0.5, failureThreshold: 1, clock });
    new CircuitBreaker({ timeout: 0.25 });
    new Hub({ dedupeHorizon: 0.5 });
    await settle();
    assert.equal(warnings.length, 1, 'once per process');
    const [w] = warnings;
    assert.equal(w.name, 'DashfeedWarning');
    assert.equal(w.code, 'DASHFEED_DURATION_UNIT');
    assert.match(w.message, /CircuitBreaker option resetTimeout is 0\.5 ms/);
    assert.match(w.message, /milliseconds/);
    assert.match(w.message, /write 500\b/);

    // Taken as ms, not refused and not converted (the open period ends on a whole ms).
    await assert.rejects(b.fire(() => { throw new Error('down'); }), /down/);
    assert.equal(b.state, 'open');
    clock.advanceMs(1);
    assert.equal(b.state, 'half_open', 'half a second would still be open');
  } finally {
    process.off('warning', listener);
  }
});

test('RateLimiter.check returns { allowed, retryAfterMs }, an object (always truthy)', () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter(1, 1, clock);
  const first = limiter.check('client');
  assert.deepStrictEqual({ ...first }, { allowed: true, retryAfterMs: 0 });
  const second = limiter.check('client');
  assert.equal(second.allowed, false);
  assert.ok(second, 'the decision object is truthy even when refused: test .allowed');
  assert.ok(second.retryAfterMs > 0 && second.retryAfterMs <= 1000, `${second.retryAfterMs}`);
});
