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
// lost nothing; the missed publications follow), `update` (one per series of a publication: { dashboard,
// metric, value, timestamp, metadata, seq, epoch, part, parts }: the reference notes' fields, the
// resume point, and which of the publication's `parts` series this is) and `error` ({ code, message,
// dashboard? }, the codes of docs/protocol.md). A subscribed socket is in room `dashboard-{id}`, so the
// app's own `io.to(room).emit(...)` still reaches it.
//
// What the core does and what this file does. Each subscribed socket holds one hub subscription: the
// core owns its bounded queue, the slow-consumer policy (conflate by default), resume with `since`,
// epochs, dedupe and the JWT rules (`Auth`). This file moves messages to socket.io (the per-socket part
// is socketio_conn.js):
// - Encoded once. The hub hands the same `Message` object to every subscriber it wakes in one pass; its
//   socket.io packets (and, for the default parser over WebSocket, the WebSocket frame, as socket.io's
//   own broadcast pre-builds it) are made on first use and reused for every socket of the namespace.
//   Packets go through `io.encoder`, so any parser works (`socket.io-msgpack-parser` too).
// - Bounded and written together: see socketio_conn.js.
// Resume: a client keeps the `epoch` and `seq` of the last publication it applied whole (an `update`
// with `part === parts`, or an `initial-state`) and, on every 'connect' after the first, emits
// `subscribe` with `{ since: { epoch, seq } }`: it gets `recovered` (`missed` = publications that follow)
// and exactly those, or a fresh `initial-state` with `recovered: false`. A socket restored by socket.io's
// `connectionStateRecovery` gets its dashboards back, each with a fresh `initial-state` (socket.io
// numbers only broadcast packets, so what was in flight when the transport dropped is unknown).
'use strict';

const { Auth, RateLimiter } = require('../../index.js');
const { Connection, codedError } = require('./socketio_conn.js');

const EVENT = 2; // socket.io-parser PacketType.EVENT
const DEFAULTS = { highWaterMark: 64, highWaterBytes: 64 * 1024, maxSubscriptions: 64, messageRate: [50, 100] };
const REFERENCE_KEYS = new Set(['value', 'timestamp', 'metadata']);

/** A value in the reference notes' layout ({ value, timestamp?, metadata? } and nothing else). */
function isReferenceValue(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !('value' in v)) return false;
  for (const k in v) if (!REFERENCE_KEYS.has(k)) return false;
  return true;
}

/**
 * The socket.io events of one hub message: [event name, payload] pairs. An update's `timestamp` is the
 * event's own (reference layout) or the time it is sent.
 */
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
      const data = msg.data;
      const metrics = Object.keys(data);
      return metrics.map((metric, i) => {
        const v = data[metric];
        const ref = isReferenceValue(v);
        return ['update', {
          dashboard,
          metric,
          value: ref ? v.value : v,
          timestamp: ref && v.timestamp !== undefined ? v.timestamp : now,
          metadata: ref && v.metadata !== undefined ? v.metadata : null,
          seq,
          epoch,
          part: i + 1,
          parts: metrics.length,
        }];
      });
    }
  }
}

/** The token a handshake carries: `auth.token`, `Authorization: Bearer`, then `?token=`. */
function handshakeToken(handshake) {
  if (handshake.auth && typeof handshake.auth.token === 'string') return handshake.auth.token;
  const h = handshake.headers && handshake.headers.authorization;
  if (typeof h === 'string' && /^bearer /i.test(h.trim())) return h.trim().slice(7).trim();
  const q = handshake.query && handshake.query.token;
  return typeof q === 'string' ? q : null;
}

/** The options with defaults (an option given as `undefined` takes its default), checked. */
function settings(options) {
  const opts = { ...DEFAULTS };
  for (const [k, v] of Object.entries(options || {})) if (v !== undefined) opts[k] = v;
  for (const k of ['highWaterMark', 'highWaterBytes', 'maxSubscriptions']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1) throw codedError('invalid_input', `${k} must be a positive integer`);
  }
  const r = opts.messageRate;
  if (r !== null && !(Array.isArray(r) && r.length === 2)) {
    throw codedError('invalid_input', 'messageRate must be [perSecond, burst] or null');
  }
  return opts;
}

/**
 * Serves `hub` on the socket.io `Server` or `Namespace` `io` (for a Server, `options.namespace` picks
 * one; default `'/'`; a dynamic parent namespace serves each child). Options: `auth` (an `Auth`, or its
 * options `{ secret }` / `{ publicKey, algorithm }`: JWT required), `highWaterMark` (packets in a
 * socket's engine.io buffer before the bridge waits for 'drain', default 64), `highWaterBytes` (unsent
 * bytes in its TCP socket, default 64 KiB), `maxSubscriptions` (per socket, default 64), `messageRate`
 * (`[perSecond, burst]` of client commands per socket, default [50, 100]; `null`: unlimited), and the
 * hub subscription options `policy`, `queue`, `queueBytes`. Returns the bridge: `close()` ends every
 * subscription and stops serving, `stats` counts.
 */
function attachHub(io, hub, options = {}) {
  const opts = settings(options);
  const nsp = typeof io.of === 'function' ? io.of(opts.namespace || '/') : io;
  const server = nsp.server || io;
  const auth = opts.auth ? (opts.auth instanceof Auth ? opts.auth : new Auth(opts.auth)) : null;
  const limiter = opts.messageRate ? new RateLimiter(opts.messageRate[0], opts.messageRate[1]) : null;
  const subOptions = { compress: false }; // the bridge writes socket.io packets, never the hub's bytes
  for (const k of ['policy', 'queue', 'queueBytes']) if (opts[k] !== undefined) subOptions[k] = opts[k];
  const encoded = new WeakMap(); // Message -> Map(namespace name -> packets)
  const stats = { sockets: 0, subscriptions: 0, deliveries: 0, encodes: 0, pauses: 0, writes: 0 };
  const sockets = new Set();
  const grants = new WeakMap(); // socket -> Grant, from the middleware
  let Sender = null; // the ws Sender class of the running engine (from the first WebSocket seen)
  let closed = false;

  /** The packets of `msg` for namespace `name`, built once for every socket of it. */
  function packetsOf(msg, name, ws) {
    let byNsp = encoded.get(msg);
    if (byNsp === undefined) {
      byNsp = new Map();
      encoded.set(msg, byNsp);
    }
    let out = byNsp.get(name);
    if (out !== undefined) return out;
    if (Sender === null && ws && ws._sender && typeof ws._sender.constructor.frame === 'function') {
      Sender = ws._sender.constructor;
    }
    const framed = Sender !== null && !(server.engine && server.engine.opts && server.engine.opts.perMessageDeflate);
    out = eventsOf(msg).map(([event, payload]) => {
      const packet = { type: EVENT, data: [event, payload], nsp: name };
      const encodedPackets = server.encoder.encode(packet);
      const packetOpts = { preEncoded: true };
      let frame = null;
      if (framed && encodedPackets.length === 1 && typeof encodedPackets[0] === 'string') {
        // "4": the engine.io "message" packet type; what socket.io-adapter's broadcast pre-builds
        packetOpts.wsPreEncodedFrame = Sender.frame(Buffer.from(`4${encodedPackets[0]}`), {
          readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true,
        });
        frame = Buffer.concat(packetOpts.wsPreEncodedFrame);
      }
      stats.encodes += 1;
      return { packet, encodedPackets, packetOpts, frame };
    });
    byNsp.set(name, out);
    return out;
  }

  if (auth) {
    nsp.use((socket, next) => {
      if (closed) return next();
      const token = handshakeToken(socket.handshake);
      if (!token) return next(codedError('unauthorized', 'a token is required'));
      try {
        grants.set(socket, auth.verify(token));
        return next();
      } catch (e) {
        return next(codedError('unauthorized', e.message));
      }
    });
  }

  const shared = {
    hub, opts, auth, limiter, subOptions, stats, packetsOf,
    /** The grant of `socket`: the middleware's, or (middlewares skipped) its handshake's token checked now. */
    grantOf(socket) {
      const g = grants.get(socket);
      if (g) return g;
      const token = handshakeToken(socket.handshake);
      if (!token) throw codedError('unauthorized', 'a token is required');
      try {
        return auth.verify(token);
      } catch (e) {
        throw codedError('unauthorized', e.message);
      }
    },
  };

  const onConnection = (socket) => {
    const conn = new Connection(socket, shared);
    if (conn.ended) return;
    sockets.add(conn);
    stats.sockets += 1;
    socket.on('disconnect', () => {
      conn.end();
      sockets.delete(conn);
    });
  };
  nsp.on('connection', onConnection);

  return {
    /** Counters: sockets seen, subscriptions made, messages delivered and encoded, pauses, direct writes. */
    get stats() {
      const open = [...sockets].reduce((n, c) => n + c.subs.size, 0);
      return { ...stats, connected: sockets.size, open };
    },
    /** Ends every subscription and stops serving new sockets (connected sockets stay connected). */
    close() {
      closed = true;
      nsp.off('connection', onConnection);
      for (const conn of sockets) conn.end();
      sockets.clear();
    },
  };
}

module.exports = { attachHub, eventsOf };
