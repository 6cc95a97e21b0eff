'use strict';
// The one policy for exceptions thrown by user listeners (breaker events, subscription 'message' /
// 'error' / 'close'): the call that emitted the event and the other listeners go on, and the exception
// is re-thrown in a microtask, so it reaches process.on('uncaughtException') — as an EventEmitter
// listener's does when the emit comes from the event loop. Each case runs in a child process: the test
// runner fails any test during which an uncaught exception happens.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** Runs `body` (an async function's source) in a child Node; returns { status, out, stderr }. */
function child(body, { handler = true } = {}) {
  const script = `
    const dashfeed = require(${JSON.stringify(ROOT)});
    const uncaught = [];
    ${handler ? "process.on('uncaughtException', (err) => uncaught.push(err.message));" : ''}
    const tick = () => new Promise((res) => setTimeout(res, 20));
    (async () => {
      const out = await (async () => { ${body} })();
      await tick();
      console.log(JSON.stringify({ out, uncaught }));
    })();
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  let parsed = null;
  try {
    parsed = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    // no JSON: the child died first (see status / stderr)
  }
  return { status: r.status, parsed, stderr: r.stderr };
}

test('a throwing breaker listener breaks neither the call nor the other listeners; its error is uncaught', () => {
  const r = child(`
    const b = new dashfeed.CircuitBreaker();
    const after = [];
    b.on('success', () => { throw new Error('listener bug'); });
    b.on('success', () => after.push('second'));
    const fired = await b.fire(() => 42);
    const called = b.call(() => 43);
    return { fired, called, after };
  `);
  assert.equal(r.status, 0, r.stderr);
  assert.deepStrictEqual(r.parsed.out, { fired: 42, called: 43, after: ['second', 'second'] });
  assert.deepStrictEqual(r.parsed.uncaught, ['listener bug', 'listener bug']);
});

test("a throwing subscription 'message' or 'close' listener: the others still run; its error is uncaught", () => {
  const r = child(`
    const hub = new dashfeed.Hub();
    const sub = hub.subscribe('d');
    const seen = [];
    let closed = 0;
    sub.on('message', (m) => { throw new Error('message bug ' + m.seq); });
    sub.on('message', (m) => seen.push(m.seq));
    sub.on('close', () => { throw new Error('close bug'); });
    sub.on('close', () => { closed += 1; });
    hub.publish('d', { v: 1 });
    hub.publish('d', { v: 2 });
    await tick();
    sub.close();
    return { seen, closed };
  `);
  assert.equal(r.status, 0, r.stderr);
  assert.deepStrictEqual(r.parsed.out, { seen: [0, 1, 2], closed: 1 }); // the snapshot (seq 0), then the updates
  assert.deepStrictEqual(r.parsed.uncaught, ['message bug 0', 'message bug 1', 'message bug 2', 'close bug']);
});

test('without an uncaughtException handler, a listener exception ends the process (it is not swallowed)', () => {
  const r = child(`
    const b = new dashfeed.CircuitBreaker();
    b.on('success', () => { throw new Error('listener bug'); });
    await b.fire(() => 1);
    return 'survived';
  `, { handler: false });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /listener bug/);
});
