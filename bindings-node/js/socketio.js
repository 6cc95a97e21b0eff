// dashfeed/socketio — serves a dashfeed Hub to socket.io 4 clients, the reference notes' Socket.io server
// done with the hub instead of `io.to(room).emit` from a Redis callback.
//
//   const { Server } = require('socket.io');
//   const { Hub } = require('dashfeed');
//   const { attachHub } = require('dashfeed/socketio');
//   const bridge = attachHub(new Server(httpServer), hub, { auth: { secret } });
//
// Client → server events: `subscribe` (dashboardId, { since: { epoch, seq } }?, ack?), `unsubscribe`
// (dashboardId, ack?) and `refresh` (token, ack?). Server → client: `initial-state` ({ dashboard, epoch,
// seq, data, recovered? }: the snapshot), `recovered` ({ dashboard, epoch, seq, missed }: a resume that
// lost nothing; the missed updates follow), `update` (one per series of a publication: { dashboard,
// metric, value, timestamp, metadata, seq, epoch }, the reference notes' fields plus the resume point)
// and `error` ({ code, message, dashboard? }, the codes of docs/protocol.md). The socket joins room
// `dashboard-{id}` while subscribed, so the app's own `io.to(room).emit(...)` still reaches it.
//
// What this file does and what the core does. Each subscribed socket holds one hub subscription: the
// core owns its bounded queue, the slow-consumer policy (conflate by default), resume with `since`,
// epochs and dedupe — nothing of it is rewritten here. This file only moves messages to socket.io, with
// two rules of its own:
// - Encoded once. The hub hands the same `Message` object to every subscriber it wakes in this thread;
//   its socket.io packets (and, for the default parser over WebSocket, the WebSocket frame, as
//   socket.io's own broadcast does) are built on first use and reused for every socket (a WeakMap).
//   Works with any socket.io parser (`socket.io-msgpack-parser` too): packets go through `io.encoder`.
// - Bounded. A socket whose engine.io write buffer holds `highWaterMark` packets, or whose TCP socket
//   holds `highWaterBytes` unsent bytes, is not given more: its 'message' listener is removed so new
//   publications wait in the core queue, where the policy applies (conflated into one update per metric,
//   dropped, or the socket disconnected), and put back on the next 'drain'. socket.io and the TCP socket
//   never hold more than those bounds plus one delivery batch per subscription.
// - Written together. Over WebSocket (the default parser, no permessage-deflate), the frames a socket
//   gets in one tick go out in one write: when engine.io has nothing queued for the socket, the
//   pre-built frames of the tick's messages are written to its TCP socket at the end of the tick
//   (through the WebSocket's own socket, in order: engine.io's buffer is empty, and everything it wrote
//   before is already there). Otherwise they go through engine.io (`writeToEngine`), with the TCP socket
//   corked for the rest of the tick and around each engine.io flush. socket.io writes each emit on its
//   own (one syscall per frame); a hub batch of k messages costs one write here. Nothing is held past
//   the tick.
// Auth (optional) is the server's JWT rules through the core's `Auth`: the token comes from
// `handshake.auth.token`, an `Authorization: Bearer` header or `?token=`; a refused token fails the
// connection (`connect_error` with `data.code`), the `dashboards` claim decides each `subscribe`
// (`forbidden`), and expiry disconnects the socket after an `error` `token_expired` unless a `refresh`
// came first.
// Resume: a client keeps the `epoch` and `seq` of the last message it applied and, on every 'connect'
// after the first, emits `subscribe` with `{ since: { epoch, seq } }`: it gets a `recovered` header and
// exactly the missed updates, or a fresh `initial-state` with `recovered: false`. socket.io's
// `connectionStateRecovery` cannot do this for it: socket.io numbers only broadcast packets, and the
// bridge writes per socket (that is how each socket gets its own flow control).
'use strict';

const { Auth } = require('../../index.js');

const EVENT = 2; // socket.io-parser PacketType.EVENT
const DEFAULTS = { highWaterMark: 64, highWaterBytes: 64 * 1024, maxSubscriptions: 64 };

/** The `ws` module socket.io's engine uses (for pre-built frames), or null when it cannot be found. */
function wsSender() {
  const { createRequire } = require('node:module');
  for (const from of ['engine.io', 'socket.io']) {
    try {
      const req = createRequire(require.resolve(from));
      const ws = req('ws');
      if (ws && ws.Sender && typeof ws.Sender.frame === 'function') return ws.Sender;
    } catch {
      // not installed next to this one: try the next
    }
  }
  return null;
}

/** A plain object of the reference layout ({ value, timestamp?, metadata? }) or not. */
function isReferenceValue(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v;
}

/** The socket.io events of one hub message: [event name, payload] pairs. */
function eventsOf(msg) {
  const { dashboard, epoch, seq } = msg;
  switch (msg.kind) {
    case 'snapshot': {
      const state = { dashboard, epoch, seq, data: msg.data };
      if (msg.recovered === false) state.recovered = false;
      return [['initial-state', state]];
    }
    case 'recovered':
      return [['recovered', { dashboard, epoch, seq, missed: msg.missed }]];
    default: {
      const now = Date.now();
      const out = [];
      const data = msg.data;
      for (const metric of Object.keys(data)) {
        const v = data[metric];
        const ref = isReferenceValue(v);
        out.push(['update', {
          dashboard,
          metric,
          value: ref ? v.value : v,
          timestamp: ref && v.timestamp !== undefined ? v.timestamp : now,
          metadata: ref && v.metadata !== undefined ? v.metadata : null,
          seq,
          epoch,
        }]);
      }
      return out;
    }
  }
}

/** A coded Error (`.code`, and `.data.code` for socket.io's `connect_error`). */
function codedError(code, message) {
  const err = new Error(message);
  err.code = code;
  err.data = { code };
  return err;
}

/** The token a handshake carries: `auth.token`, `Authorization: Bearer`, then `?token=`. */
function handshakeToken(handshake) {
  if (handshake.auth && typeof handshake.auth.token === 'string') return handshake.auth.token;
  const h = handshake.headers && handshake.headers.authorization;
  if (typeof h === 'string' && /^bearer /i.test(h.trim())) return h.trim().slice(7).trim();
  const q = handshake.query && handshake.query.token;
  return typeof q === 'string' ? q : null;
}

/** `{ epoch, seq }`, `[epoch, seq]` or nothing, as given by a client; anything else is invalid. */
function sinceOf(opts) {
  if (opts === undefined || opts === null || typeof opts !== 'object') return null;
  const s = opts.since;
  if (s === undefined || s === null) return null;
  return s;
}

/**
 * Serves `hub` on the socket.io server (or namespace) `io`. Options: `auth` (an `Auth`, or its options
 * `{ secret }` / `{ publicKey, algorithm }`: JWT required), `namespace` (default `'/'`),
 * `highWaterMark` (packets in a socket's engine.io buffer before the bridge waits for 'drain', default
 * 64), `highWaterBytes` (unsent bytes in its TCP socket, default 64 KiB), `maxSubscriptions` (per socket, default 64), and the hub subscription options `policy`, `queue`,
 * `queueBytes`. Returns the bridge: `close()` ends every subscription, `stats` counts.
 */
function attachHub(io, hub, options = {}) {
  const opts = { ...DEFAULTS, ...options };
  if (!Number.isInteger(opts.highWaterMark) || opts.highWaterMark < 1) {
    throw codedError('invalid_input', 'highWaterMark must be a positive integer');
  }
  if (!Number.isInteger(opts.highWaterBytes) || opts.highWaterBytes < 1) {
    throw codedError('invalid_input', 'highWaterBytes must be a positive integer');
  }
  if (!Number.isInteger(opts.maxSubscriptions) || opts.maxSubscriptions < 1) {
    throw codedError('invalid_input', 'maxSubscriptions must be a positive integer');
  }
  const nsp = typeof io.of === 'function' ? io.of(opts.namespace || '/') : io;
  const server = nsp.server || io;
  const auth = opts.auth ? (opts.auth instanceof Auth ? opts.auth : new Auth(opts.auth)) : null;
  const subOptions = {};
  for (const k of ['policy', 'queue', 'queueBytes']) if (opts[k] !== undefined) subOptions[k] = opts[k];
  const Sender = wsSender();
  const encoded = new WeakMap(); // Message -> [{ packet, encodedPackets, packetOpts }]
  const stats = { sockets: 0, subscriptions: 0, deliveries: 0, encodes: 0, pauses: 0, writes: 0 };
  const sockets = new Set();

  /** The packets of `msg`, built once for every socket of this namespace. */
  function packetsOf(msg) {
    let out = encoded.get(msg);
    if (out !== undefined) return out;
    out = eventsOf(msg).map(([event, payload]) => {
      const packet = { type: EVENT, data: [event, payload], nsp: nsp.name };
      const encodedPackets = server.encoder.encode(packet);
      const packetOpts = { preEncoded: true };
      if (Sender && encodedPackets.length === 1 && typeof encodedPackets[0] === 'string') {
        // "4": the engine.io "message" packet type; what socket.io-adapter's broadcast pre-builds
        packetOpts.wsPreEncodedFrame = Sender.frame(Buffer.from(`4${encodedPackets[0]}`), {
          readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true,
        });
      }
      stats.encodes += 1;
      const frame = packetOpts.wsPreEncodedFrame && !server.engine?.opts?.perMessageDeflate
        ? Buffer.concat(packetOpts.wsPreEncodedFrame) : null;
      return { packet, encodedPackets, packetOpts, frame };
    });
    encoded.set(msg, out);
    return out;
  }

  let closed = false;
  if (auth) {
    nsp.use((socket, next) => {
      if (closed) return next();
      const token = handshakeToken(socket.handshake);
      if (!token) return next(codedError('unauthorized', 'a token is required'));
      try {
        socket.data.dashfeedToken = token;
        auth.verify(token); // checked again in 'connection', where the socket's state lives
        return next();
      } catch (e) {
        return next(codedError('unauthorized', e.message));
      }
    });
  }

  const onConnection = (socket) => {
    const conn = new Connection(socket);
    sockets.add(conn);
    stats.sockets += 1;
    socket.on('disconnect', () => {
      conn.end();
      sockets.delete(conn);
    });
  };
  nsp.on('connection', onConnection);

  /** One socket: its grant, its subscriptions, its flow control. */
  class Connection {
    constructor(socket) {
      this.socket = socket;
      this.subs = new Map(); // dashboard -> Entry
      this.paused = new Set(); // entries waiting for the connection's 'drain'
      this.grant = null;
      this.expiry = null;
      this.ended = false;
      this.onDrain = () => this.resume();
      this.waiting = null; // the emitter whose 'drain' resumes the paused entries
      this.frames = null; // frames of this tick, written together at its end
      this.flushFrames = () => this.writeFrames();
      this.corked = null; // the TCP socket corked by this connection until `uncork` runs
      this.uncork = () => {
        const raw = this.corked;
        this.corked = null;
        if (raw) raw.uncork();
      };
      this.onFlush = () => this.cork();
      socket.conn.on('flush', this.onFlush);
      socket.conn.on('drain', this.uncork);
      if (auth) this.setGrant(auth.verify(socket.data.dashfeedToken));
      socket.on('subscribe', (dashboard, o, ack) => this.command(() => this.subscribe(dashboard, o), o, ack));
      socket.on('unsubscribe', (dashboard, ack) => this.command(() => this.unsubscribe(dashboard), ack));
      socket.on('refresh', (token, ack) => this.command(() => this.refresh(token), ack));
    }

    /** Runs a client command; answers its ack (or emits `error`) with a coded result. */
    command(fn, ...rest) {
      const ack = rest.find((a) => typeof a === 'function');
      try {
        fn();
        if (ack) ack({ ok: true });
      } catch (e) {
        const body = { code: e.code || 'internal', message: e.message };
        if (e.dashboard !== undefined) body.dashboard = e.dashboard;
        if (ack) ack({ ok: false, error: body });
        else this.socket.emit('error', body);
      }
    }

    setGrant(grant) {
      this.grant = grant;
      if (this.expiry) clearTimeout(this.expiry);
      // setTimeout keeps at most 2^31-1 ms; a longer token is re-armed when that timer fires
      const wait = Math.min(grant.remainingMs, 2 ** 31 - 1);
      this.expiry = setTimeout(() => {
        if (this.grant !== grant) return;
        if (grant.remainingMs > 0) return this.setGrant(grant);
        this.socket.emit('error', { code: 'token_expired', message: 'the token expired' });
        this.socket.disconnect(true);
      }, wait);
      this.expiry.unref();
    }

    subscribe(dashboard, o) {
      if (typeof dashboard !== 'string') throw codedError('invalid_input', 'subscribe: dashboard must be a string');
      if (this.grant && !this.grant.allows(dashboard)) {
        const e = codedError('forbidden', 'the token does not open this dashboard');
        e.dashboard = dashboard;
        throw e;
      }
      const replacing = this.subs.get(dashboard);
      if (!replacing && this.subs.size >= opts.maxSubscriptions) {
        const e = codedError('too_many_subscriptions', 'subscription limit reached');
        e.dashboard = dashboard;
        throw e;
      }
      const since = sinceOf(o);
      const sub = hub.subscribe(dashboard, since ? { ...subOptions, since } : subOptions);
      if (replacing) this.drop(replacing);
      const entry = { dashboard, sub, listener: null };
      entry.listener = (msg) => this.deliver(entry, msg);
      sub.on('error', (e) => this.failed(entry, e));
      sub.on('close', () => this.closedByHub(entry));
      this.subs.set(dashboard, entry);
      this.socket.join(`dashboard-${dashboard}`);
      stats.subscriptions += 1;
      const why = this.congested();
      if (why) this.pause(entry, why);
      else sub.on('message', entry.listener);
    }

    unsubscribe(dashboard) {
      const entry = this.subs.get(dashboard);
      if (!entry) {
        const e = codedError('not_subscribed', 'not subscribed to this dashboard');
        e.dashboard = dashboard;
        throw e;
      }
      this.drop(entry);
    }

    refresh(token) {
      if (!auth) return;
      if (typeof token !== 'string') throw codedError('invalid_input', 'refresh: token must be a string');
      let grant;
      try {
        grant = auth.verify(token);
      } catch (e) {
        throw codedError('unauthorized', e.message);
      }
      if (this.grant && grant.subject !== this.grant.subject) {
        throw codedError('unauthorized', 'refresh: the token is for another subject');
      }
      this.setGrant(grant);
      this.socket.data.dashfeedToken = token;
      for (const entry of [...this.subs.values()]) {
        if (!grant.allows(entry.dashboard)) {
          this.drop(entry);
          this.socket.emit('error', { code: 'forbidden', message: 'the token no longer opens this dashboard', dashboard: entry.dashboard });
        }
      }
    }

    /** The WebSocket's TCP socket while the WebSocket is open, else null. */
    rawSocket() {
      const t = this.socket.conn.transport;
      const ws = t && t.name === 'websocket' ? t.socket : null;
      const raw = ws && ws.readyState === 1 ? ws._socket : null;
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
      const raw = this.rawSocket();
      if (!raw || !frames || frames.length === 0) return;
      raw.cork();
      for (let i = 0; i < frames.length; i += 1) raw.write(frames[i]);
      raw.uncork();
      stats.writes += 1;
    }

    /** Writes one message's packets; stops taking messages when a buffer is full. */
    deliver(entry, msg) {
      if (this.subs.get(entry.dashboard) !== entry) return; // replaced or dropped meanwhile
      const client = this.socket.client;
      if (client.conn.readyState !== 'open') return;
      const packets = packetsOf(msg);
      if (typeof this.socket.notifyOutgoingListeners === 'function') {
        for (const p of packets) this.socket.notifyOutgoingListeners(p.packet);
      }
      const framed = packets.every((p) => p.frame !== null);
      if (framed && (this.frames !== null || this.direct())) {
        if (this.frames === null) {
          this.frames = [];
          process.nextTick(this.flushFrames);
        }
        for (const p of packets) this.frames.push(p.frame);
      } else {
        if (this.frames !== null) this.writeFrames(); // keep the order
        this.cork();
        for (const p of packets) client.writeToEngine(p.encodedPackets, p.packetOpts);
      }
      stats.deliveries += 1;
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
      if (this.socket.conn.writeBuffer.length >= opts.highWaterMark) return 'engine';
      const raw = this.rawSocket();
      // Node emits 'drain' only once past the stream's own high-water mark: never wait below it
      if (raw && raw.writableLength >= Math.max(opts.highWaterBytes, raw.writableHighWaterMark)) return 'socket';
      return null;
    }

    /** Leaves new messages of `entry` in the core queue until the full buffer drains. */
    pause(entry, why) {
      entry.sub.off('message', entry.listener);
      if (!this.paused.has(entry)) {
        stats.pauses += 1;
        this.paused.add(entry);
      }
      if (this.waiting) return;
      this.waiting = why === 'socket' ? this.rawSocket() : this.socket.conn;
      this.waiting.once('drain', this.onDrain);
    }

    resume() {
      this.waiting = null;
      const why = this.congested();
      const entries = [...this.paused];
      this.paused.clear();
      for (const entry of entries) {
        if (this.subs.get(entry.dashboard) !== entry) continue;
        if (why) this.pause(entry, why);
        else entry.sub.on('message', entry.listener);
      }
    }

    /** The `disconnect` policy (or another core error) ended a subscription. */
    failed(entry, e) {
      if (this.subs.get(entry.dashboard) !== entry) return;
      this.socket.emit('error', { code: e.code || 'internal', message: e.message, dashboard: entry.dashboard });
      if (e.code === 'slow_consumer') this.socket.disconnect(true);
    }

    /** The hub ended a subscription (`hub.remove`) */
    closedByHub(entry) {
      if (this.subs.get(entry.dashboard) !== entry || this.ended) return;
      this.drop(entry);
      this.socket.emit('error', { code: 'closed', message: 'dashboard removed', dashboard: entry.dashboard });
    }

    drop(entry) {
      if (this.subs.get(entry.dashboard) === entry) {
        this.subs.delete(entry.dashboard);
        this.socket.leave(`dashboard-${entry.dashboard}`);
      }
      this.paused.delete(entry);
      entry.sub.off('message', entry.listener);
      entry.sub.close();
    }

    end() {
      if (this.ended) return;
      this.ended = true;
      if (this.expiry) clearTimeout(this.expiry);
      if (this.waiting) this.waiting.off('drain', this.onDrain);
      this.waiting = null;
      this.frames = null;
      this.socket.conn.off('flush', this.onFlush);
      this.socket.conn.off('drain', this.uncork);
      this.uncork();
      for (const entry of [...this.subs.values()]) this.drop(entry);
    }
  }

  return {
    /** Counters: sockets seen, subscriptions made, messages delivered, messages encoded, pauses. */
    get stats() {
      const open = [...sockets].reduce((n, c) => n + c.subs.size, 0);
      return { ...stats, connected: sockets.size, open };
    },
    /** Ends every subscription of the bridge (sockets stay connected). */
    close() {
      closed = true;
      nsp.off('connection', onConnection);
      for (const conn of sockets) conn.end();
      sockets.clear();
    },
  };
}

module.exports = { attachHub, eventsOf };
