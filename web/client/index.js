// dashfeed/client — the browser client of a dashfeed server (docs/protocol.md).
//
// Owns: one WebSocket to `/ws`, the subscribed dashboards and their merged state with the last applied
// (epoch, seq); reconnection with exponential backoff and full jitter; resume with `since` (recovered
// replays, fresh snapshots, seq gaps → resync); JWT refresh before `exp`; an application heartbeat; and
// delivery of updates to the app at most once per animation frame per dashboard (latest value per series).
// Plain ES module without imports: works from `<script type="module">` and from bundlers. MessagePack
// decoding is the app's (`options.decode`, e.g. msgpackr's `unpack`); gzip frames inflate with
// `DecompressionStream`.

/** Close codes of the dashfeed protocol. */
export const CloseCode = Object.freeze({
  NORMAL: 1000, GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, INVALID_PAYLOAD: 1007, POLICY: 1008,
  TOO_BIG: 1009, INTERNAL: 1011, HEARTBEAT_TIMEOUT: 4000, UNAUTHORIZED: 4001, FORBIDDEN: 4003,
  SLOW_CONSUMER: 4008, RATE_LIMITED: 4029, TOKEN_EXPIRED: 4401, IDLE_TIMEOUT: 4408,
});

/** Closes after which reconnecting cannot help: the same request would be refused again. */
const FATAL = new Set([1002, 1003, 1007, 1008, 1009, 4003]);
const SUBPROTOCOL = { json: 'dashfeed.v1.json', msgpack: 'dashfeed.v1.msgpack' };
const TOKEN_PROTOCOL = 'dashfeed.token.';
const OPEN = 1;
const utf8 = new TextDecoder();

/** The JWT's `exp` in ms since the Unix epoch, or undefined (no token, not a JWT, no numeric exp). */
export function jwtExpiry(token) {
  const part = typeof token === 'string' ? token.split('.')[1] : undefined;
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const exp = JSON.parse(utf8.decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Backoff with full jitter: `random() * min(cap, base * 2^attempt)` ms (attempt counts from 0). */
export function backoffDelay(attempt, { base = 500, cap = 30000 } = {}, random = Math.random) {
  return random() * Math.min(cap, base * 2 ** attempt);
}

/** Whether `bytes` start with the gzip magic (1f 8b). */
export function isGzip(bytes) {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Inflates gzip `bytes` with `DecompressionStream`; rejects (code `too_large`) past `maxBytes`. */
export async function inflateGzip(bytes, maxBytes = Infinity) {
  const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw Object.assign(new Error(`decompressed message over ${maxBytes} bytes`), { code: 'too_large' });
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A prototype-less copy of `obj` (series names such as `__proto__` stay plain keys). */
function copyOf(obj) {
  return Object.assign(Object.create(null), obj);
}

function defaultFrame() {
  if (typeof globalThis.requestAnimationFrame === 'function') {
    return (cb) => globalThis.requestAnimationFrame(() => cb());
  }
  return (cb) => setTimeout(cb, 16);
}

/** The WebSocket URL: relative URLs resolve against the page, http(s) becomes ws(s); `batch=1` asks for
 * batch frames (docs/protocol.md, "Batch frames") unless the URL already says. */
function socketUrl(url, token, batch) {
  const u = new URL(url, globalThis.location?.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (token !== undefined) u.searchParams.set('token', token);
  if (batch && !u.searchParams.has('batch')) u.searchParams.set('batch', '1');
  return u.href;
}

/** Opens a client and starts connecting (in a microtask, so listeners added right away see it all). */
export function connect(url, options = {}) {
  return new DashfeedClient(url, options);
}

/** A connection to a dashfeed server that survives disconnects; see `connect`. */
export class DashfeedClient {
  #url;
  #o; // options with defaults
  #WS;
  #listeners = new Map(); // event → Set of callbacks
  #dash = new Map(); // dashboard id → {name, epoch, seq, state, phase, resyncAt, frame, changes}
  #dirty = new Set(); // dashboards with an event for the next frame
  #frameRequested = false;
  #status = 'connecting';
  #conn = null; // {ws, opened} of the current socket, also while fetching its token
  #closed = false; // close() was called
  #attempt = 0; // reconnect attempts since the last stable connection
  #timers = {}; // retry, stable, heartbeat, refresh, resubscribe, stats
  #token;
  #tokenStale = false; // the token failed or may have: fetch one before the next connect
  #lastRx = 0; // now() of the last frame received
  #pingId = 0;
  #inflight = 0; // binary frames behind a gzip frame, kept in order on #chain
  #chain = Promise.resolve();
  #count = { msgs: 0, bytes: 0, total: 0, since: 0 };
  #rate = 0;
  #onOnline = () => this.#timers.retry !== undefined && this.reconnect();

  constructor(url, options = {}) {
    const o = { ...options };
    o.format = o.format ?? 'json';
    if (!(o.format in SUBPROTOCOL)) throw new TypeError(`unknown format ${JSON.stringify(o.format)}`);
    if (o.format === 'msgpack' && typeof o.decode !== 'function') {
      throw new TypeError('format "msgpack" needs options.decode (for example msgpackr\'s unpack)');
    }
    this.#WS = o.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WS !== 'function') throw new TypeError('no WebSocket: pass options.WebSocket');
    const b = o.backoff ?? {};
    o.backoff = { base: b.base ?? 500, cap: b.cap ?? 30000, maxAttempts: b.maxAttempts ?? Infinity,
      stableAfter: b.stableAfter ?? 5000 };
    o.heartbeat = { interval: o.heartbeat?.interval ?? 15000, timeout: o.heartbeat?.timeout ?? 10000 };
    o.scheduleFrame = o.scheduleFrame ?? defaultFrame();
    o.random = o.random ?? Math.random;
    o.now = o.now ?? (() => Date.now());
    o.inflate = o.inflate ?? inflateGzip;
    o.tokenIn = o.tokenIn ?? 'protocol';
    o.batch = o.batch ?? true;
    o.refreshBefore = o.refreshBefore ?? 30000;
    o.gaps = o.gaps ?? 'resync';
    o.resyncCooldown = o.resyncCooldown ?? 5000;
    o.rateLimitedDelay = o.rateLimitedDelay ?? 5000;
    o.maxMessageBytes = o.maxMessageBytes ?? 16 << 20;
    this.#url = url;
    this.#o = o;
    this.#token = o.token;
    for (const d of o.dashboards ?? []) this.subscribe(d);
    this.#count.since = o.now();
    this.#timers.stats = setInterval(() => this.#tickStats(), 1000);
    this.#timers.stats?.unref?.();
    globalThis.addEventListener?.('online', this.#onOnline);
    queueMicrotask(() => this.#open());
  }

  /** 'connecting' | 'live' | 'reconnecting' | 'offline'. */
  get status() { return this.#status; }

  /** Messages received per second over the last second. */
  get messagesPerSecond() { return this.#rate; }

  /** The subscribed dashboard ids. */
  get dashboards() { return [...this.#dash.keys()]; }

  /** Adds `cb` for `event`; returns a function that removes it. */
  on(event, cb) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(cb);
    return () => this.off(event, cb);
  }

  /** Removes `cb` from `event`. */
  off(event, cb) { this.#listeners.get(event)?.delete(cb); }

  /** Follows `dashboard` (now if connected, else on connect). Does nothing if already followed. */
  subscribe(dashboard) {
    if (typeof dashboard !== 'string' || dashboard === '') {
      throw new TypeError('dashboard must be a non-empty string');
    }
    if (this.#dash.has(dashboard)) return;
    const d = { name: dashboard, epoch: undefined, seq: 0, state: Object.create(null), phase: 'pending',
      resyncAt: -Infinity, frame: null, changes: null };
    this.#dash.set(dashboard, d);
    if (this.#conn?.opened) this.#sendSubscribe(d);
  }

  /** Stops following `dashboard` and forgets its state. */
  unsubscribe(dashboard) {
    if (!this.#dash.delete(dashboard)) return;
    if (this.#conn?.opened) this.#send({ op: 'unsubscribe', dashboard });
  }

  /** The current merged data of `dashboard` (a prototype-less copy), or undefined if not followed. */
  state(dashboard) {
    const d = this.#dash.get(dashboard);
    return d && copyOf(d.state);
  }

  /** The last applied `{epoch, seq}` of `dashboard` (undefined before its first snapshot). */
  position(dashboard) {
    const d = this.#dash.get(dashboard);
    return d?.epoch === undefined ? undefined : { epoch: d.epoch, seq: d.seq };
  }

  /** Connects now: skips a pending backoff wait, or reopens a closed or offline client. */
  reconnect() {
    if (this.#conn) return;
    if (this.#status === 'offline') this.#attempt = 0;
    if (this.#closed) {
      this.#closed = false;
      this.#timers.stats = setInterval(() => this.#tickStats(), 1000);
      globalThis.addEventListener?.('online', this.#onOnline);
    }
    clearTimeout(this.#timers.retry);
    delete this.#timers.retry;
    this.#open();
  }

  /** Closes the connection for good (code 1000); status becomes 'offline'. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    const conn = this.#conn;
    this.#conn = null;
    if (conn) this.#detach(conn, 1000, 'client closed');
    for (const t of Object.values(this.#timers)) { clearTimeout(t); clearInterval(t); }
    this.#timers = {};
    globalThis.removeEventListener?.('online', this.#onOnline);
    this.#setStatus('offline', {});
  }

  #emit(event, payload) {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const cb of [...set]) {
      try {
        cb(payload);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }

  #setStatus(status, detail, force = false) {
    const changed = status !== this.#status;
    this.#status = status;
    if (changed || force) this.#emit('status', { status, attempt: this.#attempt, ...detail });
  }

  #needsToken() {
    if (!this.#o.getToken) return false;
    if (this.#token === undefined || this.#tokenStale) return true;
    const exp = jwtExpiry(this.#token);
    return exp !== undefined && exp - this.#o.now() <= this.#o.refreshBefore;
  }

  async #open() {
    if (this.#closed || this.#conn) return;
    const conn = { ws: null, opened: false };
    this.#conn = conn;
    if (this.#status !== 'reconnecting') this.#setStatus('connecting', {}, true);
    if (this.#needsToken()) {
      let token;
      try {
        token = await this.#o.getToken();
      } catch (e) {
        if (conn !== this.#conn) return;
        this.#conn = null;
        this.#emit('error', { code: 'token_error', message: `getToken failed: ${e?.message ?? e}` });
        return this.#retry({});
      }
      if (conn !== this.#conn) return;
      this.#token = token;
      this.#tokenStale = false;
    }
    const { tokenIn, format } = this.#o;
    const protocols = [SUBPROTOCOL[format]];
    if (this.#token !== undefined && tokenIn === 'protocol') protocols.push(TOKEN_PROTOCOL + this.#token);
    try {
      conn.ws = new this.#WS(socketUrl(this.#url, tokenIn === 'query' ? this.#token : undefined, this.#o.batch), protocols);
    } catch (e) {
      this.#conn = null;
      this.#emit('error', { code: 'connect_error', message: String(e?.message ?? e) });
      return this.#retry({});
    }
    conn.ws.binaryType = 'arraybuffer';
    conn.ws.onopen = () => this.#onOpen(conn);
    conn.ws.onmessage = (ev) => this.#onFrame(conn, ev.data);
    conn.ws.onclose = (ev) => this.#onClose(conn, ev.code, ev.reason ?? '');
    conn.ws.onerror = () => {}; // a close event follows and decides
  }

  #onOpen(conn) {
    if (conn !== this.#conn) return;
    conn.opened = true;
    this.#lastRx = this.#o.now();
    this.#setStatus('live', {});
    this.#timers.stable = setTimeout(() => { this.#attempt = 0; }, this.#o.backoff.stableAfter);
    this.#armHeartbeat(conn);
    this.#scheduleRefresh();
    for (const d of this.#dash.values()) this.#sendSubscribe(d);
  }

  #onClose(conn, code, reason) {
    if (conn !== this.#conn) return;
    this.#conn = null;
    for (const k of ['stable', 'heartbeat', 'refresh', 'resubscribe']) clearTimeout(this.#timers[k]);
    if (this.#o.getToken && (!conn.opened || code === 4401 || code === 4001)) this.#tokenStale = true;
    const noToken = (code === 4401 || code === 4001) && !this.#o.getToken;
    if (FATAL.has(code) || noToken) {
      const message = `closed ${code} ${reason}`.trim();
      this.#emit('error', { code: 'connection_closed', closeCode: code, message });
      return this.#setStatus('offline', { closeCode: code, reason });
    }
    this.#retry({ closeCode: code, reason, minDelay: code === 4029 ? this.#o.rateLimitedDelay : 0 });
  }

  /** Detaches `conn`'s handlers and closes its socket (no close event reaches the client). */
  #detach(conn, code, reason) {
    const ws = conn.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(code, reason); } catch { /* already closing */ }
  }

  #retry({ closeCode, reason, minDelay = 0 }) {
    const { maxAttempts } = this.#o.backoff;
    if (this.#attempt >= maxAttempts) {
      const message = `gave up after ${this.#attempt} reconnect attempts`;
      this.#emit('error', { code: 'unreachable', message });
      return this.#setStatus('offline', { closeCode, reason });
    }
    const delay = Math.max(minDelay, backoffDelay(this.#attempt, this.#o.backoff, this.#o.random));
    this.#attempt += 1;
    this.#timers.retry = setTimeout(() => { delete this.#timers.retry; this.#open(); }, delay);
    this.#setStatus('reconnecting', { delay, retryAt: this.#o.now() + delay, closeCode, reason }, true);
  }

  #send(msg) {
    const ws = this.#conn?.opened ? this.#conn.ws : null;
    if (ws && ws.readyState === OPEN) ws.send(JSON.stringify(msg));
  }

  #sendSubscribe(d) {
    const msg = { op: 'subscribe', dashboard: d.name };
    if (d.epoch !== undefined) {
      msg.since = { epoch: d.epoch, seq: d.seq };
      d.resyncAt = this.#o.now();
    }
    d.phase = 'pending';
    this.#send(msg);
  }

  #armHeartbeat(conn) {
    const { interval, timeout } = this.#o.heartbeat;
    if (!interval) return;
    const wait = Math.max(0, this.#lastRx + interval - this.#o.now());
    this.#timers.heartbeat = setTimeout(() => {
      if (conn !== this.#conn) return;
      if (this.#o.now() - this.#lastRx < interval) return this.#armHeartbeat(conn);
      const sentAt = this.#o.now();
      this.#send({ op: 'ping', id: ++this.#pingId });
      this.#timers.heartbeat = setTimeout(() => {
        if (conn !== this.#conn) return;
        if (this.#lastRx >= sentAt) return this.#armHeartbeat(conn);
        this.#detach(conn, CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
        this.#onClose(conn, CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
      }, timeout);
    }, wait);
  }

  #scheduleRefresh() {
    clearTimeout(this.#timers.refresh);
    const exp = jwtExpiry(this.#token);
    if (!this.#o.getToken || !this.#conn?.opened || exp === undefined) return;
    const ttl = exp - this.#o.now();
    if (ttl <= 0) return;
    const lead = Math.min(this.#o.refreshBefore, ttl / 2);
    this.#timers.refresh = setTimeout(() => this.#refresh(), Math.max(1000, ttl - lead));
  }

  async #refresh() {
    const conn = this.#conn;
    let token;
    try {
      token = await this.#o.getToken();
    } catch (e) {
      this.#emit('error', { code: 'token_error', message: `getToken failed: ${e?.message ?? e}` });
      const left = (jwtExpiry(this.#token) ?? 0) - this.#o.now();
      if (conn === this.#conn && left > 2000) {
        this.#timers.refresh = setTimeout(() => this.#refresh(), Math.min(5000, left / 2));
      }
      return;
    }
    if (this.#closed) return;
    this.#token = token;
    this.#tokenStale = false;
    if (conn && conn === this.#conn) {
      this.#send({ op: 'refresh', token });
      this.#scheduleRefresh();
    }
  }

  #tickStats() {
    const now = this.#o.now();
    const secs = Math.max(1e-3, (now - this.#count.since) / 1000);
    this.#rate = this.#count.msgs / secs;
    this.#emit('stats', { messagesPerSecond: this.#rate, bytesPerSecond: this.#count.bytes / secs,
      messages: this.#count.total });
    Object.assign(this.#count, { msgs: 0, bytes: 0, since: now });
  }

  #onFrame(conn, data) {
    if (conn !== this.#conn) return;
    this.#lastRx = this.#o.now();
    let bytes = null;
    if (typeof data !== 'string') {
      bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
        : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
      if (!bytes) return this.#emit('error', { code: 'decode_error', message: 'unsupported frame data' });
    }
    this.#count.msgs += 1;
    this.#count.total += 1;
    this.#count.bytes += bytes ? bytes.byteLength : data.length;
    const gz = bytes !== null && isGzip(bytes);
    if (!gz && this.#inflight === 0) return this.#decode(bytes ?? data);
    // Keep arrival order behind an inflating frame; inflation itself starts now.
    this.#inflight += 1;
    const { inflate, maxMessageBytes } = this.#o;
    const ready = gz ? Promise.resolve().then(() => inflate(bytes, maxMessageBytes)) : (bytes ?? data);
    this.#chain = this.#chain.then(() => ready).then(
      (b) => conn === this.#conn && this.#decode(b),
      (e) => this.#emit('error', { code: e?.code ?? 'decode_error', message: `gzip: ${e?.message ?? e}` }),
    ).finally(() => { this.#inflight -= 1; });
  }

  /** Decodes one message (a text frame's string, or a binary frame's bytes) and applies it. */
  #decode(payload) {
    let msg;
    try {
      if (typeof payload === 'string') msg = JSON.parse(payload);
      else if (this.#o.format === 'json') msg = JSON.parse(utf8.decode(payload));
      else msg = this.#o.decode(payload);
    } catch (e) {
      return this.#emit('error', { code: 'decode_error', message: String(e?.message ?? e) });
    }
    if (msg === null || typeof msg !== 'object') return;
    if (msg.type === 'batch' && Array.isArray(msg.messages)) {
      // One frame, several messages (?batch=1): count and apply each in order. The frame was counted as
      // one message already, so an empty batch (never sent by the server) nets zero.
      this.#count.msgs += msg.messages.length - 1;
      this.#count.total += msg.messages.length - 1;
      for (const m of msg.messages) this.#apply(m);
      return;
    }
    this.#apply(msg);
  }

  /** Applies one server message. */
  #apply(msg) {
    if (msg === null || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'snapshot': return this.#onSnapshot(msg);
      case 'update': return this.#onUpdate(msg);
      case 'recovered': return this.#onRecovered(msg);
      case 'error': return this.#onServerError(msg);
      default: // pong (the heartbeat only needs its arrival) and future types
    }
  }

  #onSnapshot(m) {
    const d = this.#dash.get(m.dashboard);
    if (!d) return;
    d.state = copyOf(m.data ?? {});
    d.epoch = m.epoch;
    d.seq = m.seq;
    d.phase = 'live';
    d.frame = { kind: 'snapshot', recovered: m.recovered };
    d.changes = null;
    this.#queueFrame(d);
  }

  #onRecovered(m) {
    const d = this.#dash.get(m.dashboard);
    if (!d) return;
    d.phase = 'live';
    d.epoch = m.epoch;
    // d.seq stays the resume point: the missed updates that follow advance it.
    const missed = m.missed ?? 0;
    this.#emit('resume', { dashboard: d.name, epoch: m.epoch, from: d.seq, seq: m.seq, missed });
  }

  #onUpdate(m) {
    const d = this.#dash.get(m.dashboard);
    if (!d || d.phase !== 'live') return; // a replaced subscription's leftovers: the resync covers them
    if (m.epoch !== d.epoch) return this.#resync(d);
    if (m.seq <= d.seq) return;
    if (m.seq > d.seq + 1) {
      const resync = this.#o.gaps === 'resync' && this.#o.now() - d.resyncAt >= this.#o.resyncCooldown;
      this.#emit('gap', { dashboard: d.name, from: d.seq, to: m.seq, resync });
      if (resync) return this.#resync(d);
    }
    const data = m.data ?? {};
    if (!d.frame) {
      d.frame = { kind: 'update' };
      d.changes = Object.create(null);
    }
    const changes = d.changes;
    for (const k in data) {
      d.state[k] = data[k];
      if (changes) changes[k] = data[k];
    }
    d.seq = m.seq;
    this.#queueFrame(d);
  }

  #resync(d) {
    this.#sendSubscribe(d);
  }

  #onServerError(m) {
    const { type: _type, ...err } = m;
    const d = typeof m.dashboard === 'string' ? this.#dash.get(m.dashboard) : undefined;
    if (d && (m.code === 'forbidden' || m.code === 'too_many_subscriptions')) this.#dash.delete(d.name);
    if (d && m.code === 'closed') d.phase = 'ended';
    if (m.code === 'rate_limited' && this.#timers.resubscribe === undefined) {
      // A dropped subscribe leaves its dashboard waiting: ask again once the limiter allows it.
      this.#timers.resubscribe = setTimeout(() => {
        delete this.#timers.resubscribe;
        for (const x of this.#dash.values()) if (x.phase === 'pending') this.#sendSubscribe(x);
      }, Math.max(0, Number(m.retry_after_ms) || 1000));
    }
    this.#emit('error', err);
  }

  #queueFrame(d) {
    this.#dirty.add(d);
    if (this.#frameRequested) return;
    this.#frameRequested = true;
    this.#o.scheduleFrame(() => this.#flush());
  }

  #flush() {
    this.#frameRequested = false;
    const batch = this.#dirty;
    this.#dirty = new Set();
    for (const d of batch) {
      const { frame, changes } = d;
      d.frame = d.changes = null;
      if (!frame || this.#dash.get(d.name) !== d) continue;
      if (frame.kind === 'snapshot') {
        this.#emit('snapshot', { dashboard: d.name, epoch: d.epoch, seq: d.seq, recovered: frame.recovered,
          data: copyOf(d.state) });
      } else {
        this.#emit('update', { dashboard: d.name, epoch: d.epoch, seq: d.seq, data: changes });
      }
    }
  }
}
