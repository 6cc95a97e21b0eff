// dashfeed/socketio against a real socket.io 4 server and real socket.io-client sockets over loopback:
// subscribe → initial-state → updates in order (the reference notes' fields), one encoding per
// publication whatever the number of sockets, bad commands answered with codes, resume with `since`
// (explicit, and on socket.io-client's own reconnection), JWT (refused, the dashboards claim, expiry, refresh), a
// client that stops reading kept to a bounded buffer while the others get everything, and the msgpack
// parser. The cluster case (two servers sharing one Redis) is in socketio_cluster.test.js.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const { Server } = require('socket.io');
const { io: connect } = require('socket.io-client');
const { Hub } = require('../../index.js');
const { attachHub } = require('dashfeed/socketio');

const SECRET = 'socketio-test-secret';

/** An HS256 JWT for `claims`. */
function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}
const inSeconds = (s) => Math.floor(Date.now() / 1000) + s;

/** A socket.io server on 127.0.0.1:0 serving `hub` through the bridge. */
async function serve(hub, bridgeOptions = {}, ioOptions = {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, ioOptions);
  const bridge = attachHub(io, hub, bridgeOptions);
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${httpServer.address().port}`;
  const clients = [];
  return {
    io,
    bridge,
    url,
    client(opts = {}) {
      const c = connect(url, { transports: ['websocket'], reconnectionDelay: 20, reconnectionDelayMax: 100, ...opts });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.disconnect();
      bridge.close();
      await new Promise((r) => io.close(() => r()));
    },
  };
}

/** Collects every `event` of `socket` into an array. */
function record(socket, event) {
  const out = [];
  socket.on(event, (p) => out.push(p));
  return out;
}

/** Waits (bounded) until `check()` is truthy. */
async function until(what, check, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The next `event` of `socket` (bounded). */
function once(socket, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (p) => { clearTimeout(t); resolve(p); });
  });
}

test('subscribe → initial-state → updates in order, each publication encoded once for every socket', async () => {
  const hub = new Hub();
  hub.publish('ops', { cpu: 1 });
  const s = await serve(hub);
  try {
    const clients = Array.from({ length: 20 }, () => s.client());
    const states = clients.map((c) => once(c, 'initial-state'));
    const updates = clients.map((c) => record(c, 'update'));
    // the reference client's call: emit('subscribe', dashboardId), no ack
    for (const c of clients) c.emit('subscribe', 'ops');
    for (const st of await Promise.all(states)) {
      assert.deepEqual([st.dashboard, st.seq, st.data], ['ops', 1, { cpu: 1 }]);
      assert.match(st.epoch, /^[0-9a-f]{16}$/);
    }
    const encodesBefore = s.bridge.stats.encodes;
    for (let i = 2; i <= 51; i += 1) hub.publish('ops', { cpu: i });
    await until('50 updates on every socket', () => updates.every((u) => u.length === 50));
    for (const u of updates) {
      assert.deepEqual(u.map((x) => [x.seq, x.metric, x.value]), Array.from({ length: 50 }, (_, i) => [i + 2, 'cpu', i + 2]));
      assert.ok(u.every((x) => typeof x.timestamp === 'number' && x.metadata === null && x.dashboard === 'ops'));
    }
    assert.equal(s.bridge.stats.encodes - encodesBefore, 50, 'one encoding per publication, not per socket');

    // the reference layout of a tagged event keeps its own timestamp and metadata
    hub.publish('ops', { 'cpu{host=a}': { value: 0.5, timestamp: 1700000000000, metadata: { host: 'a' } } });
    await until('tagged update', () => updates.every((u) => u.length === 51));
    assert.deepEqual(updates[0][50], {
      dashboard: 'ops', metric: 'cpu{host=a}', value: 0.5, timestamp: 1700000000000, metadata: { host: 'a' }, seq: 52, epoch: updates[0][0].epoch,
    });
    assert.equal((await s.io.in('dashboard-ops').fetchSockets()).length, 20, 'room dashboard-{id}');

    // bad commands: coded answers, the socket and the others carry on
    const c0 = clients[0];
    assert.deepEqual((await c0.emitWithAck('subscribe', 42)).error.code, 'invalid_input');
    assert.deepEqual((await c0.emitWithAck('subscribe', '')).error.code, 'invalid_input');
    assert.deepEqual((await c0.emitWithAck('unsubscribe', 'nope')).error, { code: 'not_subscribed', message: 'not subscribed to this dashboard', dashboard: 'nope' });
    const errors = record(c0, 'error');
    c0.emit('subscribe', { not: 'a string' });
    await until('error event without ack', () => errors.length === 1);
    assert.equal(errors[0].code, 'invalid_input');
    assert.deepEqual(await c0.emitWithAck('unsubscribe', 'ops'), { ok: true });
    assert.equal((await s.io.in('dashboard-ops').fetchSockets()).length, 19);
    hub.publish('ops', { cpu: 99 });
    await until('the others still get updates', () => updates.slice(1).every((u) => u.length === 52));
    assert.equal(s.bridge.stats.open, 19);
  } finally {
    await s.close();
  }
});

test('resume after a reconnect with since: every missed update once, or a fresh initial-state', async () => {
  const hub = new Hub({ history: 100 });
  const s = await serve(hub);
  try {
    const c = s.client();
    const updates = record(c, 'update');
    const state = once(c, 'initial-state');
    c.emit('subscribe', 'ops');
    const { epoch } = await state;
    for (let i = 1; i <= 5; i += 1) hub.publish('ops', { cpu: i });
    await until('5 updates', () => updates.length === 5);
    c.disconnect();
    await until('server saw the disconnect', () => s.bridge.stats.open === 0);
    for (let i = 6; i <= 9; i += 1) hub.publish('ops', { cpu: i });
    c.connect();
    await once(c, 'connect');
    const recovered = once(c, 'recovered');
    const ack = await c.emitWithAck('subscribe', 'ops', { since: { epoch, seq: 5 } });
    assert.deepEqual(ack, { ok: true });
    assert.deepEqual(await recovered, { dashboard: 'ops', epoch, seq: 9, missed: 4 });
    await until('missed updates', () => updates.length === 9);
    hub.publish('ops', { cpu: 10 });
    await until('live again', () => updates.length === 10);
    assert.deepEqual(updates.map((u) => u.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'no gap, no duplicate');

    const fresh = once(c, 'initial-state');
    await c.emitWithAck('subscribe', 'ops', { since: { epoch: '0000000000000000', seq: 3 } });
    const st = await fresh;
    assert.deepEqual([st.recovered, st.seq, st.data], [false, 10, { cpu: 10 }]);
  } finally {
    await s.close();
  }
});

test('a client that re-subscribes with since on every reconnect loses nothing when its transport drops', async () => {
  const hub = new Hub({ history: 100 });
  const s = await serve(hub);
  try {
    const c = s.client();
    const updates = [];
    const recovered = record(c, 'recovered');
    let last = null; // the client's resume point: the epoch and seq of the last message applied
    c.on('initial-state', (st) => { last = { epoch: st.epoch, seq: st.seq }; });
    c.on('update', (u) => { updates.push(u); last = { epoch: u.epoch, seq: u.seq }; });
    c.on('connect', () => c.emit('subscribe', 'ops', last ? { since: last } : undefined));
    await until('subscribed', () => last !== null);
    hub.publish('ops', { cpu: 1 });
    hub.publish('ops', { cpu: 2 });
    await until('2 updates', () => updates.length === 2);
    c.io.engine.close(); // the transport drops; socket.io-client reconnects by itself
    await until('server saw the drop', () => s.bridge.stats.open === 0);
    hub.publish('ops', { cpu: 3 });
    hub.publish('ops', { cpu: 4 });
    await until('reconnected and resumed', () => updates.length === 4);
    hub.publish('ops', { cpu: 5 });
    await until('live again', () => updates.length === 5);
    assert.deepEqual(recovered.map((r) => r.missed), [2]);
    assert.deepEqual(updates.map((u) => [u.seq, u.value]), [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
  } finally {
    await s.close();
  }
});

test('JWT: refused without or with a bad token; the dashboards claim decides; expiry disconnects unless refreshed', async () => {
  const hub = new Hub();
  hub.publish('team-a', { cpu: 1 });
  const s = await serve(hub, { auth: { secret: SECRET } });
  try {
    for (const auth of [undefined, { token: 'not.a.jwt' }, { token: jwt({ exp: inSeconds(-60) }) }, { token: jwt({ dashboards: ['x'] }) }]) {
      const c = s.client({ auth, reconnection: false });
      const err = await once(c, 'connect_error');
      assert.equal(err.data.code, 'unauthorized', JSON.stringify(auth));
    }
    const bad = `${jwt({ exp: inSeconds(600) }).slice(0, -4)}AAAA`;
    assert.equal((await once(s.client({ auth: { token: bad }, reconnection: false }), 'connect_error')).data.code, 'unauthorized');

    const c = s.client({ auth: { token: jwt({ exp: inSeconds(600), sub: 'ann', dashboards: ['team-*'] }) } });
    await once(c, 'connect');
    const st = once(c, 'initial-state');
    assert.deepEqual(await c.emitWithAck('subscribe', 'team-a'), { ok: true });
    assert.deepEqual((await st).data, { cpu: 1 });
    assert.deepEqual(await c.emitWithAck('subscribe', 'billing'), {
      ok: false, error: { code: 'forbidden', message: 'the token does not open this dashboard', dashboard: 'billing' },
    });
    // a refresh for another subject is refused; one that narrows the claim ends what it no longer opens
    assert.equal((await c.emitWithAck('refresh', jwt({ exp: inSeconds(600), sub: 'bob' }))).error.code, 'unauthorized');
    const errors = record(c, 'error');
    assert.deepEqual(await c.emitWithAck('refresh', jwt({ exp: inSeconds(600), sub: 'ann', dashboards: ['team-b'] })), { ok: true });
    assert.deepEqual(errors, [{ code: 'forbidden', message: 'the token no longer opens this dashboard', dashboard: 'team-a' }]);
    assert.equal(s.bridge.stats.open, 0);

    // expiry: a token that ends within a second disconnects with token_expired; a refreshed one does not
    const short = s.client({ auth: { token: jwt({ exp: inSeconds(1) }) }, reconnection: false });
    const refreshed = s.client({ auth: { token: jwt({ exp: inSeconds(1) }) }, reconnection: false });
    await Promise.all([once(short, 'connect'), once(refreshed, 'connect')]);
    assert.deepEqual(await refreshed.emitWithAck('refresh', jwt({ exp: inSeconds(600) })), { ok: true });
    const expired = once(short, 'error', 5000);
    const gone = once(short, 'disconnect', 5000);
    assert.equal((await expired).code, 'token_expired');
    assert.equal(await gone, 'io server disconnect');
    assert.equal(refreshed.connected, true);
    assert.deepEqual(await refreshed.emitWithAck('subscribe', 'team-a'), { ok: true });
  } finally {
    await s.close();
  }
});

/** What socket.io holds for one server-side socket: its engine.io buffer plus the WebSocket's unsent bytes. */
function heldBytes(serverSocket) {
  const conn = serverSocket.conn;
  let bytes = 0;
  for (const p of conn.writeBuffer) bytes += typeof p.data === 'string' ? Buffer.byteLength(p.data) : (p.data ? p.data.length : 0);
  const ws = conn.transport.socket;
  return bytes + (ws ? ws.bufferedAmount + (ws._socket ? ws._socket.writableLength : 0) : 0);
}

test('a client that stops reading stays bounded (conflated in the hub); the others get everything', async () => {
  const hub = new Hub({ history: 0 });
  const s = await serve(hub, { highWaterMark: 16 });
  try {
    const fast = s.client();
    const slow = s.client();
    const fastUpdates = record(fast, 'update');
    const slowUpdates = record(slow, 'update');
    await Promise.all([once(fast, 'connect'), once(slow, 'connect')]);
    const slowId = slow.id;
    await Promise.all([fast.emitWithAck('subscribe', 'ops'), slow.emitWithAck('subscribe', 'ops')]);
    const serverSlow = (await s.io.fetchSockets()).find((x) => x.id === slowId);
    const raw = s.io.of('/').sockets.get(serverSlow.id);
    slow.io.engine.transport.ws._socket.pause(); // the client stops reading its TCP socket
    const blob = 'x'.repeat(2000);
    const N = 10000;
    let maxHeld = 0;
    for (let i = 1; i <= N; i += 1) {
      hub.publish('ops', { blob, n: i });
      if (i % 100 === 0) {
        await new Promise((r) => setImmediate(r)); // let socket.io write
        maxHeld = Math.max(maxHeld, heldBytes(raw));
      }
    }
    await until('the fast client got everything', () => fastUpdates.filter((u) => u.metric === 'n').length === N, 30000);
    const ns = fastUpdates.filter((u) => u.metric === 'n').map((u) => u.value);
    assert.deepEqual(ns, Array.from({ length: N }, (_, i) => i + 1));
    // ~20 MB went to the fast client; socket.io held at most a few hundred KB for the slow one
    assert.ok(maxHeld < 1024 * 1024, `slow socket held ${maxHeld} bytes`);
    assert.ok(s.bridge.stats.pauses >= 1);
    slow.io.engine.transport.ws._socket.resume();
    await until('the slow client catches up with the latest values', () => slowUpdates.some((u) => u.metric === 'n' && u.value === N), 30000);
    const seqs = slowUpdates.map((u) => u.seq);
    assert.ok(seqs.every((q, i) => i === 0 || q >= seqs[i - 1]), 'seq never goes back');
    assert.ok(slowUpdates.filter((u) => u.metric === 'n').length < N, 'conflated, not all delivered');
  } finally {
    await s.close();
  }
});

test('works with socket.io-msgpack-parser (packets encoded once through the server parser)', async () => {
  const parser = require('socket.io-msgpack-parser');
  const hub = new Hub();
  const s = await serve(hub, {}, { parser });
  try {
    const clients = [s.client({ parser }), s.client({ parser })];
    const updates = clients.map((c) => record(c, 'update'));
    await Promise.all(clients.map((c) => c.emitWithAck('subscribe', 'ops')));
    const before = s.bridge.stats.encodes;
    hub.publish('ops', { cpu: 0.25, mem: 3 });
    await until('updates', () => updates.every((u) => u.length === 2));
    assert.deepEqual(updates[1].map((u) => [u.metric, u.value, u.seq]), [['cpu', 0.25, 1], ['mem', 3, 1]]);
    assert.equal(s.bridge.stats.encodes - before, 2, 'two series, encoded once each');
  } finally {
    await s.close();
  }
});

test('long-polling clients get the same updates in order, through engine.io', async () => {
  const hub = new Hub();
  const s = await serve(hub);
  try {
    const ws = s.client();
    const polling = s.client({ transports: ['polling'] });
    const got = [ws, polling].map((c) => record(c, 'update'));
    await Promise.all([ws.emitWithAck('subscribe', 'ops'), polling.emitWithAck('subscribe', 'ops')]);
    for (let i = 1; i <= 200; i += 1) hub.publish('ops', { cpu: i });
    await until('200 updates on both', () => got.every((g) => g.length === 200));
    for (const g of got) assert.deepEqual(g.map((u) => u.value), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.equal(polling.io.engine.transport.name, 'polling');
    assert.ok(s.bridge.stats.writes > 0 && s.bridge.stats.writes < 200, `${s.bridge.stats.writes} direct writes for 200 updates`);
  } finally {
    await s.close();
  }
});
