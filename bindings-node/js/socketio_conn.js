// One socket of dashfeed/socketio (socketio.js): its grant and expiry, its hub subscriptions, and how
// their messages reach the socket.
// - Bounded. A socket whose engine.io write buffer holds `highWaterMark` packets, or whose TCP socket
//   holds `highWaterBytes` unsent bytes, is not given more: its subscriptions' 'message' listeners are
//   removed (the native listener loop stops between two messages when listeners change), so new
//   publications wait in the core queue, where the policy applies (conflated into one update per metric,
//   dropped, or the socket disconnected), and are put back on the next 'drain'. What socket.io and the
//   TCP socket hold for a socket is those bounds plus one message per subscription.
// - Written together. Over WebSocket (the default parser, no permessage-deflate), the frames a socket
//   gets in one tick go out in one write: while engine.io has nothing queued for the socket, the
//   pre-built frames of the tick's messages are written to the WebSocket's TCP socket at the end of the
//   tick (in order: engine.io's buffer is empty, and what it wrote before is already in the socket);
//   otherwise they go through engine.io (`writeToEngine`), with the TCP socket corked for the rest of
//   the tick and around each engine.io flush. socket.io writes each emit on its own (one syscall per
//   frame); a hub batch of k messages costs one write here. Nothing is held past the tick.
'use strict';

/** A coded Error (`.code`, and `.data.code` for socket.io's `connect_error`). */
function codedError(code, message, dashboard) {
  const err = new Error(message);
  err.code = code;
  err.data = { code };
  if (dashboard !== undefined) err.dashboard = dashboard;
  return err;
}

const ROOM = 'dashboard-';

class Connection {
  /** Serves `socket` with the bridge's `shared` parts ({ hub, opts, auth, limiter, subOptions, stats, packetsOf, grantOf }). */
  constructor(socket, shared) {
    this.socket = socket;
    this.shared = shared;
    this.subs = new Map(); // dashboard -> { dashboard, sub, listener }
    this.paused = new Set(); // entries waiting for a 'drain'
    this.waiting = null; // the emitter whose 'drain' resumes them
    this.frames = null; // frames of this tick, written together at its end
    this.framesBytes = 0; // their length
    this.corked = null; // the TCP socket corked until `uncork` runs
    this.grant = null;
    this.expiry = null;
    this.ended = false;
    this.onDrain = () => this.resume();
    this.flushFrames = () => this.writeFrames();
    this.onFlush = () => this.cork();
    this.uncork = () => {
      const raw = this.corked;
      this.corked = null;
      if (raw) raw.uncork();
    };
    if (shared.auth) {
      try {
        this.setGrant(shared.grantOf(socket));
      } catch (e) {
        socket.emit('error', { code: e.code, message: e.message });
        socket.disconnect();
        this.ended = true;
        return;
      }
    }
    this.handlers = {
      subscribe: (dashboard, o, ack) => this.command(() => this.subscribe(dashboard, o), [o, ack]),
      unsubscribe: (dashboard, ack) => this.command(() => this.unsubscribe(dashboard), [ack]),
      refresh: (token, ack) => this.command(() => this.refresh(token), [ack]),
    };
    for (const [event, fn] of Object.entries(this.handlers)) socket.on(event, fn);
    socket.conn.on('flush', this.onFlush);
    socket.conn.on('drain', this.uncork);
    if (socket.recovered) {
      // connectionStateRecovery put the socket back in its rooms: serve them again, from a fresh snapshot
      for (const room of [...socket.rooms]) {
        if (typeof room !== 'string' || !room.startsWith(ROOM)) continue;
        socket.leave(room);
        this.command(() => this.subscribe(room.slice(ROOM.length)), []);
      }
    }
  }

  /** Runs a client command: answers its ack (or emits `error`) with a coded result. */
  command(fn, rest) {
    const ack = rest.find((a) => typeof a === 'function');
    try {
      if (this.ended) throw codedError('closed', 'the bridge no longer serves this socket');
      const { limiter } = this.shared;
      if (limiter) {
        const d = limiter.check(this.socket.id);
        if (!d.allowed) {
          const e = codedError('rate_limited', `rate limited; retry in ${Math.ceil(d.retryAfterMs)} ms`);
          e.retryAfterMs = d.retryAfterMs;
          throw e;
        }
      }
      fn();
      if (ack) ack({ ok: true });
    } catch (e) {
      const body = { code: e.code || 'internal', message: e.message };
      if (e.dashboard !== undefined) body.dashboard = e.dashboard;
      if (e.retryAfterMs !== undefined) body.retry_after_ms = Math.ceil(e.retryAfterMs);
      if (ack) ack({ ok: false, error: body });
      else this.socket.emit('error', body);
    }
  }

  setGrant(grant) {
    this.grant = grant;
    if (this.expiry) clearTimeout(this.expiry);
    // setTimeout keeps at most 2^31-1 ms; a longer token is re-armed when that timer fires
    this.expiry = setTimeout(() => {
      if (this.grant !== grant || this.ended) return;
      if (grant.remainingMs > 0) return this.setGrant(grant);
      this.socket.emit('error', { code: 'token_expired', message: 'the token expired' });
      this.socket.disconnect();
    }, Math.min(grant.remainingMs, 2 ** 31 - 1));
    this.expiry.unref();
  }

  subscribe(dashboard, o) {
    if (typeof dashboard !== 'string') throw codedError('invalid_input', 'subscribe: dashboard must be a string');
    if (this.grant && !this.grant.allows(dashboard)) {
      throw codedError('forbidden', 'the token does not open this dashboard', dashboard);
    }
    const replacing = this.subs.get(dashboard);
    if (!replacing && this.subs.size >= this.shared.opts.maxSubscriptions) {
      throw codedError('too_many_subscriptions', 'subscription limit reached', dashboard);
    }
    const since = o !== null && typeof o === 'object' && o.since != null ? o.since : null;
    const { hub, subOptions } = this.shared;
    const sub = hub.subscribe(dashboard, since ? { ...subOptions, since } : subOptions);
    if (replacing) this.drop(replacing);
    const entry = { dashboard, sub, listener: null };
    entry.listener = (msg) => this.deliver(entry, msg);
    sub.on('error', (e) => this.failed(entry, e));
    sub.on('close', () => this.closedByHub(entry));
    this.subs.set(dashboard, entry);
    this.socket.join(ROOM + dashboard);
    this.shared.stats.subscriptions += 1;
    const why = this.congested();
    if (why) this.pause(entry, why);
    else sub.on('message', entry.listener);
  }

  unsubscribe(dashboard) {
    const entry = this.subs.get(dashboard);
    if (!entry) throw codedError('not_subscribed', 'not subscribed to this dashboard', dashboard);
    this.drop(entry);
  }

  /** The server's `refresh` rules: a bad token or another subject ends the connection (4001 there). */
  refresh(token) {
    const { auth } = this.shared;
    if (!auth) return;
    if (typeof token !== 'string') throw codedError('invalid_input', 'refresh: token must be a string');
    let grant;
    try {
      grant = auth.verify(token);
    } catch (e) {
      this.unauthorized('invalid token');
      throw codedError('unauthorized', 'invalid token');
    }
    const old = this.grant && this.grant.subject;
    if (old !== null && old !== undefined && old !== grant.subject) {
      this.unauthorized('token subject changed');
      throw codedError('unauthorized', 'token subject changed');
    }
    this.setGrant(grant);
    for (const entry of [...this.subs.values()]) {
      if (grant.allows(entry.dashboard)) continue;
      this.drop(entry);
      this.socket.emit('error', { code: 'forbidden', message: 'the new token does not open this dashboard', dashboard: entry.dashboard });
    }
  }

  /** Ends the socket after the command's answer went out. */
  unauthorized(why) {
    setImmediate(() => {
      if (this.ended) return;
      this.socket.emit('error', { code: 'unauthorized', message: why });
      this.socket.disconnect();
    });
  }

  /** The WebSocket while open, else null. */
  webSocket() {
    const t = this.socket.conn.transport;
    const ws = t && t.name === 'websocket' ? t.socket : null;
    return ws && ws.readyState === 1 ? ws : null;
  }

  /** The WebSocket's TCP socket while the WebSocket is open, else null. */
  rawSocket() {
    const ws = this.webSocket();
    const raw = ws ? ws._socket : null;
    return raw && !raw.destroyed && typeof raw.cork === 'function' ? raw : null;
  }

  /** Corks the TCP socket until the end of this tick (or the end of an engine.io flush). */
  cork() {
    if (this.corked) return;
    const raw = this.rawSocket();
    if (!raw) return;
    raw.cork();
    this.corked = raw;
    process.nextTick(this.uncork);
  }

  /** Writes the frames gathered in this tick in one write. */
  writeFrames() {
    const frames = this.frames;
    this.frames = null;
    this.framesBytes = 0;
    const raw = this.rawSocket();
    if (!raw || !frames || frames.length === 0) return;
    raw.cork();
    for (let i = 0; i < frames.length; i += 1) raw.write(frames[i]);
    raw.uncork();
    this.shared.stats.writes += 1;
  }

  /** Writes one message's packets; stops taking messages when a buffer is full. */
  deliver(entry, msg) {
    if (this.subs.get(entry.dashboard) !== entry || this.ended) return; // replaced or dropped meanwhile
    const socket = this.socket;
    const client = socket.client;
    if (client.conn.readyState !== 'open') return;
    const packets = this.shared.packetsOf(msg, socket.nsp.name, this.webSocket());
    if (typeof socket.notifyOutgoingListeners === 'function') {
      for (const p of packets) socket.notifyOutgoingListeners(p.packet);
    }
    const framed = packets.every((p) => p.frame !== null);
    if (framed && (this.frames !== null || this.direct())) {
      if (this.frames === null) {
        this.frames = [];
        process.nextTick(this.flushFrames);
      }
      for (const p of packets) {
        this.frames.push(p.frame);
        this.framesBytes += p.frame.length;
      }
    } else {
      if (this.frames !== null) this.writeFrames(); // keep the order
      this.cork();
      for (const p of packets) client.writeToEngine(p.encodedPackets, p.packetOpts);
    }
    this.shared.stats.deliveries += 1;
    const why = this.congested();
    if (why) this.pause(entry, why);
  }

  /** Whether frames may bypass engine.io now: an open WebSocket and nothing queued in engine.io. */
  direct() {
    const conn = this.socket.conn;
    return conn.transport.writable && conn.writeBuffer.length === 0 && this.rawSocket() !== null;
  }

  /** `'engine'` or `'socket'` when that buffer is full, else null. */
  congested() {
    const { highWaterMark, highWaterBytes } = this.shared.opts;
    if (this.socket.conn.writeBuffer.length >= highWaterMark) return 'engine';
    const raw = this.rawSocket();
    // Node emits 'drain' only once past the stream's own high-water mark: never wait below it
    if (raw && raw.writableLength + this.framesBytes >= Math.max(highWaterBytes, raw.writableHighWaterMark)) {
      // frames of this tick are written at its end: let them go out, then wait for the socket
      if (this.frames !== null) this.writeFrames();
      return 'socket';
    }
    return null;
  }

  /** Leaves new messages of `entry` in the core queue until the full buffer drains. */
  pause(entry, why) {
    entry.sub.off('message', entry.listener);
    if (!this.paused.has(entry)) {
      this.shared.stats.pauses += 1;
      this.paused.add(entry);
    }
    if (this.waiting) return;
    this.waiting = why === 'socket' ? this.rawSocket() : this.socket.conn;
    this.waiting.once('drain', this.onDrain);
  }

  resume() {
    this.waiting = null;
    if (this.ended) return;
    const why = this.congested();
    const entries = [...this.paused];
    this.paused.clear();
    for (const entry of entries) {
      if (this.subs.get(entry.dashboard) !== entry) continue;
      if (why) this.pause(entry, why);
      else entry.sub.on('message', entry.listener);
    }
  }

  /** A core error ended a subscription (the `disconnect` policy: `slow_consumer`). */
  failed(entry, e) {
    if (this.subs.get(entry.dashboard) !== entry || this.ended) return;
    this.drop(entry);
    this.socket.emit('error', { code: e.code || 'internal', message: e.message, dashboard: entry.dashboard });
    if (e.code === 'slow_consumer') this.socket.disconnect();
  }

  /** The hub ended a subscription (`hub.remove`). */
  closedByHub(entry) {
    if (this.subs.get(entry.dashboard) !== entry || this.ended) return;
    this.drop(entry);
    this.socket.emit('error', { code: 'closed', message: 'dashboard removed', dashboard: entry.dashboard });
  }

  drop(entry) {
    if (this.subs.get(entry.dashboard) === entry) {
      this.subs.delete(entry.dashboard);
      this.socket.leave(ROOM + entry.dashboard);
    }
    this.paused.delete(entry);
    entry.sub.off('message', entry.listener);
    entry.sub.close();
  }

  /** Ends every subscription and lets go of the socket's events (disconnect, or the bridge closed). */
  end() {
    if (this.ended) return;
    this.ended = true;
    if (this.expiry) clearTimeout(this.expiry);
    if (this.waiting) this.waiting.off('drain', this.onDrain);
    this.waiting = null;
    this.frames = null;
    this.framesBytes = 0;
    for (const [event, fn] of Object.entries(this.handlers || {})) this.socket.off(event, fn);
    this.socket.conn.off('flush', this.onFlush);
    this.socket.conn.off('drain', this.uncork);
    this.uncork();
    for (const entry of [...this.subs.values()]) this.drop(entry);
  }
}

module.exports = { Connection, codedError };
