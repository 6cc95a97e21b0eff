// The browser client (web/client/index.js) against a fake WebSocket, on node:test's mock timers and an
// injected random and frame scheduler: backoff schedule, resume, frame batching, token refresh, gap
// resync, gzip/MessagePack frames, heartbeat and close-code policy. No network, no sleeps.

import test from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { pack, unpack } from 'msgpackr';

const client = await import('../../web/client/index.js');
const { connect, backoffDelay, jwtExpiry, inflateGzip } = client;

/** The default inflater, with a handle on its latest promise (inflation runs on libuv's pool). */
function trackedInflate() {
  const f = (bytes, max) => (f.last = inflateGzip(bytes, max));
  f.settled = async () => { await null; await f.last.catch(() => {}); await flush(2); };
  return f;
}

/** A WebSocket double: the test opens, feeds and drops it. */
class FakeWS {
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, readyState: 0, sent: [], closedWith: null });
  }
  send(s) { this.sent.push(JSON.parse(s)); }
  close(code, reason) { this.closedWith = { code, reason }; this.readyState = 3; }
  open() { this.readyState = 1; this.onopen?.({}); }
  recv(msg) {
    const data = typeof msg === 'string' || msg instanceof ArrayBuffer ? msg : JSON.stringify(msg);
    this.onmessage?.({ data });
  }
  drop(code = 1006, reason = '') { this.readyState = 3; this.onclose?.({ code, reason }); }
}

/** Lets queued microtasks and promise chains run (not a sleep: setImmediate is not mocked). */
const flush = async (n = 1) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const jwt = (exp, sub = 'u') => `${b64url({ alg: 'HS256' })}.${b64url({ sub, exp })}.c2ln`;
const buf = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);

const EVENTS = ['update', 'snapshot', 'resume', 'gap', 'status', 'error', 'stats'];

/** A client on a fake socket class, mock timers from t=0, a manual frame queue and random = `r`. */
async function setup(t, opts = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 0 });
  const sockets = [];
  class WS extends FakeWS {
    constructor(url, protocols) { super(url, protocols); sockets.push(this); }
  }
  const queued = [];
  const c = connect('ws://dash.test/ws', {
    dashboards: ['host'], WebSocket: WS, scheduleFrame: (cb) => queued.push(cb),
    random: () => 0.5, heartbeat: { interval: 0 }, ...opts,
  });
  const ev = Object.fromEntries(EVENTS.map((e) => [e, []]));
  for (const e of EVENTS) c.on(e, (x) => ev[e].push(x));
  t.after(() => c.close());
  await flush();
  const frame = () => { const f = queued.splice(0); f.forEach((cb) => cb()); return f.length; };
  return { c, sockets, ev, frame, ws: () => sockets.at(-1) };
}

const snap = (seq, data, extra = {}) => ({ type: 'snapshot', dashboard: 'host', epoch: 'e1', seq, ...extra, data });
const upd = (seq, data, epoch = 'e1') => ({ type: 'update', dashboard: 'host', epoch, seq, data });
const plain = (o) => (o === undefined ? o : { ...o });

test('backoffDelay is full jitter: random() * min(cap, base * 2^attempt)', () => {
  const b = { base: 500, cap: 30000 };
  assert.equal(backoffDelay(0, b, () => 0), 0);
  assert.equal(backoffDelay(0, b, () => 0.999), 499.5);
  assert.equal(backoffDelay(3, b, () => 0.5), 2000);
  assert.equal(backoffDelay(10, b, () => 0.999), 29970);
  assert.equal(backoffDelay(60, b, () => 0.5), 15000);
});

test('reconnect delays grow exponentially with full jitter up to the cap', async (t) => {
  const { sockets, ev, c } = await setup(t);
  assert.equal(sockets.length, 1);
  assert.deepEqual(sockets[0].protocols, ['dashfeed.v1.json']);
  assert.equal(ev.status[0].status, 'connecting');
  const want = [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000];
  for (const [i, delay] of want.entries()) {
    sockets.at(-1).drop(1006);
    const st = ev.status.at(-1);
    assert.equal(st.status, 'reconnecting');
    assert.equal(st.delay, delay, `attempt ${i}`);
    assert.equal(st.closeCode, 1006);
    t.mock.timers.tick(delay - 1);
    assert.equal(sockets.length, i + 1, 'no attempt before the delay');
    t.mock.timers.tick(1);
    assert.equal(sockets.length, i + 2, 'an attempt right at the delay');
  }
  assert.equal(c.status, 'reconnecting');
});

test('a stable connection resets the attempt counter; a short one does not', async (t) => {
  const { ev, ws } = await setup(t);
  for (const d of [250, 500]) { ws().drop(); assert.equal(ev.status.at(-1).delay, d); t.mock.timers.tick(d); }
  ws().open();
  t.mock.timers.tick(4999); // not yet stable
  ws().drop();
  assert.equal(ev.status.at(-1).delay, 1000);
  t.mock.timers.tick(1000);
  ws().open();
  assert.equal(ev.status.at(-1).status, 'live');
  t.mock.timers.tick(5000); // stable
  ws().drop();
  assert.equal(ev.status.at(-1).delay, 250);
  assert.equal(ev.status.at(-1).attempt, 1);
});

test('maxAttempts ends in offline with an unreachable error', async (t) => {
  const { ev, ws, sockets, c } = await setup(t, { backoff: { maxAttempts: 2 } });
  ws().drop(); t.mock.timers.tick(250);
  ws().drop(); t.mock.timers.tick(500);
  ws().drop();
  assert.equal(c.status, 'offline');
  assert.equal(ev.error.at(-1).code, 'unreachable');
  t.mock.timers.tick(120000);
  assert.equal(sockets.length, 3);
});

test('resume: resubscribe with since, apply recovered + missed, then a fresh snapshot replaces state', async (t) => {
  const { c, ev, ws, frame } = await setup(t);
  ws().open();
  assert.deepEqual(ws().sent, [{ op: 'subscribe', dashboard: 'host' }]);
  ws().recv(snap(12, { a: 1, b: 2 }));
  ws().recv(upd(13, { a: 2 }));
  frame();
  assert.deepEqual(c.position('host'), { epoch: 'e1', seq: 13 });

  ws().drop(1001); // server shutdown
  t.mock.timers.tick(ev.status.at(-1).delay);
  ws().open();
  assert.deepEqual(ws().sent, [{ op: 'subscribe', dashboard: 'host', since: { epoch: 'e1', seq: 13 } }]);
  ws().recv({ type: 'recovered', dashboard: 'host', epoch: 'e1', seq: 15, recovered: true, missed: 2 });
  assert.deepEqual(ev.resume, [{ dashboard: 'host', epoch: 'e1', from: 13, seq: 15, missed: 2 }]);
  ws().recv(upd(14, { a: 3 }));
  ws().recv(upd(15, { c: 5 }));
  assert.deepEqual(plain(c.state('host')), { a: 3, b: 2, c: 5 });
  assert.equal(frame(), 1);
  assert.deepEqual(plain(ev.update.at(-1).data), { a: 3, c: 5 });
  assert.equal(ev.update.at(-1).seq, 15);
  assert.deepEqual(ev.gap, []);

  ws().drop(4008); // slow consumer: reconnect and resume
  t.mock.timers.tick(ev.status.at(-1).delay);
  ws().open();
  assert.deepEqual(ws().sent[0].since, { epoch: 'e1', seq: 15 });
  ws().recv({ type: 'snapshot', dashboard: 'host', epoch: 'e2', seq: 3, recovered: false, data: { a: 9 } });
  assert.deepEqual(plain(c.state('host')), { a: 9 }, 'stale series b and c dropped');
  frame();
  const s = ev.snapshot.at(-1);
  assert.equal(s.recovered, false);
  assert.deepEqual([s.epoch, s.seq, plain(s.data)], ['e2', 3, { a: 9 }]);
  assert.deepEqual(c.position('host'), { epoch: 'e2', seq: 3 });
});

test('frame batching: ten updates make one event with the latest value per series', async (t) => {
  const { c, ev, ws, frame } = await setup(t);
  c.subscribe('api');
  ws().open();
  ws().recv(snap(0, {}));
  ws().recv({ ...snap(0, {}), dashboard: 'api' });
  assert.equal(frame(), 1);
  assert.equal(ev.snapshot.length, 2);
  for (let i = 1; i <= 10; i++) {
    ws().recv(upd(i, i % 2 ? { cpu: i } : { cpu: i, mem: 100 + i }));
    ws().recv({ ...upd(i, { p99: i }), dashboard: 'api' });
  }
  assert.deepEqual(ev.update, [], 'nothing before the frame');
  assert.equal(frame(), 1, 'one frame callback for all of it');
  assert.equal(ev.update.length, 2, 'one event per dashboard');
  const host = ev.update.find((u) => u.dashboard === 'host');
  assert.deepEqual([plain(host.data), host.seq], [{ cpu: 10, mem: 110 }, 10]);
  assert.deepEqual(plain(ev.update.find((u) => u.dashboard === 'api').data), { p99: 10 });

  // A snapshot in the middle supersedes the queued updates; later ones fold into it.
  ws().recv(upd(11, { cpu: 11 }));
  ws().recv(snap(20, { x: 1 }, { recovered: false }));
  ws().recv(upd(21, { cpu: 5 }));
  frame();
  assert.equal(ev.update.length, 2, 'no update event');
  const s = ev.snapshot.at(-1);
  assert.deepEqual([plain(s.data), s.seq, s.recovered], [{ x: 1, cpu: 5 }, 21, false]);
  assert.equal(frame(), 0, 'no frame requested when idle');
});

test('batch frames: asked for by default, applied in order, counted per message', async (t) => {
  const { ev, ws, frame } = await setup(t, { gaps: 'accept' });
  assert.equal(new URL(ws().url).searchParams.get('batch'), '1');
  ws().open();
  ws().recv({ type: 'batch', messages: [snap(0, {}), upd(1, { cpu: 1 }), upd(2, { cpu: 2, mem: 5 })] });
  ws().recv({ type: 'batch', messages: [upd(3, { cpu: 3 }), upd(5, { cpu: 5 })] });
  frame();
  assert.deepEqual(ev.gap.map((g) => [g.from, g.to]), [[3, 5]], 'a gap inside a batch is seen');
  ws().recv({ type: 'batch', messages: [upd(6, { cpu: 6 }), upd(7, { mem: 7 })] });
  frame();
  assert.equal(ev.snapshot.length, 1);
  assert.deepEqual(plain(ev.update.at(-1).data), { cpu: 6, mem: 7 });
  t.mock.timers.tick(1000);
  assert.equal(ev.stats.at(-1).messages, 7, 'messages, not frames');
});

test('batch: false leaves the URL without batch=, and a URL that says batch= keeps it', async (t) => {
  const off = await setup(t, { batch: false });
  assert.equal(new URL(off.ws().url).searchParams.has('batch'), false);
  const urls = [];
  class WS extends FakeWS {
    constructor(url, protocols) { super(url, protocols); urls.push(url); }
  }
  const c = connect('ws://dash.test/ws?batch=0', { dashboards: ['host'], WebSocket: WS, heartbeat: { interval: 0 } });
  t.after(() => c.close());
  await flush();
  assert.equal(new URL(urls[0]).searchParams.get('batch'), '0');
});

test('series named __proto__ stay data', async (t) => {
  const { c, ws } = await setup(t);
  ws().open();
  ws().recv('{"type":"snapshot","dashboard":"host","epoch":"e1","seq":1,"data":{"__proto__":{"mean":1}}}');
  ws().recv('{"type":"update","dashboard":"host","epoch":"e1","seq":2,"data":{"__proto__":{"mean":2}}}');
  assert.deepEqual(Object.keys(c.state('host')), ['__proto__']);
  assert.equal(c.state('host')['__proto__'].mean, 2);
  assert.equal({}.mean, undefined);
});

test('token: refresh before exp, and a new token and reconnect on 4401', async (t) => {
  let n = 0;
  const getToken = t.mock.fn(async () => jwt(120 * ++n + 60));
  const { ws, sockets } = await setup(t, { token: jwt(60), getToken });
  assert.deepEqual(ws().protocols, ['dashfeed.v1.json', `dashfeed.token.${jwt(60)}`]);
  ws().open();
  t.mock.timers.tick(29999);
  assert.equal(getToken.mock.callCount(), 0);
  t.mock.timers.tick(1); // exp 60 s - refreshBefore 30 s
  await flush();
  assert.equal(getToken.mock.callCount(), 1);
  assert.deepEqual(ws().sent.at(-1), { op: 'refresh', token: jwt(180) });
  t.mock.timers.tick(119999); // next: 180 s - 30 s = at 150 s
  assert.equal(getToken.mock.callCount(), 1);
  t.mock.timers.tick(1);
  await flush();
  assert.deepEqual(ws().sent.at(-1), { op: 'refresh', token: jwt(300) });

  ws().drop(4401);
  t.mock.timers.tick(250);
  await flush();
  assert.equal(getToken.mock.callCount(), 3, 'a new token before reconnecting');
  assert.equal(sockets.length, 2);
  assert.deepEqual(ws().protocols, ['dashfeed.v1.json', `dashfeed.token.${jwt(420)}`]);
});

test('4401 without getToken goes offline; tokenIn query puts the token in the URL', async (t) => {
  const { ws, ev, c, sockets } = await setup(t, { token: jwt(60), tokenIn: 'query' });
  assert.equal(new URL(ws().url).searchParams.get('token'), jwt(60));
  assert.deepEqual(ws().protocols, ['dashfeed.v1.json']);
  ws().open();
  ws().drop(4401, 'token expired');
  assert.equal(c.status, 'offline');
  assert.deepEqual([ev.error.at(-1).code, ev.error.at(-1).closeCode], ['connection_closed', 4401]);
  t.mock.timers.tick(60000);
  assert.equal(sockets.length, 1);
});

test('a refused handshake or a failing getToken: new token next time, with backoff', async (t) => {
  let fail = true;
  const getToken = t.mock.fn(async () => {
    if (fail) throw new Error('auth down');
    return jwt(3600);
  });
  const { ws, ev, sockets } = await setup(t, { token: jwt(3600, 'old'), getToken });
  ws().drop(1006); // e.g. a 401 at the upgrade: the browser only sees 1006
  t.mock.timers.tick(250);
  await flush();
  assert.equal(getToken.mock.callCount(), 1);
  assert.equal(sockets.length, 1, 'no connection without a token');
  assert.equal(ev.error.at(-1).code, 'token_error');
  assert.equal(ev.status.at(-1).delay, 500, 'the failure backs off like any other');
  fail = false;
  t.mock.timers.tick(500);
  await flush();
  assert.equal(sockets.length, 2);
  assert.deepEqual(ws().protocols, ['dashfeed.v1.json', `dashfeed.token.${jwt(3600)}`]);
  ws().open();
  ws().drop(1001); // an opened connection keeps its still valid token
  t.mock.timers.tick(ev.status.at(-1).delay);
  await flush();
  assert.equal(getToken.mock.callCount(), 2);
  assert.equal(sockets.length, 3);
});

test('jwtExpiry reads exp in ms, undefined otherwise', () => {
  assert.equal(jwtExpiry(jwt(1700000000)), 1700000000000);
  assert.equal(jwtExpiry('not-a-jwt'), undefined);
  assert.equal(jwtExpiry(`a.${b64url({ sub: 'x' })}.c`), undefined);
  assert.equal(jwtExpiry(undefined), undefined);
});

test('a seq gap resubscribes with since; leftovers are ignored; a gap in the cooldown is accepted', async (t) => {
  const { c, ev, ws } = await setup(t);
  ws().open();
  t.mock.timers.tick(10000);
  ws().recv(snap(5, { a: 5 }));
  ws().recv(upd(6, { a: 6 }));
  ws().recv(upd(9, { a: 9 })); // 7 and 8 dropped (drop_oldest)
  assert.deepEqual(ev.gap, [{ dashboard: 'host', from: 6, to: 9, resync: true }]);
  assert.deepEqual(ws().sent.at(-1), { op: 'subscribe', dashboard: 'host', since: { epoch: 'e1', seq: 6 } });
  ws().recv(upd(10, { b: 10 })); // from the replaced subscription
  assert.deepEqual(plain(c.state('host')), { a: 6 });
  ws().recv({ type: 'recovered', dashboard: 'host', epoch: 'e1', seq: 10, recovered: true, missed: 4 });
  for (const s of [7, 8, 9, 10]) ws().recv(upd(s, s === 10 ? { b: 10 } : { a: s }));
  assert.deepEqual(plain(c.state('host')), { a: 9, b: 10 });
  assert.deepEqual(c.position('host'), { epoch: 'e1', seq: 10 });
  ws().recv(upd(14, { a: 14 })); // within 5 s of the resume: a conflated jump
  assert.deepEqual(ev.gap.at(-1), { dashboard: 'host', from: 10, to: 14, resync: false });
  assert.equal(c.state('host').a, 14);
  assert.equal(ws().sent.length, 2);
  ws().recv(upd(15, { a: 15 }, 'e9')); // another epoch without a snapshot: resync
  assert.deepEqual(ws().sent.at(-1).since, { epoch: 'e1', seq: 14 });
});

test("gaps: 'accept' applies jumps without resubscribing", async (t) => {
  const { c, ev, ws } = await setup(t, { gaps: 'accept' });
  ws().open();
  ws().recv(snap(1, { a: 1 }));
  ws().recv(upd(5, { a: 5 }));
  assert.equal(c.state('host').a, 5);
  assert.equal(ev.gap[0].resync, false);
  assert.equal(ws().sent.length, 1);
});

const big = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`s${i}`, { mean: i }]));

test('gzip binary frames inflate in arrival order with text frames', async (t) => {
  const inflate = trackedInflate();
  const { c, ws } = await setup(t, { inflate });
  ws().open();
  ws().recv(buf(zlib.gzipSync(JSON.stringify(snap(1, big)))));
  ws().recv(upd(2, { s0: { mean: -1 } })); // a text frame right behind the gzip one
  assert.equal(c.position('host'), undefined, 'the text frame waits for the gzip one');
  await inflate.settled();
  assert.deepEqual(c.position('host'), { epoch: 'e1', seq: 2 });
  assert.equal(c.state('host').s0.mean, -1);
  assert.equal(c.state('host').s99.mean, 99);
});

test('msgpack frames (plain and gzipped) decode with options.decode', async (t) => {
  assert.throws(() => connect('ws://x/ws', { format: 'msgpack', WebSocket: FakeWS }), TypeError);
  const inflate = trackedInflate();
  const { c, ws } = await setup(t, { format: 'msgpack', decode: unpack, inflate });
  assert.deepEqual(ws().protocols, ['dashfeed.v1.msgpack']);
  ws().open();
  ws().recv(buf(pack(snap(1, { a: 1 }))));
  assert.deepEqual(plain(c.state('host')), { a: 1 });
  ws().recv(buf(zlib.gzipSync(pack(upd(2, big)))));
  await inflate.settled();
  assert.deepEqual(plain(c.state('host')), { a: 1, ...big });
});

test('a gzip bomb is refused past maxMessageBytes', async (t) => {
  const inflate = trackedInflate();
  const { c, ev, ws } = await setup(t, { maxMessageBytes: 1000, inflate });
  ws().open();
  ws().recv(buf(zlib.gzipSync(JSON.stringify(snap(1, { x: 'a'.repeat(5000) })))));
  await inflate.settled();
  assert.equal(ev.error[0].code, 'too_large');
  assert.equal(c.position('host'), undefined);
});

test('heartbeat: ping after an idle interval, reconnect when nothing answers', async (t) => {
  const { ev, ws, sockets } = await setup(t, { heartbeat: { interval: 15000, timeout: 10000 } });
  ws().open();
  ws().recv(snap(1, {}));
  t.mock.timers.tick(15000);
  assert.deepEqual(ws().sent.at(-1), { op: 'ping', id: 1 });
  t.mock.timers.tick(5000);
  ws().recv({ type: 'pong', id: 1 });
  t.mock.timers.tick(5000);
  assert.equal(ws().closedWith, null, 'the pong kept it');
  t.mock.timers.tick(10000);
  assert.deepEqual(ws().sent.at(-1), { op: 'ping', id: 2 });
  t.mock.timers.tick(10000);
  assert.deepEqual(sockets[0].closedWith, { code: 4000, reason: 'heartbeat timeout' });
  assert.deepEqual([ev.status.at(-1).status, ev.status.at(-1).closeCode], ['reconnecting', 4000]);
});

test('close codes: policy is final, rate limited waits longer, close() is offline', async (t) => {
  const a = await setup(t);
  a.ws().open();
  a.ws().drop(4029);
  assert.equal(a.ev.status.at(-1).delay, 5000);
  t.mock.timers.tick(5000);
  a.ws().open();
  a.ws().drop(1008);
  assert.equal(a.c.status, 'offline');
  t.mock.timers.tick(60000);
  assert.equal(a.sockets.length, 2);
  a.c.reconnect();
  assert.equal(a.sockets.length, 3, 'reconnect() reopens an offline client');
  a.ws().open();
  a.c.close();
  assert.deepEqual(a.sockets[2].closedWith, { code: 1000, reason: 'client closed' });
  assert.equal(a.ev.status.at(-1).status, 'offline');
});

test('server errors: forbidden drops the dashboard, rate_limited resends pending subscribes', async (t) => {
  const { c, ev, ws } = await setup(t);
  c.subscribe('billing');
  ws().open();
  ws().recv({ type: 'error', code: 'forbidden', message: 'no', dashboard: 'billing' });
  assert.deepEqual(c.dashboards, ['host']);
  assert.deepEqual(ev.error.at(-1), { code: 'forbidden', message: 'no', dashboard: 'billing' });
  ws().recv({ type: 'error', code: 'rate_limited', message: 'slow down', retry_after_ms: 300 });
  t.mock.timers.tick(300);
  assert.deepEqual(ws().sent.at(-1), { op: 'subscribe', dashboard: 'host' });
  c.unsubscribe('host');
  assert.deepEqual(ws().sent.at(-1), { op: 'unsubscribe', dashboard: 'host' });
  assert.equal(c.state('host'), undefined);
});

test('stats: messages per second', async (t) => {
  const { ev, ws } = await setup(t);
  ws().open();
  ws().recv(snap(0, {}));
  for (let i = 1; i <= 29; i++) ws().recv(upd(i, { a: i }));
  t.mock.timers.tick(1000);
  assert.equal(ev.stats.at(-1).messagesPerSecond, 30);
  assert.equal(ev.stats.at(-1).messages, 30);
});
