'use strict';
// The clients of bench/cluster/run.py, all in this one process (its CPU is not the servers'): for each
// dashboard of `--dashboards`, `--per-dashboard` clients spread round-robin over the nodes of `--ports`
// (client j of a dashboard on node j % nodes), the same for both contenders:
//
// - `--kind dashfeed`: the `ws` package, `ws://127.0.0.1:PORT/dashboard/{id}` (no subprotocol: JSON text
//   frames). Subscribed at the first message (the `snapshot`); then `update` frames whose `data` maps
//   metrics to values (several metrics when the hub conflated updates for a slow subscriber). With
//   `--batch 1` the URL asks for batch frames (`?batch=1`): the updates of one server drain arrive as one
//   `{"type":"batch","messages":[...]}` message, each of its updates counted as one delivery.
// - `--kind socketio`: `socket.io-client` with `transports: ['websocket']`; subscribed when the server
//   acks `emit('subscribe', id, ack)`; then `update` events `{dashboard, metric, value, seq}`.
//
// Metrics are `w<e>` (warm-up) or `t<e>` (measured), `e` being the index of the node the publication entered
// by, and every value is the driver's wall clock at send in ms (`time.time() * 1000`): a client records
// receive time − value, with `performance.timeOrigin + performance.now()` (the same wall clock, sub-ms),
// split same-node (e = the client's node) and cross-node. A frame counts as one measured delivery when it
// holds a `t` metric (one latency sample per `t` metric in it), else as a warm-up delivery.
//
// Protocol: one JSON line on stdout once every client has subscribed (`{"ready": n, ...}`, or
// `{"error": ...}` and exit 1 if one failed within `--connect-timeout-ms`); then JSON lines on stdin:
// `{"op": "stats"}` (counts; `no_warm`: clients not yet reached by a publication from each of the
// `--entries` entry nodes), `{"op": "report"}` (counts and latency percentiles), `{"op": "quit"}`.
//
// Run: node bench/cluster/clients.js --kind socketio --ports 4001,4002 --dashboards fan --per-dashboard 10

const readline = require('node:readline');
const { performance } = require('node:perf_hooks');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) {
    console.error(`clients: --${name} is required`);
    process.exit(2);
  }
  return fallback;
}

const kind = arg('kind');
const ports = arg('ports').split(',').map(Number);
const dashboards = arg('dashboards').split(',');
const perDashboard = Number(arg('per-dashboard'));
const connectTimeoutMs = Number(arg('connect-timeout-ms', '60000'));
const concurrency = Number(arg('concurrency', '50'));
const batch = arg('batch', '0') === '1';
const entries = Number(arg('entries', String(Math.min(2, ports.length)))); // nodes publications enter by
const allEntries = (1 << entries) - 1;
const MAX_SAMPLES = 1 << 26; // 64 Mi samples (512 MB) per array at most; past it samples are not kept

const origin = performance.timeOrigin;
const nowMs = () => origin + performance.now();

/** Latency samples (ms) in a growable Float64Array. */
class Samples {
  constructor() {
    this.a = new Float64Array(1 << 16);
    this.n = 0;
    this.dropped = 0;
  }

  push(x) {
    if (this.n === this.a.length) {
      if (this.n >= MAX_SAMPLES) {
        this.dropped += 1;
        return;
      }
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
  }

  sorted() {
    return this.a.slice(0, this.n).sort();
  }
}

const tally = {
  warm: 0, meas: 0, samples: 0, firstMs: 0, lastMs: 0, lastWarmMs: 0, closed: 0, errors: 0, other: 0,
  same: new Samples(), cross: new Samples(),
};
const clients = [];

/** One publication seen by client `c`: metric `name` (w<e> / t<e>), value = send time in ms. */
function onMetric(c, name, value, t) {
  const e = name.length === 2 ? name.charCodeAt(1) - 48 : parseInt(name.slice(1), 10);
  c.seen |= 1 << e;
  if (name.charCodeAt(0) !== 116) return false; // not 't': a warm-up metric
  (e === c.node ? tally.same : tally.cross).push(t - value);
  tally.samples += 1;
  return true;
}

function onDelivery(c, measured, t) {
  if (measured) {
    c.meas += 1;
    tally.meas += 1;
    if (tally.firstMs === 0) tally.firstMs = t;
    tally.lastMs = t;
  } else {
    c.warm += 1;
    tally.warm += 1;
    tally.lastWarmMs = t;
  }
}

function connectDashfeed(c) {
  const WebSocket = require('ws');
  return new Promise((resolve, reject) => {
    const query = batch ? '?batch=1' : '';
    const ws = new WebSocket(`ws://127.0.0.1:${c.port}/dashboard/${encodeURIComponent(c.dashboard)}${query}`,
      { perMessageDeflate: false, handshakeTimeout: connectTimeoutMs });
    c.close = () => ws.terminate();
    const onUpdate = (m, t) => {
      if (m.type !== 'update') {
        tally.other += 1;
        return;
      }
      let measured = false;
      for (const k in m.data) if (onMetric(c, k, m.data[k], t)) measured = true;
      onDelivery(c, measured, t);
    };
    ws.on('message', (data) => {
      const t = nowMs();
      let m;
      try {
        m = JSON.parse(data);
      } catch (e) {
        tally.errors += 1;
        return;
      }
      if (!c.ready) {
        const rest = m.type === 'batch' ? m.messages.slice(1) : [];
        if (m.type === 'batch') [m] = m.messages; // a snapshot with updates behind it
        if (m.type === 'snapshot') {
          c.ready = true;
          resolve(c);
          for (const x of rest) onUpdate(x, t);
        } else reject(new Error(`first message of ${c.dashboard} on node ${c.node} is not a snapshot: ${data}`));
        return;
      }
      if (m.type === 'batch') for (const x of m.messages) onUpdate(x, t);
      else onUpdate(m, t);
    });
    ws.on('error', (e) => (c.ready ? (tally.errors += 1) : reject(e)));
    ws.on('close', () => {
      if (c.ready) tally.closed += 1;
      else reject(new Error('closed before the snapshot'));
    });
  });
}

function connectSocketio(c) {
  const { io } = require('socket.io-client');
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${c.port}`, {
      transports: ['websocket'], forceNew: true, reconnection: false, timeout: connectTimeoutMs,
    });
    c.close = () => s.close();
    s.on('connect', () => s.emit('subscribe', c.dashboard, (ack) => {
      if (ack && ack.ok) {
        c.ready = true;
        resolve(c);
      } else reject(new Error(`subscribe not acknowledged: ${JSON.stringify(ack)}`));
    }));
    s.on('connect_error', (e) => reject(e));
    s.on('update', (u) => {
      const t = nowMs();
      onDelivery(c, onMetric(c, u.metric, u.value, t), t);
    });
    s.on('disconnect', (reason) => {
      if (c.ready && reason !== 'io client disconnect') tally.closed += 1;
    });
  });
}

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no subscription after ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function stats() {
  const perNode = ports.map(() => ({ clients: 0, no_warm: 0, min_meas: Infinity, max_meas: 0 }));
  for (const c of clients) {
    const p = perNode[c.node];
    p.clients += 1;
    if ((c.seen & allEntries) !== allEntries) p.no_warm += 1; // not reached from every entry node yet
    p.min_meas = Math.min(p.min_meas, c.meas);
    p.max_meas = Math.max(p.max_meas, c.meas);
  }
  return {
    warm: tally.warm, meas: tally.meas, samples: tally.samples, first_ms: tally.firstMs, last_ms: tally.lastMs,
    last_warm_ms: tally.lastWarmMs, closed: tally.closed, errors: tally.errors, other: tally.other,
    no_warm: perNode.reduce((s, p) => s + p.no_warm, 0), per_node: perNode,
  };
}

function report() {
  const same = tally.same.sorted();
  const cross = tally.cross.sorted();
  const all = new Float64Array(same.length + cross.length);
  all.set(same);
  all.set(cross, same.length);
  all.sort();
  const out = stats();
  Object.assign(out, {
    p50: percentile(all, 0.5), p99: percentile(all, 0.99), max: percentile(all, 1),
    same_n: same.length, same_p50: percentile(same, 0.5), same_p99: percentile(same, 0.99),
    cross_n: cross.length, cross_p50: percentile(cross, 0.5), cross_p99: percentile(cross, 0.99),
    samples_dropped: tally.same.dropped + tally.cross.dropped,
  });
  return out;
}

function send(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main() {
  const todo = [];
  for (const dashboard of dashboards) {
    for (let j = 0; j < perDashboard; j += 1) {
      const node = j % ports.length;
      todo.push({ dashboard, node, port: ports[node], ready: false, warm: 0, meas: 0, seen: 0, close: () => {} });
    }
  }
  const connect = kind === 'socketio' ? connectSocketio : connectDashfeed;
  const t0 = Date.now();
  for (let i = 0; i < todo.length; i += concurrency) {
    const batch = todo.slice(i, i + concurrency);
    clients.push(...batch);
    const left = Math.max(1, connectTimeoutMs - (Date.now() - t0));
    await Promise.all(batch.map((c) => withTimeout(connect(c), left, `${c.dashboard} on node ${c.node}`)));
  }
  send({ ready: clients.filter((c) => c.ready).length, expected: todo.length, connect_ms: Date.now() - t0 });
}

function quit(code) {
  for (const c of clients) {
    try {
      c.close();
    } catch (e) {
      // closing anyway
    }
  }
  setTimeout(() => process.exit(code), 200).unref();
}

if (!['dashfeed', 'socketio'].includes(kind)) {
  console.error(`clients: unknown --kind ${kind}`);
  process.exit(2);
}
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    return;
  }
  if (msg.op === 'stats') send(stats());
  else if (msg.op === 'report') send(report());
  else if (msg.op === 'quit') quit(0);
}).on('close', () => quit(0));
main().catch((e) => {
  send({ error: String(e && e.message ? e.message : e) });
  quit(1);
});
