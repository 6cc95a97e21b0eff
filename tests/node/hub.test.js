'use strict';
// The Hub from Node: snapshot-first subscriptions, wire bytes, resume with `since`, `for await` woken by
// publishes from the event loop and from worker threads, listeners, policies, dedupe, closing from any
// state, and a process that exits once its subscriptions are closed.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { runChild } = require('./child');
const { Worker } = require('node:worker_threads');
const { Unpackr } = require('msgpackr');
const dashfeed = require('../..');

const ROOT = path.join(__dirname, '..', '..');
const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false });

/** Resolves like `promise`, or rejects after `ms` (a bound on every wait, never a sleep). */
function within(promise, ms, what = 'wait') {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

function throwsCode(fn, code) {
  assert.throws(fn, (err) => err instanceof Error && err.code === code);
}

test('the first message is the snapshot, then updates, with pre-encoded wire bytes', () => {
  const hub = new dashfeed.Hub();
  hub.publish('ops', { cpu: 0.4, mem: 0.5 });
  const sub = hub.subscribe('ops');
  assert.equal(sub.dashboard, 'ops');
  const first = sub.tryRecv();
  assert.ok(first instanceof dashfeed.Message);
  assert.deepEqual([first.kind, first.seq, first.recovered, first.missed], ['snapshot', 1, null, null]);
  assert.deepEqual(first.data, { cpu: 0.4, mem: 0.5 });
  assert.equal(first.data, first.data); // built once
  assert.match(first.epoch, /^[0-9a-f]{16}$/);
  assert.equal(sub.tryRecv(), null);

  hub.publish('ops', { cpu: 0.6 });
  const upd = sub.tryRecv();
  assert.deepEqual([upd.kind, upd.seq, upd.data], ['update', 2, { cpu: 0.6 }]);
  const wire = unpackr.unpack(upd.raw());
  assert.deepStrictEqual(wire, { type: 'update', dashboard: 'ops', epoch: upd.epoch, seq: 2, data: { cpu: 0.6 } });
  assert.deepEqual(Object.keys(wire), ['type', 'dashboard', 'epoch', 'seq', 'data']);
  assert.ok(Buffer.isBuffer(upd.raw()));
  assert.equal(upd.raw(), upd.raw('msgpack')); // one Buffer per message and format
  assert.deepStrictEqual(dashfeed.decode(upd.raw()), wire);
  assert.equal(upd.raw('json').toString(), JSON.stringify(wire));
  assert.deepStrictEqual(upd.toJSON(), wire);
  assert.equal(JSON.stringify(upd), JSON.stringify(wire));
  throwsCode(() => upd.raw('yaml'), 'invalid_input');
  assert.equal(String(upd), `Message(kind="update", dashboard="ops", epoch="${upd.epoch}", seq=2)`);
  assert.equal(hub.stats.encodes >= 2, true);
  sub.close();
  assert.ok(sub.closed);
  throwsCode(() => sub.tryRecv(), 'closed');
});

test('since resumes within history, or starts over with a fresh snapshot', () => {
  const hub = new dashfeed.Hub({ history: 10 });
  for (let i = 0; i < 5; i += 1) hub.publish('ops', { n: i });
  const snap = hub.snapshot('ops');
  assert.equal(snap.seq, 5);
  for (let i = 5; i < 8; i += 1) hub.publish('ops', { n: i });
  const sub = hub.subscribe('ops', { since: { epoch: snap.epoch, seq: 5 } });
  const msgs = sub.tryRecvMany(100);
  assert.deepEqual(msgs.map((m) => m.kind), ['recovered', 'update', 'update', 'update']);
  assert.deepEqual([msgs[0].recovered, msgs[0].missed], [true, 3]);
  assert.deepEqual(msgs.slice(1).map((m) => m.seq), [6, 7, 8]);
  const stale = hub.subscribe('ops', { since: ['gone', 1] });
  const m = stale.tryRecv();
  assert.deepEqual([m.kind, m.recovered, m.data], ['snapshot', false, { n: 7 }]);
  const again = hub.subscribe('ops', { since: msgs[msgs.length - 1] }); // a Message works as since
  const hdr = again.tryRecv();
  assert.deepEqual([hdr.kind, hdr.missed], ['recovered', 0]);
  assert.equal(hub.snapshot('nowhere'), null);
  const epoch = hub.resetEpoch('ops');
  assert.notEqual(epoch, snap.epoch);
  assert.equal(hub.subscribe('ops', { since: [snap.epoch, 8n] }).tryRecv().recovered, false);
  for (const s of [sub, stale, again]) s.close();
});

test('for await is woken by publishes from a setImmediate loop', async () => {
  const hub = new dashfeed.Hub({ queue: 4096 });
  const sub = hub.subscribe('loop');
  const n = 500;
  let i = 0;
  const publish = () => {
    hub.publish('loop', { i });
    i += 1;
    if (i < n) setImmediate(publish);
  };
  setImmediate(publish);
  const seen = [];
  await within((async () => {
    for await (const msg of sub) {
      seen.push(msg.seq);
      if (msg.seq === n) break;
    }
  })(), 10_000, 'for await');
  assert.equal(seen[0], 0); // the empty snapshot
  assert.deepEqual(seen.slice(1), Array.from({ length: n }, (_, k) => k + 1));
  assert.ok(sub.closed, 'leaving the loop closes the subscription');
});

test('for await is woken by publishes from a worker thread (Hub.attach)', async () => {
  const hub = new dashfeed.Hub({ queue: 100_000, queueBytes: 1 << 26 });
  const sub = hub.subscribe('threads');
  const n = 2000;
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const dashfeed = require(workerData.root);
     const hub = dashfeed.Hub.attach(workerData.token);
     for (let i = 0; i < workerData.n; i += 1) hub.publish('threads', { i });`,
    { eval: true, workerData: { root: ROOT, token: hub.share(), n } },
  );
  const exited = new Promise((resolve, reject) => {
    worker.on('exit', resolve);
    worker.on('error', reject);
  });
  const seen = [];
  await within((async () => {
    for await (const msg of sub) {
      seen.push(msg.kind === 'snapshot' ? 0 : msg.data.i + 1);
      if (msg.seq === n) break;
    }
  })(), 20_000, 'for await');
  assert.equal(await within(exited, 10_000, 'worker exit'), 0);
  // Everything arrived in order (the snapshot may already include some of the worker's publications).
  const start = seen[1] - 1;
  assert.deepEqual(seen.slice(1), Array.from({ length: n - start }, (_, k) => start + k + 1));
  throwsCode(() => dashfeed.Hub.attach(123456789), 'invalid_input');
});

test('a worker subscribes to a shared hub and is woken by the main thread', async () => {
  const hub = new dashfeed.Hub();
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const dashfeed = require(workerData.root);
     const sub = dashfeed.Hub.attach(workerData.token).subscribe('back');
     (async () => {
       const seqs = [];
       parentPort.postMessage('ready');
       for await (const msg of sub) {
         seqs.push(msg.seq);
         if (msg.seq === 3) break;
       }
       parentPort.postMessage(seqs);
     })();`,
    { eval: true, workerData: { root: ROOT, token: hub.share() } },
  );
  // Listen for 'exit' from the start: a worker that ends quickly has its last messages and its 'exit'
  // emitted in one callback, before an `await` on the messages would get to add the listener.
  const exited = new Promise((resolve) => worker.on('exit', resolve));
  const messages = [];
  const done = new Promise((resolve, reject) => {
    worker.on('message', (m) => {
      messages.push(m);
      if (m === 'ready') for (let i = 0; i < 3; i += 1) hub.publish('back', { i });
      else resolve(m);
    });
    worker.on('error', reject);
  });
  const seqs = await within(done, 10_000, 'worker');
  assert.equal(seqs[seqs.length - 1], 3);
  assert.equal(await within(exited, 10_000, 'worker exit'), 0);
});

test('subscribers woken by one publication share its message object and wire bytes', async () => {
  const hub = new dashfeed.Hub();
  const subs = [hub.subscribe('s'), hub.subscribe('s'), hub.subscribe('s', { format: 'json' })];
  const its = subs.map((sub) => sub[Symbol.asyncIterator]());
  for (const it of its) assert.equal((await within(it.next(), 2000)).value.kind, 'snapshot');
  const encodes = hub.stats.encodes;
  const pending = its.map((it) => it.next());
  hub.publish('s', { v: 1 });
  const [a, b, c] = (await within(Promise.all(pending), 2000)).map((r) => r.value);
  assert.equal(a, b); // one object for the subscribers woken together
  assert.equal(a, c); // a subscriber of another wire format too: raw(format) names the format
  assert.equal(a.raw(), b.raw());
  assert.equal(c.raw('json'), c.raw('json'));
  assert.equal(hub.stats.encodes - encodes, 2); // the update, once per subscribed format
  // Fields are plain read-only properties of the object.
  assert.deepEqual(Object.keys(a), ['kind', 'dashboard', 'epoch', 'seq', 'recovered', 'missed']);
  assert.throws(() => { 'use strict'; a.seq = 7; }, TypeError);
  // raw() keeps its Buffers on the shared object (one native call per publication and format):
  // the same Buffer for every subscriber, the JSON one apart, nothing visible in keys or JSON, and a
  // bad format refused every time.
  assert.equal(b.raw('msgpack'), a.raw(undefined));
  assert.equal(a.raw('json'), a.raw('json'));
  assert.notEqual(a.raw('json'), a.raw());
  assert.deepStrictEqual(JSON.parse(a.raw('json')), JSON.parse(c.raw('json')));
  assert.deepEqual(Object.keys(a), ['kind', 'dashboard', 'epoch', 'seq', 'recovered', 'missed']);
  assert.equal(JSON.stringify(a), JSON.stringify(c));
  for (let i = 0; i < 2; i += 1) {
    assert.throws(() => a.raw('xml'), (e) => e.code === 'invalid_input');
    assert.throws(() => a.raw(5), (e) => e.code === 'invalid_input' && /format/.test(e.message));
  }
  assert.equal(a.raw(null), a.raw());
  assert.equal(typeof dashfeed.Message.prototype.raw, 'function');
  for (const sub of subs) sub.close();
});

test('a burst longer than one refill still gives the subscribers one object per publication', async () => {
  // 300 publications queued at once: more than one refill of the JavaScript buffer (256), so each
  // loop runs dry in the middle of the burst and asks for more. Every publication must still reach
  // the subscribers as one shared object (the second refill too), whichever format they use.
  const hub = new dashfeed.Hub({ queue: 400 });
  const subs = [hub.subscribe('long'), hub.subscribe('long'), hub.subscribe('long', { format: 'json' })];
  const its = subs.map((sub) => sub[Symbol.asyncIterator]());
  for (const it of its) assert.equal((await within(it.next(), 2000)).value.kind, 'snapshot');
  for (let i = 1; i <= 300; i += 1) hub.publish('long', { v: i });
  const got = await within(Promise.all(its.map(async (it) => {
    const msgs = [];
    for (let i = 0; i < 300; i += 1) msgs.push((await it.next()).value);
    return msgs;
  })), 10_000, 'the burst');
  for (let i = 0; i < 300; i += 1) {
    assert.equal(got[0][i].seq, i + 1);
    assert.equal(got[1][i], got[0][i], `seq ${i + 1}: one object`);
    assert.equal(got[2][i], got[0][i], `seq ${i + 1}: one object`);
  }
  assert.equal(got[0][299].data.v, 300);
  for (const sub of subs) sub.close();
});

test("'message' listeners get every message, then 'close'", async () => {
  const hub = new dashfeed.Hub();
  const sub = hub.subscribe('cb');
  const got = [];
  let closed = 0;
  const onMessage = (m) => {
    got.push([m.kind, m.seq]);
    if (m.seq === 3) sub.close(); // closing from inside a listener
  };
  const done = new Promise((resolve) => sub.on('close', () => { closed += 1; resolve(); }));
  assert.equal(sub.on('message', onMessage), sub);
  for (let i = 0; i < 5; i += 1) hub.publish('cb', { i });
  await within(done, 5000, 'close');
  assert.deepEqual(got, [['snapshot', 0], ['update', 1], ['update', 2], ['update', 3]]);
  assert.equal(closed, 1);
  sub.close();
  assert.equal(closed, 1, 'close is emitted once');
  throwsCode(() => sub.on('nope', () => {}), 'invalid_input');
  throwsCode(() => sub.on('message', 42), 'invalid_input');

  const other = hub.subscribe('cb');
  const seen = [];
  const listener = (m) => seen.push(m.seq);
  other.on('message', listener);
  await within(new Promise((resolve) => other.on('message', () => resolve())), 5000, 'snapshot');
  other.off('message', listener);
  assert.deepEqual(seen, [5]);
  other.close();
});

test('the disconnect policy ends a slow subscriber with slow_consumer; a fast one gets everything', async () => {
  const hub = new dashfeed.Hub();
  const slow = hub.subscribe('d', { policy: 'disconnect', queue: 4 });
  assert.equal(slow.policy, 'disconnect');
  const fast = hub.subscribe('d');
  const errors = [];
  const closed = new Promise((resolve) => slow.on('close', resolve));
  slow.on('error', (err) => errors.push(err.code));
  const seen = [fast.tryRecv()];
  for (let i = 0; i < 10; i += 1) {
    hub.publish('d', { i });
    seen.push(...fast.tryRecvMany(100));
  }
  assert.deepEqual(seen.slice(1).map((m) => m.seq), Array.from({ length: 10 }, (_, k) => k + 1));
  assert.ok(slow.closed);
  await within(
    assert.rejects(
      (async () => {
        for await (const msg of slow) assert.fail(`got ${msg.kind} after the disconnect`);
      })(),
      (err) => err instanceof Error && err.code === 'slow_consumer',
    ),
    5000,
    'iteration',
  );
  throwsCode(() => slow.tryRecv(), 'slow_consumer');
  assert.equal(hub.stats.disconnected, 1);
  await within(closed, 5000, "'close'"); // 'error' comes first, from the event loop
  assert.deepEqual(errors, ['slow_consumer']);
  fast.close();
});

test('conflate keeps the newest value per metric in bounded memory (3000 × 4 KiB)', () => {
  const hub = new dashfeed.Hub();
  const slow = hub.subscribe('c', { queue: 8, queueBytes: 64 * 1024 });
  const blob = 'x'.repeat(4096);
  for (let i = 0; i < 3000; i += 1) hub.publish('c', { seq: i, [`m${i % 5}`]: i, blob });
  const stats = slow.stats;
  assert.ok(stats.peakBytes <= 64 * 1024 + 8 * 1024, JSON.stringify(stats));
  assert.ok(stats.peakMessages <= 8, JSON.stringify(stats));
  assert.ok(stats.conflated > 2900, JSON.stringify(stats));
  let state = {};
  for (const m of slow.tryRecvMany(100)) state = m.kind === 'snapshot' ? { ...m.data } : { ...state, ...m.data };
  assert.equal(state.seq, 2999);
  assert.equal(state.m4, 2999);
  assert.equal(state.m0, 2995);
  slow.close();
});

test('dedupe drops a repeated id; bad input changes nothing', () => {
  const hub = new dashfeed.Hub({ dedupe: 100, dedupeHorizon: 60_000 });
  assert.equal(hub.publish('d', { v: 1 }, 'evt-1'), 1);
  assert.equal(hub.publish('d', { v: 2 }, 'evt-1'), null);
  assert.equal(hub.publish('d', { v: 2 }, 'evt-2'), 2);
  assert.equal(hub.stats.dedupeDropped, 1);
  throwsCode(() => hub.publish('d', [1, 2]), 'invalid_input');
  throwsCode(() => hub.publish('', { v: 1 }), 'invalid_input');
  throwsCode(() => hub.publish('d', { v: new Set([1]) }), 'unsupported_type');
  throwsCode(() => hub.publish('d', { v: 1 }, ''), 'invalid_input');
  throwsCode(() => hub.subscribe('d', { policy: 'yolo' }), 'invalid_input');
  throwsCode(() => hub.subscribe('d', { queue: 0 }), 'invalid_input');
  throwsCode(() => hub.subscribe('d', { qeue: 1 }), 'invalid_input');
  throwsCode(() => hub.subscribe('d', { since: 'x' }), 'invalid_input');
  throwsCode(() => new dashfeed.Hub({ queue: -1 }), 'invalid_input');
  throwsCode(() => new dashfeed.Hub({ policy: 'sometimes' }), 'invalid_input');
  throwsCode(() => new dashfeed.Hub({ clock: 1 }), 'invalid_input');
  const snap = hub.snapshot('d');
  assert.deepEqual([snap.seq, snap.data], [2, { v: 2 }]);
  assert.deepEqual(hub.dashboards(), ['d']);
  assert.equal(hub.stats.topics.d.seq, 2);
});

test('a timed recv takes what is queued at once, across refills, even with a 0 ms timeout', async () => {
  const hub = new dashfeed.Hub({ queue: 400 });
  const sub = hub.subscribe('t');
  for (let i = 1; i <= 300; i += 1) hub.publish('t', { v: i });
  // 301 messages queued (the snapshot, then 300 updates): more than one refill (256). recv(0) is a
  // poll: it must return each one, never time out while one waits.
  const seqs = [];
  for (let i = 0; i <= 300; i += 1) {
    const m = await within(sub.recv(0), 2000);
    assert.notEqual(m, null, `message ${i} was queued`);
    seqs.push(m.seq);
  }
  assert.deepEqual(seqs, Array.from({ length: 301 }, (_, i) => i));
  assert.equal(await within(sub.recv(0), 2000), null); // now nothing is queued
  sub.close();
});

test('closing works from any state and settles what waits', async () => {
  const hub = new dashfeed.Hub();
  const sub = hub.subscribe('x');
  assert.equal((await within(sub.recv(1000), 2000)).kind, 'snapshot');
  assert.equal(await within(sub.recv(5), 2000), null); // timeout
  const pendingNext = sub.next();
  const pendingRecv = sub.recv();
  sub.close();
  assert.deepEqual(await within(pendingNext, 1000), { value: undefined, done: true });
  assert.equal(await within(pendingRecv, 1000), null);
  sub.close();
  assert.deepEqual(await sub.next(), { value: undefined, done: true });
  assert.deepEqual(hub.stats.subscribers, 0);

  // A publish wakes a pending recv; the queued messages of a removed topic are delivered, then the end.
  const b = hub.subscribe('y');
  b.tryRecv();
  const waiting = b.recv(10_000);
  hub.publish('y', { a: 1 });
  assert.equal((await within(waiting, 2000)).seq, 1);
  hub.publish('y', { a: 2 });
  assert.equal(hub.remove('y'), true);
  const rest = [];
  for await (const m of b) rest.push(m.seq);
  assert.deepEqual(rest, [2]);
  throwsCode(() => b.tryRecv(), 'closed');
});

test('the process exits once its subscriptions are closed', async () => {
  const code = `
    const dashfeed = require('.');
    const hub = new dashfeed.Hub();
    const a = hub.subscribe('x');
    const b = hub.subscribe('x');
    const c = hub.subscribe('x');
    b.on('message', () => {});
    (async () => { for await (const m of a) { if (m.seq === 1) break; } })();
    const pending = c.next().then(() => c.next());
    setImmediate(() => {
      hub.publish('x', { v: 1 });
      setImmediate(() => { b.close(); c.close(); hub.subscribe('idle'); });
    });
  `;
  const { status, err } = await runChild(code, 15_000);
  assert.equal(status, 0, err);
});

test('a loop over a removed topic ends and lets the process go on and exit', async () => {
  // The last message arrives in a wake-up pass that also sees the end; the loop's next next() must
  // resolve done at once (no wake-up will come for it), and the code after the loop must run.
  const code = `
    const dashfeed = require('.');
    const hub = new dashfeed.Hub();
    const sub = hub.subscribe('gone');
    (async () => {
      const seqs = [];
      for await (const m of sub) seqs.push(m.seq);
      process.stdout.write('after ' + seqs.join(','));
    })();
    setImmediate(() => { hub.publish('gone', { v: 1 }); hub.remove('gone'); });
  `;
  const { status, out, err } = await runChild(code, 15_000);
  assert.equal(status, 0, err);
  assert.equal(out, 'after 0,1');
});

test("'close' and 'error' listeners fire before the process exits when the end was handed out directly", async () => {
  // The end reaches a consumer outside a wake-up pass (tryRecv meeting it or taking the last message,
  // a loop's own next() after its buffer emptied), or the topic is removed by this thread: the pass
  // that emits 'close' / 'error' is asked for then, and the process is held until it ran. Each case
  // runs alone in its process, so nothing else keeps the event loop alive. (Not covered: a manual
  // iterator that stops calling next() after the last message JavaScript took from its buffer; a
  // loop that runs to `done`, or leaves with `break`, gets its 'close'.)
  const cases = {
    polled: [`
      const polled = hub.subscribe('polled');
      polled.on('close', () => process.stdout.write('closed;'));
      polled.tryRecv(); // the snapshot
      hub.publish('polled', { v: 1 });
      hub.remove('polled');
      let n = 0;
      for (let i = 0; i < 10; i += 1) {
        try { if (polled.tryRecv()) n += 1; } catch (e) { process.stdout.write(e.code + ' after ' + n + ';'); break; }
      }`, 'closed after 1;closed;'],
    slow: [`
      const slow = hub.subscribe('slow', { policy: 'disconnect', queue: 1 });
      slow.on('error', (e) => process.stdout.write('error ' + e.code + ';'));
      slow.on('close', () => process.stdout.write('closed;'));
      slow.tryRecv(); // the snapshot
      hub.publish('slow', { v: 1 });
      hub.publish('slow', { v: 2 });
      for (let i = 0; i < 10; i += 1) {
        try { slow.tryRecv(); } catch (e) { process.stdout.write('tryRecv ' + e.code + ';'); break; }
      }`, 'tryRecv slow_consumer;error slow_consumer;closed;'],
    looped: [`
      const looped = hub.subscribe('looped');
      looped.on('close', () => process.stdout.write('closed;'));
      const it = looped[Symbol.asyncIterator]();
      it.next().then(() => {
        hub.remove('looped');
        return it.next();
      }).then((r) => process.stdout.write('done ' + r.done + ';'));`, 'done true;closed;'],
    // A loop whose next() meets the slow-consumer end at once (no topic removed: nothing else asks for
    // a pass).
    slowLooped: [`
      const s = hub.subscribe('slow', { policy: 'disconnect', queue: 1 });
      s.on('error', (e) => process.stdout.write('error ' + e.code + ';'));
      s.on('close', () => process.stdout.write('closed;'));
      s.tryRecv(); // the snapshot
      hub.publish('slow', { v: 1 });
      hub.publish('slow', { v: 2 });
      s[Symbol.asyncIterator]().next().catch((e) => process.stdout.write('next ' + e.code + ';'));`,
    'next slow_consumer;error slow_consumer;closed;'],
    // Drained by tryRecv after the pass that saw the end, then a listener removed: the hold taken for
    // the end comes with the pass that reports it (without it, the process would never exit).
    offAfterDrain: [`
      const s = hub.subscribe('t');
      const h = (e) => process.stdout.write('error ' + e.code + ';');
      s.on('error', h);
      s.on('close', () => process.stdout.write('closed;'));
      s.tryRecv(); // the snapshot
      hub.publish('t', { v: 1 });
      hub.remove('t');
      setImmediate(() => { process.stdout.write('took ' + s.tryRecv().seq + ';'); s.off('error', h); });`,
    'took 1;closed;'],
    // The same, with nothing after the tryRecv that took the last message.
    drainedByTryRecv: [`
      const s = hub.subscribe('t');
      s.on('close', () => process.stdout.write('closed;'));
      s.tryRecv(); // the snapshot
      hub.publish('t', { v: 1 });
      hub.remove('t');
      setImmediate(() => process.stdout.write('took ' + s.tryRecv().seq + ';'));`,
    'took 1;closed;'],
    // Nothing waiting, only listeners, and the topic removed by this thread.
    removed: [`
      const a = hub.subscribe('removed');
      a.on('close', () => process.stdout.write('closed;'));
      a.on('error', (e) => process.stdout.write('error ' + e.code + ';'));
      a.tryRecv(); // the snapshot: nothing is left to deliver
      process.stdout.write('removed ' + hub.remove('removed') + ';');`, 'removed true;closed;'],
  };
  for (const [name, [body, expected]] of Object.entries(cases)) {
    const code = `const dashfeed = require('.'); const hub = new dashfeed.Hub(); ${body}`;
    const { status, out, err } = await runChild(code, 15_000);
    assert.equal(status, 0, `${name}: ${err}`);
    assert.equal(out, expected, name);
  }
});

test('an idle subscription keeps no message alive once its loop took them (measured after gc)', async () => {
  // 300 publications of ~4 KB in one burst: two refills (256, then 44 — under the 64 slots the JS
  // buffer keeps). Once the loop took them all and the subscription idles, no message object nor its
  // raw() Buffer may stay reachable from the buffer: weak references to every one are cleared by a
  // full gc, and the process's ArrayBuffer memory is back within 64 KiB of where it started.
  const code = `
    const dashfeed = require('.');
    const hub = new dashfeed.Hub({ queue: 400, history: 0 });
    const sub = hub.subscribe('mem');
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    async function consume(it, refs) {
      for (let i = 0; i < 300; i += 1) {
        const { value } = await it.next();
        value.raw();
        refs.push(new WeakRef(value));
      }
    }
    (async () => {
      const it = sub[Symbol.asyncIterator]();
      await it.next(); // the snapshot
      gc(); await tick(); gc();
      const base = process.memoryUsage().arrayBuffers;
      const refs = [];
      for (let i = 1; i <= 300; i += 1) hub.publish('mem', { v: i, pad: 'x'.repeat(4000) });
      await consume(it, refs); // in a frame of its own: none of its locals outlives it
      for (let i = 0; i < 3; i += 1) { await tick(); gc(); }
      const alive = refs.filter((r) => r.deref() !== undefined).length;
      const extra = process.memoryUsage().arrayBuffers - base;
      process.stdout.write(JSON.stringify({ alive, extra }));
      sub.close();
    })();
  `;
  const { status, out, err } = await runChild(code, 15_000, ['--expose-gc']);
  assert.equal(status, 0, err);
  const { alive, extra } = JSON.parse(out);
  assert.equal(alive, 0, 'messages still reachable');
  assert.ok(extra < 64 * 1024, `${extra} bytes of Buffers kept`);
});

test("'close' follows the end even when the loop took the last messages from its buffer", async () => {
  // Two updates and the end in one tick: a wake-up pass gives the loop the first and buffers the
  // second, so the end is found by the loop's own next() after that, not by a pass. 'close' must
  // still be emitted (once), after the loop saw everything.
  const hub = new dashfeed.Hub();
  const sub = hub.subscribe('end');
  const events = [];
  sub.on('close', () => events.push('close'));
  const loop = (async () => {
    for await (const m of sub) events.push(m.seq);
    events.push('loop done');
  })();
  await within(new Promise((resolve) => setImmediate(resolve)), 2000);
  hub.publish('end', { v: 1 });
  hub.publish('end', { v: 2 });
  hub.remove('end');
  await within(loop, 2000, 'the loop');
  for (let i = 0; i < 20 && !events.includes('close'); i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.deepEqual(events, [0, 1, 2, 'loop done', 'close']);
});

test('a waiting next() comes before a later tryRecv() or timed recv()', async () => {
  const hub = new dashfeed.Hub();
  const sub = hub.subscribe('order'); // its snapshot is queued
  hub.publish('order', { v: 1 });
  const first = sub.next(); // waits for the wake-up pass, with messages queued for it
  const taken = sub.tryRecv(); // comes after: `first` gets the snapshot, this the update
  assert.equal((await within(first, 2000)).value.kind, 'snapshot');
  assert.equal(taken.seq, 1);
  hub.publish('order', { v: 2 });
  hub.publish('order', { v: 3 });
  const second = sub.next();
  const polled = sub.recv(0); // a poll behind a waiter: the waiter first, then this one, at once
  const raced = await Promise.race([polled, Promise.resolve('pending')]);
  assert.notEqual(raced, 'pending', 'recv(0) settled within the call');
  assert.equal(raced.seq, 3);
  assert.equal((await within(second, 2000)).value.seq, 2);
  // A waiter that has nothing yet gets the next message first, before a tryRecv.
  const third = sub.next();
  assert.equal(sub.tryRecv(), null);
  hub.publish('order', { v: 4 });
  assert.equal(sub.tryRecv(), null);
  assert.equal((await within(third, 2000)).value.seq, 4);
  sub.close();
});

test('since: only epoch and seq are read; anything else is invalid_input, and loses nothing', () => {
  const hub = new dashfeed.Hub({ history: 10 });
  for (let i = 0; i < 3; i += 1) hub.publish('ops', { n: i });
  const { epoch } = hub.snapshot('ops');
  const live = hub.subscribe('ops');
  assert.deepEqual(live.tryRecvMany(10).map((m) => m.kind), ['snapshot']);
  let deep = { x: 1 };
  for (let i = 0; i < 20; i += 1) deep = { d: deep };
  for (const since of [{ epoch, seq: 2, data: deep, f: () => 1 }, [epoch, 2]]) {
    const sub = hub.subscribe('ops', { since });
    const hdr = sub.tryRecv();
    assert.deepEqual([hdr.kind, hdr.missed], ['recovered', 1]);
    sub.close();
  }
  for (const since of [() => 1, Symbol('s'), new Date(), { epoch, seq: 2n ** 64n }, { epoch, seq: {} },
    [epoch, -1], [epoch], [epoch, 1, 2], { seq: 1 }, { epoch: 1, seq: 1 }, 'x']) {
    throwsCode(() => hub.subscribe('ops', { since }), 'invalid_input');
  }
  assert.equal(hub.publish('ops', { n: 3 }), 4);
  assert.deepEqual(live.tryRecvMany(10).map((m) => [m.kind, m.seq]), [['update', 4]]);
  live.close();
});

test('publish on interleaved hubs and foreign receivers reaches the right hub; id omitted, undefined or null is none', () => {
  // `Hub.prototype.publish` remembers its last receiver (bindings-node/src/hub.rs, `hub_publish`).
  const a = new dashfeed.Hub();
  const b = new dashfeed.Hub({ dedupe: 10, dedupeHorizon: 60_000 });
  for (let i = 1; i <= 5; i += 1) {
    assert.equal(a.publish('d', { v: i }), i);
    assert.equal(b.publish('d', { v: i * 10 }), 2 * i - 1);
    assert.equal(b.publish('d', { v: i * 10 }, undefined), 2 * i);
  }
  assert.equal(a.snapshot('d').data.v, 5);
  assert.equal(b.snapshot('d').data.v, 50);
  assert.equal(b.publish('d', { v: 1 }, null), 11);
  assert.equal(b.publish('d', { v: 1 }, 'once'), 12);
  assert.equal(b.publish('d', { v: 2 }, 'once'), null);
  assert.equal(b.snapshot('d').data.v, 1);
  for (let i = 0; i < 100; i += 1) assert.equal(new dashfeed.Hub().publish('x', { i }), 1);
  if (global.gc) global.gc();
  assert.equal(a.publish('d', { v: 6 }), 6);
  const { publish } = dashfeed.Hub.prototype;
  throwsCode(() => publish.call({}, 'd', { v: 1 }), 'invalid_input');
  throwsCode(() => publish.call(new dashfeed.Codec(), 'd', { v: 1 }), 'invalid_input');
  throwsCode(() => a.publish(7, { v: 1 }), 'invalid_input');
  throwsCode(() => a.publish('d', { v: 1 }, 7), 'invalid_input');
  throwsCode(() => a.publish('d'), 'invalid_input');
  assert.equal(a.stats.publications, 6);
});
