'use strict';
// The load process of bench/soak/run.py: every WebSocket client (the `ws` package) and the probe publisher
// (feed.js), in this one process, and the checks that no client missed an update it was owed.
//
// Roles (client i gets one by its index, `--clients` in all; plus one recorder per dashboard and three
// primers):
// - normal: `/dashboard/{id}` (plain JSON, `?format=msgpack`) or `/ws` with `subscribe` to both main
//   dashboards (subprotocol `dashfeed.v1.json`: gzipped binary frames above 1 KiB, or `dashfeed.v1.msgpack`).
//   Within an epoch their seqs must be contiguous: any jump or repeat is a violation.
// - slow: `/ws` on a main dashboard and the bulk dashboard (plain JSON or `dashfeed.v1.json`); stops reading
//   (`ws.pause()`) for 80-100% of `--slow-pause` s after 1-5 s of reading, then again after each 5-15 s of
//   reading (an app `ping` every 10 s keeps it from the idle timeout). A seq jump is allowed only as the
//   conflate policy's merge: the merged update must carry the newest probe of the skipped range (checked at
//   the end against the recorder's seq → probe log).
// - resume: connected 3-8 s, then closes (gracefully or by a TCP reset), waits 0.2-2 s and reconnects with
//   the last applied (epoch, seq): `?epoch=&seq=` on `/dashboard/{id}` or `subscribe` + `since` on `/ws`.
//   Each must get `recovered: true` with `seq == since + missed`, then exactly the missed seqs in order.
// - garbage: on `/dashboard/host`, every 1-3 s one hostile input with its documented answer
//   (docs/protocol.md): bad JSON, non-map, unknown op, wrong types, bad `since`, msgpack junk, a gzip bomb →
//   the error code, then a `ping` must still be answered; a 70 KB frame → close 1009, invalid UTF-8 → 1007,
//   33 bad messages → 32 errors + 1008, 140 pings at once → `rate_limited` + 4029; bad handshakes → HTTP
//   400; bad ingest bodies → HTTP 400 with the code. Any other answer, or none within 10 s, is a violation.
// - recorder (one per dashboard, plain JSON): the publication log as the server numbered it (seq → probe).
// - primers: normal clients in the other wire formats, subscribed with the recorders before the prefill.
//
// At the end every client's newest probe per dashboard must be the last one published (slow clients
// included: conflation keeps the newest value), the recorders' probes must equal the publisher's log, and
// every subscription must reach the seq the server reports once the publisher stopped. Latency = receive
// time − the probe's value (its send time), for normal clients and recorders only (slow clients and replays
// are late on purpose); per second and per `--window` s.
//
// Protocol (JSON lines): stdout `{"ready": n, ...}` once every client has its snapshot(s); stdin
// `{"op": "start"}` (publisher and chaos begin), `{"op": "tick"}` → this second's figures, `{"op":
// "finish"}` → chaos stops, publisher stops, every subscription must reach the server's current seq, then
// `{"report": {...}}` with every check; `{"op": "quit"}`. A line `{"error": ...}` when the run cannot go on.
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const readline = require('node:readline');
const { performance } = require('node:perf_hooks');
const WebSocket = require('ws');
const { unpack } = require('msgpackr');
const { makeFeed, sleep, now } = require('./feed');

const argv = process.argv.slice(2);
const arg = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const PORT = Number(arg('port'));
const N = Number(arg('clients', '1000'));
const MAIN = arg('dashboards', 'host,api').split(',');
const BULK = arg('bulk-dashboard', 'soak-bulk');
const SHARE = { slow: Number(arg('slow', '0.1')), resume: Number(arg('resume', '0.1')), garbage: Number(arg('garbage', '0.05')) };
const PROBE_HZ = Number(arg('probe-hz', '5'));
const BULK_HZ = Number(arg('bulk-hz', '20'));
const BULK_BYTES = Number(arg('bulk-bytes', '12000'));
const HISTORY = Number(arg('history', '2000'));
const PAUSE_S = Number(arg('slow-pause', '40'));
const WINDOW_S = Number(arg('window', '60'));
let seed = Number(arg('seed', '1')) >>> 0;
/** mulberry32: a seeded PRNG, so that a run's roles, timings and hostile inputs repeat with `--seed`. */
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a, b) => a + (b - a) * rand();
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

// ---- figures ----------------------------------------------------------------------------------------------
const tick = { deliveries: 0, lat: [], reconnects: 0, resumed: 0, garbageOk: 0, lagMax: 0 };
const total = { deliveries: 0, reconnects: 0, resumed: 0, replayed: 0, notRecovered: 0, jumps: 0, garbage: {}, closes: {} };
const windows = []; // {index, n, p50, p99}
let windowLat = [];
let windowIndex = 0;
let windowStart = 0;
let windowZero = 0; // when the load started
const violations = [];
let violationCount = 0;
function violate(kind, detail) {
  violationCount += 1;
  if (violations.length < 50) violations.push({ kind, ...detail });
}
const bump = (obj, key) => { obj[key] = (obj[key] || 0) + 1; };
function pct(sorted, q) { return sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] : null; }
let lastLoop = performance.now(); // event-loop lag of this process (its own share of the latency)
setInterval(() => { const t = performance.now(); tick.lagMax = Math.max(tick.lagMax, t - lastLoop - 100); lastLoop = t; }, 100).unref();
const feed = makeFeed({ port: PORT, main: MAIN, bulk: BULK, probeHz: PROBE_HZ, bulkHz: BULK_HZ, bulkBytes: BULK_BYTES,
  history: HISTORY, violate });
const { post, log, pub } = feed;

// ---- clients -------------------------------------------------------------------------------------------------
const clients = [];
const recorders = {}; // dashboard -> client
const primers = [];
const other = {}; // dashboard -> data of the updates without a probe (the other sources')
const recLog = {}; // dashboard -> Map(seq -> probe n) as the recorder saw it
let finishing = false;
const GZIP_BOMB = zlib.gzipSync(Buffer.alloc(20 << 20)); // 20 MiB of zeros in ~20 KB

class Client {
  constructor(id, role, path, dashboards, format) {
    Object.assign(this, { id, role, path, dashboards, format });
    this.subs = new Map(); // dashboard -> {epoch, last, since, n (newest probe), replay (left), seen}
    for (const d of dashboards) this.subs.set(d, { epoch: null, last: 0, since: null, n: null, replay: 0, seen: false });
    this.ws = null;
    this.timer = null;
    this.expect = null; // garbage: {kind, codes (errors due, in order), close, allow, pong, timer}
    this.pausedNow = false;
    this.everPaused = false;
    this.jumps = [];
    this.lastAnswer = 0; // garbage: when its last hostile input got its answer (performance.now())
  }

  url() {
    let q = '';
    const d = this.dashboards[0];
    if (this.path === 'dash') {
      const s = this.subs.get(d);
      const params = [];
      if (this.format === 'msgpack') params.push('format=msgpack');
      if (s.since) params.push(`epoch=${s.since.epoch}`, `seq=${s.since.seq}`);
      q = params.length ? `?${params.join('&')}` : '';
      return `ws://127.0.0.1:${PORT}/dashboard/${encodeURIComponent(d)}${q}`;
    }
    return `ws://127.0.0.1:${PORT}/ws${this.format === 'msgpack' ? '?format=msgpack' : ''}`;
  }

  /** Opens the socket; resolves once every subscription had its first message. */
  connect() {
    const protos = this.format === 'json' ? ['dashfeed.v1.json'] : this.format === 'msgpackp' ? ['dashfeed.v1.msgpack'] : [];
    const ws = new WebSocket(this.url(), protos, { perMessageDeflate: false, handshakeTimeout: 20000 });
    this.ws = ws;
    this.opened = new Promise((resolve, reject) => { this.onReady = resolve; this.onFail = reject; });
    ws.on('open', () => {
      if (this.path !== 'ws') return;
      for (const [d, s] of this.subs) {
        const m = { op: 'subscribe', dashboard: d };
        if (s.since) m.since = s.since;
        ws.send(JSON.stringify(m));
      }
    });
    ws.on('message', (data, isBinary) => this.onFrame(ws, data, isBinary));
    ws.on('error', (e) => { if (this.onFail) this.onFail(e); });
    ws.on('unexpected-response', (req, res) => { if (this.onFail) this.onFail(new Error(`HTTP ${res.statusCode}`)); req.destroy(); });
    ws.on('close', (code) => this.onClose(ws, code));
    return this.opened;
  }

  decode(data, isBinary) {
    let buf = data;
    if (isBinary && buf.length > 1 && buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
    if (this.format === 'msgpack' || this.format === 'msgpackp') return unpack(buf);
    return JSON.parse(buf.toString('utf8'));
  }

  onFrame(ws, data, isBinary) {
    if (ws !== this.ws) return;
    let m;
    try { m = this.decode(data, isBinary); } catch (e) { violate('undecodable_frame', { id: this.id, error: String(e.message) }); return; }
    const t = now();
    if (m.type === 'error' || m.type === 'pong') { this.onAnswer(m); return; }
    const s = this.subs.get(m.dashboard);
    if (!s) { violate('unknown_dashboard', { id: this.id, dashboard: m.dashboard }); return; }
    if (this.role === 'garbage') { // its updates are not what it tests
      if (m.type === 'snapshot') s.seen = true;
      this.ready();
      return;
    }
    if (m.type === 'snapshot') {
      if (s.since) {
        total.notRecovered += 1;
        violate('resume_not_recovered', { id: this.id, dashboard: m.dashboard, since: s.since, seq: m.seq, epoch: m.epoch });
      } else if (s.seen) violate('unexpected_snapshot', { id: this.id, dashboard: m.dashboard, seq: m.seq });
      Object.assign(s, { epoch: m.epoch, last: m.seq, since: null, seen: true, n: probeN(m.data) });
      if (this.role === 'recorder') recLog[m.dashboard].set(m.seq, probeN(m.data));
    } else if (m.type === 'recovered') {
      if (!s.since || m.recovered !== true || m.epoch !== s.epoch || m.seq !== s.last + m.missed) {
        violate('bad_recovered', { id: this.id, msg: m, since: s.since, last: s.last });
      }
      s.since = null;
      s.replay = m.missed;
      total.resumed += 1;
      tick.resumed += 1;
      total.replayed += m.missed;
    } else if (m.type === 'update') {
      this.onUpdate(s, m, t);
    } else violate('unknown_type', { id: this.id, type: m.type });
    this.ready();
  }

  onUpdate(s, m, t) {
    tick.deliveries += 1;
    total.deliveries += 1;
    if (!s.seen || s.since) { violate('update_before_snapshot', { id: this.id, dashboard: m.dashboard, seq: m.seq }); return; }
    if (m.epoch !== s.epoch) violate('epoch_changed', { id: this.id, dashboard: m.dashboard, from: s.epoch, to: m.epoch });
    const n = probeN(m.data);
    if (m.seq !== s.last + 1) {
      if (m.seq > s.last + 1 && this.role === 'slow' && this.everPaused) {
        total.jumps += 1;
        this.jumps.push({ dashboard: m.dashboard, from: s.last, to: m.seq, n });
      } else violate(m.seq > s.last ? 'gap' : 'repeat', { id: this.id, role: this.role, dashboard: m.dashboard, last: s.last, seq: m.seq });
    }
    s.last = m.seq;
    if (n !== null) s.n = n;
    if (this.role === 'recorder') {
      recLog[m.dashboard].set(m.seq, n);
      if (n === null && !windowZero) { // the other sources' traffic, for the prefill: the newest 16 updates
        const o = other[m.dashboard];
        o.push(m.data);
        o.seen += 1;
        if (o.length > 16) o.shift();
      }
    }
    const replay = s.replay > 0;
    if (replay) s.replay -= 1;
    if (n !== null && !replay && (this.role === 'normal' || this.role === 'recorder')) {
      const v = m.data.probe.value;
      tick.lat.push(t - v);
      windowLat.push(t - v);
    }
  }

  ready() {
    for (const s of this.subs.values()) if (!s.seen || s.since) return;
    if (this.onReady) { const r = this.onReady; this.onReady = null; this.onFail = null; r(this); }
  }

  onClose(ws, code) {
    if (ws !== this.ws) return;
    if (this.onFail) { this.onFail(new Error(`closed ${code} before ready`)); this.onFail = null; }
    this.ws = null;
    bump(total.closes, code);
    if (this.role === 'garbage' && this.expect && this.expect.close === code) {
      if (this.expect.codes.length) violate('missing_errors', { id: this.id, kind: this.expect.kind, left: this.expect.codes.length });
      this.answered();
      return;
    }
    if (this.quitting) return;
    violate('unexpected_close', { id: this.id, role: this.role, code });
    this.expect = null;
    for (const s of this.subs.values()) if (s.seen) s.since = { epoch: s.epoch, seq: s.last }; // resume to go on checking
    setTimeout(() => this.reconnect(), 500);
  }

  reconnect() {
    if (this.quitting) return;
    total.reconnects += 1;
    tick.reconnects += 1;
    this.connect().then(() => this.schedule(), (e) => {
      violate('reconnect_failed', { id: this.id, role: this.role, error: String(e.message) });
      setTimeout(() => this.reconnect(), 2000);
    });
  }

  /** The role's next step. */
  schedule() {
    clearTimeout(this.timer);
    if (finishing || this.quitting) return;
    if (this.role === 'slow') this.timer = setTimeout(() => this.pause(), this.everPaused ? between(5000, 15000) : between(1000, 5000));
    else if (this.role === 'resume') this.timer = setTimeout(() => this.drop(), between(3000, 8000));
    else if (this.role === 'garbage') this.timer = setTimeout(() => this.hostile(), between(1000, 3000));
  }

  pause() {
    if (!this.ws || finishing) return;
    this.ws.pause();
    this.pausedNow = true;
    this.everPaused = true;
    const pauseMs = PAUSE_S * between(800, 1000);
    const until = performance.now() + pauseMs;
    const keepalive = () => {
      if (!this.pausedNow || !this.ws) return;
      if (performance.now() >= until || finishing) { this.unpause(); this.schedule(); return; }
      this.ws.send('{"op":"ping"}');
      this.timer = setTimeout(keepalive, Math.min(10000, until - performance.now()));
    };
    this.timer = setTimeout(keepalive, Math.min(10000, pauseMs));
  }

  unpause() {
    if (this.pausedNow && this.ws) this.ws.resume();
    this.pausedNow = false;
  }

  drop() {
    if (!this.ws || finishing) return;
    for (const s of this.subs.values()) s.since = { epoch: s.epoch, seq: s.last };
    const ws = this.ws;
    this.ws = null; // its late frames are ignored: the resume point is what was applied
    if (rand() < 0.5) ws.close(1000); else ws.terminate();
    this.timer = setTimeout(() => this.reconnect(), between(200, 2000));
  }

  // ---- garbage ----
  onAnswer(m) {
    const e = this.expect;
    if (m.type === 'pong') {
      if (e && e.pong !== undefined && m.id === e.pong && e.codes.length === 0) this.answered();
      return;
    }
    if (e && e.codes.length && e.codes[0] === m.code) { e.codes.shift(); return; }
    if (e && e.allow && e.allow.includes(m.code)) return;
    violate('unexpected_error', { id: this.id, role: this.role, code: m.code, message: m.message, expected: e && e.kind });
  }

  answered() {
    const e = this.expect;
    if (!e) return;
    clearTimeout(e.timer);
    this.expect = null;
    this.tally(e.kind);
    if (e.close !== undefined) setTimeout(() => this.reconnect(), 300);
    else this.schedule();
  }

  tally(kind) {
    bump(total.garbage, kind);
    tick.garbageOk += 1;
    this.lastAnswer = performance.now();
  }

  hostile() {
    if (!this.ws || finishing) return;
    const ws = this.ws;
    const id = Math.floor(rand() * 1e9);
    const acts = [
      ['bad_json', () => ws.send('{"op":'), ['decode_error']],
      ['not_a_map', () => ws.send('[1,2,3]'), ['decode_error']],
      ['unknown_op', () => ws.send('{"op":"dance"}'), ['unknown_op']],
      ['wrong_type', () => ws.send('{"op":"subscribe","dashboard":5}'), ['invalid_input']],
      ['bad_since', () => ws.send('{"op":"subscribe","dashboard":"host","since":{"epoch":7}}'), ['invalid_input']],
      ['not_subscribed', () => ws.send('{"op":"unsubscribe","dashboard":"nope"}'), ['not_subscribed']],
      ['msgpack_junk', () => ws.send(Buffer.from([0xc1, 0xff, 0x00, 0x13])), ['decode_error']],
      ['gzip_bomb', () => ws.send(GZIP_BOMB), ['decode_error']],
      ['oversized', () => ws.send(crypto.randomBytes(52500).toString('base64')), [], 1009],
      ['bad_utf8', () => ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }), [], 1007],
      ['invalid_flood', () => { for (let i = 0; i < 33; i += 1) ws.send('nope'); }, Array(32).fill('decode_error'), 1008],
      ['rate_flood', () => { for (let i = 0; i < 140; i += 1) ws.send('{"op":"ping"}'); }, [], 4029, ['rate_limited']],
      ['bad_handshake', null],
      ['bad_ingest', null],
    ];
    const [kind, send, codes, close, allow] = acts[Math.floor(rand() * acts.length)];
    if (kind === 'bad_handshake') { this.badHandshake(); return; }
    if (kind === 'bad_ingest') { this.badIngest(); return; }
    this.expect = { kind, codes: [...codes], close, allow, pong: close === undefined ? id : undefined };
    this.expect.timer = setTimeout(() => {
      if (this.expect && this.expect.kind === kind) {
        violate('no_answer', { id: this.id, kind, left: this.expect.codes, close: this.expect.close });
        this.expect = null;
        if (this.ws) this.ws.terminate(); // its close reconnects it
      }
    }, 10000);
    send();
    if (close === undefined) ws.send(JSON.stringify({ op: 'ping', id }));
  }

  badHandshake() {
    const cases = [[`/dashboard/${'x'.repeat(300)}`, []], ['/ws', ['bogus.v9']], ['/ws?format=yaml', []], ['/ws?compress=br', []]];
    const [path, protos] = cases[Math.floor(rand() * cases.length)];
    const ws = new WebSocket(`ws://127.0.0.1:${PORT}${path}`, protos, { perMessageDeflate: false, handshakeTimeout: 10000 });
    let done = false;
    const finish = (status) => { // once: the refusal's status, or what happened instead
      if (done) return;
      done = true;
      if (status === 400) this.tally('bad_handshake'); else violate('bad_handshake_answer', { path, status });
      this.schedule();
    };
    ws.on('unexpected-response', (req, res) => { res.resume(); req.destroy(); finish(res.statusCode); });
    ws.on('open', () => { ws.terminate(); finish('upgraded'); });
    ws.on('error', (e) => finish(String(e.message)));
    ws.on('close', () => finish('closed'));
  }

  async badIngest() {
    const cases = [['{"dashboard":', 'decode_error'], ['{"dashboard":5,"metric":"x","value":1}', 'invalid_input'],
      ['[{"dashboard":"host","metric":"x","value":"abc"}]', 'invalid_input'], ['\u0000\u00ff', 'decode_error']];
    const [body, code] = cases[Math.floor(rand() * cases.length)];
    const res = await post('/api/events', body, true);
    let got = null;
    try { got = JSON.parse(res.text).code; } catch (e) { /* reported below */ }
    if (res.status === 400 && got === code) this.tally('bad_ingest');
    else violate('bad_ingest_answer', { body, status: res.status, text: res.text.slice(0, 200) });
    this.schedule();
  }
}

function probeN(data) {
  const p = data && data.probe;
  return p && p.metadata && typeof p.metadata.n === 'number' ? p.metadata.n : null;
}

function build() {
  const slow = Math.round(N * SHARE.slow);
  const resume = Math.round(N * SHARE.resume);
  const garbage = Math.round(N * SHARE.garbage);
  for (const d of [...MAIN, BULK]) {
    recLog[d] = new Map();
    other[d] = Object.assign([], { seen: 0 });
    recorders[d] = new Client(`rec-${d}`, 'recorder', 'dash', [d], 'plain');
  }
  // One normal client per wire format the others use, connected before the prefill (see prefill()).
  primers.push(new Client('primer-msgpack', 'normal', 'ws', MAIN, 'msgpack'),
    new Client('primer-json-gzip', 'normal', 'ws', [...MAIN, BULK], 'json'),
    new Client('primer-msgpack-gzip', 'normal', 'ws', MAIN, 'msgpackp'));
  for (let i = 0; i < N; i += 1) {
    const d = MAIN[i % MAIN.length];
    let c;
    if (i < slow) c = new Client(i, 'slow', 'ws', [d, BULK], i % 2 ? 'json' : 'plain');
    else if (i < slow + resume) {
      c = i % 2 ? new Client(i, 'resume', 'dash', [d], i % 4 === 1 ? 'msgpack' : 'plain')
        : new Client(i, 'resume', 'ws', MAIN, 'json');
    } else if (i < slow + resume + garbage) c = new Client(i, 'garbage', 'dash', ['host'], 'plain');
    else {
      const k = i % 5; // 2/5 plain on /dashboard, 1/5 msgpack there, 1/5 /ws json (gzip), 1/5 /ws msgpack (gzip)
      c = k < 2 ? new Client(i, 'normal', 'dash', [d], 'plain') : k === 2 ? new Client(i, 'normal', 'dash', [d], 'msgpack')
        : new Client(i, 'normal', 'ws', MAIN, k === 3 ? 'json' : 'msgpackp');
    }
    clients.push(c);
  }
}

/** Waits until every subscription of `cs` reached the server's current seq (at most `ms`). */
async function caughtUp(cs, ms) {
  const target = {};
  for (const d of [...MAIN, BULK]) target[d] = await feed.seqOf(d);
  const deadline = Date.now() + ms;
  const behind = () => cs.filter((c) => c.role !== 'garbage'
    && [...c.subs].some(([d, s]) => !s.seen || s.since || s.replay > 0 || s.last < target[d]));
  while (behind().length && Date.now() < deadline) await sleep(100);
  return { target, behind: behind() };
}

async function connectAll() {
  const t0 = Date.now();
  const first = [...Object.values(recorders), ...primers];
  await Promise.all(first.map((c) => c.connect()));
  const fill = await feed.prefill(other, (ms) => caughtUp(first, ms));
  const t1 = Date.now();
  for (let i = 0; i < clients.length; i += 50) await Promise.all(clients.slice(i, i + 50).map((c) => c.connect()));
  out({ ready: first.length + clients.length, clients: N, connect_ms: Date.now() - t1, prefill: fill, roles: countRoles() });
}

function countRoles() {
  const r = {};
  for (const c of clients) bump(r, c.role);
  return r;
}

function onTick() {
  const lat = Float64Array.from(tick.lat).sort();
  const row = {
    deliveries: tick.deliveries, lat_n: lat.length, lat_p50: pct(lat, 0.5), lat_p99: pct(lat, 0.99), lat_max: pct(lat, 1),
    reconnects: tick.reconnects, resumed: tick.resumed, garbage_ok: tick.garbageOk, loop_lag_ms: tick.lagMax,
    open: clients.filter((c) => c.ws && c.ws.readyState === 1).length, paused: clients.filter((c) => c.pausedNow).length,
    violations: violationCount, published: pub.events,
  };
  Object.assign(tick, { deliveries: 0, lat: [], reconnects: 0, resumed: 0, garbageOk: 0, lagMax: 0 });
  out(row);
}

function closeWindow() {
  const lat = Float64Array.from(windowLat).sort();
  const t = performance.now();
  windows.push({ index: windowIndex, seconds: (t - windowStart) / 1000, n: lat.length, p50: pct(lat, 0.5), p99: pct(lat, 0.99) });
  windowIndex += 1;
  windowStart = t;
  windowLat = [];
}

async function finish() {
  finishing = true;
  closeWindow();
  await feed.stop();
  for (const c of clients) {
    clearTimeout(c.timer);
    c.unpause();
    if (c.role === 'resume' && !c.ws && !c.quitting) c.reconnect();
  }
  const { target, behind } = await caughtUp([...Object.values(recorders), ...primers, ...clients], 30000);
  for (const c of behind) violate('behind_at_end', { id: c.id, role: c.role, subs: [...c.subs].map(([d, s]) => [d, s.last, target[d]]) });
  const garbageWait = Date.now() + 11000;
  while (clients.some((c) => c.expect) && Date.now() < garbageWait) await sleep(100);
  const t = performance.now();
  for (const c of clients) { // a garbage client that stopped getting answers stopped testing
    if (c.role === 'garbage' && t - Math.max(c.lastAnswer, windowZero) > 20000) {
      violate('garbage_stalled', { id: c.id, idle_s: (t - c.lastAnswer) / 1000 });
    }
  }
  check(target);
}

function check(target) {
  let verified = 0;
  for (const d of [...MAIN, BULK]) {
    const seen = [...recLog[d].values()].filter((n) => n !== null);
    const want = log[d];
    const first = seen.findIndex((n, i) => n !== want[i]);
    if (seen.length !== want.length || first >= 0) {
      violate('log_mismatch', { dashboard: d, recorded: seen.length, published: want.length, first_difference: first });
    }
    const lastN = want.length ? want[want.length - 1] : null;
    for (const c of [...clients, ...primers, recorders[d]]) {
      const s = c.subs.get(d);
      if (!s || c.role === 'garbage' || !s.seen) continue;
      if (s.n !== lastN) violate('stale_state', { id: c.id, role: c.role, dashboard: d, n: s.n, newest: lastN });
    }
  }
  for (const c of clients) {
    for (const j of c.jumps) {
      const rec = recLog[j.dashboard];
      let newest = null;
      for (let q = j.from + 1; q <= j.to; q += 1) {
        if (!rec.has(q)) { violate('recorder_lacks_seq', { dashboard: j.dashboard, seq: q }); break; }
        if (rec.get(q) !== null) newest = rec.get(q);
      }
      if (newest !== null && j.n !== newest) violate('bad_conflation', { id: c.id, ...j, newest });
      else verified += 1;
    }
  }
  out({ report: {
    clients: N, roles: countRoles(), target, publisher: { posts: pub.posts, events: pub.events, failed: pub.failed, late: pub.late },
    log_lengths: Object.fromEntries(Object.entries(log).map(([d, l]) => [d, l.length])),
    deliveries: total.deliveries, reconnects: total.reconnects, resumed: total.resumed, replayed: total.replayed,
    not_recovered: total.notRecovered, conflated_jumps: total.jumps, conflated_jumps_verified: verified,
    garbage_answered: total.garbage, closes: total.closes, windows, violations: violationCount, first_violations: violations,
  } });
}

function quit() {
  for (const c of [...clients, ...primers, ...Object.values(recorders)]) {
    c.quitting = true;
    clearTimeout(c.timer);
    if (c.ws) c.ws.terminate();
  }
  feed.close();
  setTimeout(() => process.exit(0), 300);
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let m;
  try { m = JSON.parse(line); } catch (e) { return; }
  if (m.op === 'start') {
    windowStart = performance.now();
    windowZero = windowStart;
    feed.start();
    for (const c of clients) c.schedule();
    setInterval(() => { if (!finishing) closeWindow(); }, WINDOW_S * 1000).unref();
  } else if (m.op === 'tick') onTick();
  else if (m.op === 'finish') finish().catch((e) => out({ error: String(e.stack || e) }));
  else if (m.op === 'quit') quit();
}).on('close', quit);

build();
connectAll().catch((e) => { out({ error: String(e.message || e) }); quit(); });
