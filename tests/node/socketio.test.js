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
/** An `exp` at least `s` seconds away and at most `s` + 1 (exp has whole seconds). */
const atLeast = (s) => Math.ceil(Date.now() / 1000 + s);

/** A socket.io server on 127.0.0.1:0 serving `hub` through the bridge. */
async function serve(hub, bridgeOptions = {}, ioOptions = {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, ioOptions);
  // count what socket.io's own encoder really encodes
  const encode = io.encoder.encode.bind(io.encoder);
  let encodes = 0;
  io.encoder.encode = (packet) => { encodes += 1; return encode(packet); };
  const bridge = attachHub(io, hub, bridgeOptions);
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${httpServer.address().port}`;
  const clients = [];
  return {
    io,
    bridge,
    url,
    get encodes() { return encodes; },
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
    const encodesBefore = s.encodes;
    for (let i = 2; i <= 51; i += 1) hub.publish('ops', { cpu: i });
    await until('50 updates on every socket', () => updates.every((u) => u.length === 50));
    for (const u of updates) {
      assert.deepEqual(u.map((x) => [x.seq, x.metric, x.value, x.part, x.parts]), Array.from({ length: 50 }, (_, i) => [i + 2, 'cpu', i + 2, 1, 1]));
      assert.ok(u.every((x) => typeof x.timestamp === 'number' && x.metadata === null && x.dashboard === 'ops'));
    }
    assert.equal(s.encodes - encodesBefore, 50, 'one encoding per publication, not per socket');

    // the reference layout of a tagged event keeps its own timestamp and metadata
    hub.publish('ops', { 'cpu{host=a}': { value: 0.5, timestamp: 1700000000000, metadata: { host: 'a' } } });
    await until('tagged update', () => updates.every((u) => u.length === 51));
    assert.deepEqual(updates[0][50], {
      dashboard: 'ops', metric: 'cpu{host=a}', value: 0.5, timestamp: 1700000000000, metadata: { host: 'a' }, seq: 52, epoch: updates[0][0].epoch, part: 1, parts: 1,
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
    assert.deepEqual(await c0.emitWithAck('unsubscribe', 'ops'), { ok: false, error: { code: 'not_subscribed', message: 'not subscribed to this dashboard', dashboard: 'ops' } });
    assert.equal(updates[0].length, 51, 'nothing after unsubscribe');
    assert.equal(s.bridge.stats.open, 19);
    // the bridge closed: every hub subscription ends, commands are no longer served
    s.bridge.close();
    assert.equal(hub.stats.subscribers, 0);
    c0.emit('subscribe', 'ops');
    hub.publish('ops', { cpu: 100 });
    await c0.timeout(200).emitWithAck('unsubscribe', 'ops').catch(() => null);
    assert.equal(hub.stats.subscribers, 0, 'no subscription made after close');
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
    for (let i = 6; i <= 9; i += 1) hub.publish('ops', { cpu: i, mem: -i, disk: 10 * i }); // three series each
    c.connect();
    await once(c, 'connect');
    const recovered = once(c, 'recovered');
    const ack = await c.emitWithAck('subscribe', 'ops', { since: { epoch, seq: 5 } });
    assert.deepEqual(ack, { ok: true });
    assert.deepEqual(await recovered, { dashboard: 'ops', epoch, seq: 9, missed: 4 });
    await until('missed updates', () => updates.length === 5 + 12);
    assert.deepEqual(updates.slice(5).map((u) => [u.seq, u.metric, u.part, u.parts]),
      [6, 7, 8, 9].flatMap((q) => [[q, 'cpu', 1, 3], [q, 'mem', 2, 3], [q, 'disk', 3, 3]]));
    hub.publish('ops', { cpu: 10 });
    await until('live again', () => updates.length === 18);
    assert.deepEqual([...new Set(updates.map((u) => u.seq))], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'no gap, no duplicate');

    const fresh = once(c, 'initial-state');
    await c.emitWithAck('subscribe', 'ops', { since: { epoch: '0000000000000000', seq: 3 } });
    const st = await fresh;
    assert.deepEqual([st.recovered, st.seq, st.data], [false, 10, { cpu: 10, mem: -9, disk: 90 }]);
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
    const errors = record(c, 'error');
    assert.deepEqual(await c.emitWithAck('refresh', jwt({ exp: inSeconds(600), sub: 'ann', dashboards: ['team-b'] })), { ok: true });
    assert.deepEqual(errors, [{ code: 'forbidden', message: 'the new token does not open this dashboard', dashboard: 'team-a' }]);
    assert.equal(s.bridge.stats.open, 0);
    // a refresh for another subject is refused and ends the socket (the server closes with 4001)
    const gone1 = once(c, 'disconnect');
    assert.equal((await c.emitWithAck('refresh', jwt({ exp: inSeconds(600), sub: 'bob' }))).error.code, 'unauthorized');
    assert.equal(await gone1, 'io server disconnect');

    // expiry: a token that ends within a second disconnects with token_expired; a refreshed one does not
    const short = s.client({ auth: { token: jwt({ exp: atLeast(1.5) }) }, reconnection: false });
    const refreshed = s.client({ auth: { token: jwt({ exp: atLeast(1.5) }) }, reconnection: false });
    const expired = once(short, 'error', 5000);
    const gone = once(short, 'disconnect', 5000);
    await Promise.all([once(short, 'connect'), once(refreshed, 'connect')]);
    assert.deepEqual(await refreshed.timeout(1000).emitWithAck('refresh', jwt({ exp: inSeconds(600) })), { ok: true });
    assert.equal((await expired).code, 'token_expired');
    assert.equal(await gone, 'io server disconnect');
    assert.equal(refreshed.connected, true);
    assert.deepEqual(await refreshed.emitWithAck('subscribe', 'team-a'), { ok: true });
    // a header token works as well as the auth payload
    const viaHeader = s.client({ extraHeaders: { authorization: `Bearer ${jwt({ exp: inSeconds(600) })}` }, reconnection: false });
    await once(viaHeader, 'connect');
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
  return bytes + (ws ? ws.bufferedAmount : 0); // ws: its TCP socket's unsent bytes + its sender's
}

test('a client that stops reading stays bounded (conflated in the hub); the others get everything', async () => {
  const hub = new Hub({ history: 0 });
  // queues deep enough for the fast client, which the producer keeps within 1,000 messages (~2 MB)
  const s = await serve(hub, { highWaterMark: 16, queue: 4096, queueBytes: 8 * 1024 * 1024 });
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
    // the peak of what socket.io and the TCP socket hold for the slow socket, sampled at every write
    let maxHeld = 0;
    const sample = () => { maxHeld = Math.max(maxHeld, heldBytes(raw)); };
    raw.conn.on('packetCreate', sample);
    const tcp = raw.conn.transport.socket._socket;
    const write = tcp.write.bind(tcp);
    tcp.write = (...a) => { const r = write(...a); sample(); return r; };
    const blob = 'x'.repeat(2000);
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`m${k}`, k])); // 20 packets per message
    const N = 10000;
    for (let i = 1; i <= N; i += 1) {
      hub.publish('ops', { blob, n: i, ...(i % 10 === 0 ? many : {}) });
      if (i % 500 === 0) { // batches of up to 500 messages; the fast client stays within 1,000
        await until('the fast client keeps up', () => fastUpdates.filter((u) => u.metric === 'n').length >= i - 500, 30000);
      }
    }
    await until('the fast client got everything', () => fastUpdates.filter((u) => u.metric === 'n').length === N, 30000);
    sample();
    const ns = fastUpdates.filter((u) => u.metric === 'n').map((u) => u.value);
    assert.deepEqual(ns, Array.from({ length: N }, (_, i) => i + 1));
    // ~20 MB went to the fast client; for the slow one socket.io and its TCP socket held at most
    // highWaterBytes (64 KiB) plus one message (22 packets of ~2 KiB at most)
    assert.ok(maxHeld < 64 * 1024 + 22 * 2200, `slow socket held ${maxHeld} bytes`);
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
    const before = s.encodes;
    hub.publish('ops', { cpu: 0.25, mem: 3 });
    await until('updates', () => updates.every((u) => u.length === 2));
    assert.deepEqual(updates[1].map((u) => [u.metric, u.value, u.seq]), [['cpu', 0.25, 1], ['mem', 3, 1]]);
    assert.equal(s.encodes - before, 2, 'two series, encoded once each');
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

test("connectionStateRecovery: a restored socket gets its dashboards back, each from a fresh initial-state", async () => {
  const hub = new Hub();
  const s = await serve(hub, {}, { connectionStateRecovery: { maxDisconnectionDuration: 60000 } });
  try {
    const c = s.client();
    const states = record(c, 'initial-state');
    const updates = record(c, 'update');
    await once(c, 'connect');
    await c.emitWithAck('subscribe', 'ops');
    s.io.emit('hello'); // a broadcast: socket.io's recovery needs an offset to restore a session
    await once(c, 'hello');
    hub.publish('ops', { cpu: 1 });
    await until('1 update', () => updates.length === 1);
    c.io.engine.close(); // the transport drops; socket.io-client reconnects and the session is restored
    await until('server saw the drop', () => s.bridge.stats.open === 0);
    hub.publish('ops', { cpu: 2 });
    await until('restored with a fresh initial-state', () => states.length === 2);
    assert.equal(c.recovered, true);
    assert.deepEqual([states[1].seq, states[1].data], [2, { cpu: 2 }]);
    hub.publish('ops', { cpu: 3 });
    await until('live again', () => updates.length === 2);
    assert.equal(updates[1].value, 3);
  } finally {
    await s.close();
  }
});

test('rate limit, subscription cap and dynamic namespaces', async () => {
  const hub = new Hub();
  const s = await serve(hub, { messageRate: [1, 3], maxSubscriptions: 2 });
  try {
    const c = s.client();
    await once(c, 'connect');
    assert.deepEqual(await c.emitWithAck('subscribe', 'a'), { ok: true });
    assert.deepEqual(await c.emitWithAck('subscribe', 'b'), { ok: true });
    assert.equal((await c.emitWithAck('subscribe', 'c')).error.code, 'too_many_subscriptions');
    const limited = (await c.emitWithAck('subscribe', 'a')).error;
    assert.equal(limited.code, 'rate_limited');
    assert.ok(limited.retry_after_ms > 0 && limited.retry_after_ms <= 1000);
  } finally {
    await s.close();
  }
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  attachHub(io.of(/^\/team-\w+$/), hub);
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const c = connect(`http://127.0.0.1:${httpServer.address().port}/team-a`, { transports: ['websocket'] });
  try {
    const got = record(c, 'update');
    assert.deepEqual(await c.emitWithAck('subscribe', 'ops'), { ok: true });
    hub.publish('ops', { cpu: 7 });
    await until('update in a child namespace', () => got.length === 1);
    assert.equal(got[0].value, 7);
  } finally {
    c.disconnect();
    await new Promise((r) => io.close(() => r()));
  }
});
