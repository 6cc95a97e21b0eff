'use strict';
// Errors of the Node binding: `errorCodes()` is the core's list, and every error dashfeed throws is a plain
// `Error` whose `.code` is one of those codes and whose message is the core's text.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const dashfeed = require('../..');

/** The `Error::CODES` list of core/src/error.rs, read from the source. */
function coreCodes() {
  const src = fs.readFileSync(path.join(__dirname, '..', '..', 'core', 'src', 'error.rs'), 'utf8');
  const list = src.match(/pub const CODES: &'static \[&'static str\] = &\[([^\]]*)\]/);
  assert.ok(list, 'Error::CODES not found in core/src/error.rs');
  return [...list[1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
}

function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error');
}

test('errorCodes() is the core list, in order', () => {
  const codes = dashfeed.errorCodes();
  assert.deepStrictEqual(codes, coreCodes());
  for (const known of ['decode_error', 'encode_error', 'unsupported_type', 'too_large', 'too_deep']) {
    assert.ok(codes.includes(known), known);
  }
  for (const known of ['invalid_input', 'circuit_open', 'rate_limited', 'closed', 'timeout', 'internal']) {
    assert.ok(codes.includes(known), known);
  }
  assert.equal(new Set(codes).size, codes.length);
  assert.notStrictEqual(dashfeed.errorCodes(), codes); // a fresh array each call: callers may mutate it
});

test('each codec error is an Error with its code, the core message and a stack', () => {
  const cyclic = {};
  cyclic.self = cyclic;
  const cases = [
    ['decode_error', /^decode error: /, () => dashfeed.decode(Buffer.from('c1', 'hex'))],
    ['encode_error', /^encode error: /, () => dashfeed.encode(2n ** 64n)],
    ['unsupported_type', /^unsupported type: .*function/, () => dashfeed.encode(() => 1)],
    ['too_large', /exceeds the limit of 1024$/, () => dashfeed.decode(Buffer.alloc(2048), { maxInput: 1024 })],
    ['too_large', /decompressed/, () => dashfeed.decode(zlib.gzipSync(Buffer.alloc(1 << 20)), { maxDecompressed: 1000 })],
    ['too_deep', /^nesting deeper than the limit of 128$/, () => dashfeed.encode(cyclic)],
    ['invalid_input', /^invalid input: .*level/, () => dashfeed.encode(1, { level: 42 })],
  ];
  const seen = new Set();
  for (const [code, message, fn] of cases) {
    const err = thrown(fn);
    assert.ok(err instanceof Error, code);
    assert.equal(Object.getPrototypeOf(err), Error.prototype, code);
    assert.equal(typeof err.code, 'string', code);
    assert.equal(err.code, code);
    assert.ok(dashfeed.errorCodes().includes(err.code), code);
    assert.match(err.message, message);
    assert.match(err.stack, /Error/);
    seen.add(code);
  }
  assert.equal(seen.size, 6);
});

test('a failed call leaves the module usable', () => {
  for (let i = 0; i < 100; i += 1) {
    assert.throws(() => dashfeed.decode(Buffer.from('dbffffffff41', 'hex')), { code: 'decode_error' });
  }
  assert.deepStrictEqual(dashfeed.decode(dashfeed.encode({ ok: true })), { ok: true });
});

// A core `circuit_open` / `rate_limited` error that reaches JavaScript through a method's `?` (the
// binding's `From<dashfeed::Error>`, thrown by `error::guard`) carries `retryAfter` as `error::to_js`
// makes it, in the main thread and in a worker (each environment notes its own thread).
function retryAfterCases(root) {
  const { CircuitBreaker, ManualClock, RateLimiter } = require(root);
  const clock = new ManualClock();
  const limiter = new RateLimiter(10, 1, clock);
  limiter.check('k');
  const breaker = new CircuitBreaker({ resetTimeout: 2_000, clock });
  breaker.open();
  const out = {};
  for (const [name, fn] of [
    ['RateLimiter.tryAcquire', () => limiter.tryAcquire('k')],
    ['CircuitBreaker.acquire', () => breaker.acquire()],
    ['CircuitBreaker.call', () => breaker.call(() => 1)],
  ]) {
    try {
      fn();
      out[name] = 'no error';
    } catch (err) {
      out[name] = { code: err.code, retryAfter: err.retryAfter };
    }
  }
  return out;
}

const RETRY_AFTER = {
  'RateLimiter.tryAcquire': { code: 'rate_limited', retryAfter: 100 },
  'CircuitBreaker.acquire': { code: 'circuit_open', retryAfter: 2_000 },
  'CircuitBreaker.call': { code: 'circuit_open', retryAfter: 2_000 },
};

test('circuit_open / rate_limited errors carry retryAfter, in the main thread and in a worker', async () => {
  const root = path.join(__dirname, '..', '..');
  assert.deepStrictEqual(retryAfterCases(root), RETRY_AFTER);
  const { Worker } = require('node:worker_threads');
  const script = `require('node:worker_threads').parentPort.postMessage(
    (${retryAfterCases})(${JSON.stringify(root)}));`;
  const worker = new Worker(script, { eval: true });
  const fromWorker = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.deepStrictEqual(fromWorker, RETRY_AFTER);
});
