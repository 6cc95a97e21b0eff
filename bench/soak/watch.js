'use strict';
// The latency watchers of bench/soak/run.py: `--clients` plain JSON clients (`ws`) on `/dashboard/{id}`, spread
// over `--dashboards`, in a process of their own. load.js's 1,000 clients share one event loop, so what they
// measure includes that loop's own backlog and GC pauses; these few clients keep up easily, so their latency
// (receive time − the probe's value, its send time on the same clock: performance.timeOrigin + now()) is the
// server's delivery latency under the load — the figure the soak's latency criterion judges. They also check
// seq contiguity, as load.js's normal clients do.
//
// Protocol (JSON lines): stdout `{"ready": n}`; stdin `{"op": "start"}` (windows of `--window` s begin),
// `{"op": "tick"}` → this second's {n, p50, p99, max, gaps}, `{"op": "finish"}` → `{"windows": [...], "gaps":
// n, "samples": n}`, `{"op": "quit"}`.
const readline = require('node:readline');
const { performance } = require('node:perf_hooks');
const WebSocket = require('ws');

const argv = process.argv.slice(2);
const arg = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const PORT = Number(arg('port'));
const N = Number(arg('clients', '20'));
const DASHBOARDS = arg('dashboards', 'host,api').split(',');
const WINDOW_S = Number(arg('window', '60'));
const now = () => performance.timeOrigin + performance.now();
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** Latency samples (ms) in a growable Float64Array. */
class Samples {
  constructor() { this.a = new Float64Array(4096); this.n = 0; }

  push(x) {
    if (this.n === this.a.length) { const b = new Float64Array(this.n * 2); b.set(this.a); this.a = b; }
    this.a[this.n++] = x;
  }

  sorted() { return this.a.slice(0, this.n).sort(); }
}

const pct = (s, q) => (s.length ? s[Math.max(0, Math.ceil(q * s.length) - 1)] : null);
let second = new Samples();
let win = new Samples();
let winStart = 0;
const windows = [];
let gaps = 0;
let samples = 0;
let running = false;
const sockets = [];

function closeWindow() {
  const s = win.sorted();
  const t = performance.now();
  windows.push({ index: windows.length, seconds: (t - winStart) / 1000, n: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99) });
  win = new Samples();
  winStart = t;
}

function connect(dashboard) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${PORT}/dashboard/${encodeURIComponent(dashboard)}`, { perMessageDeflate: false });
    sockets.push(ws);
    let last = -1;
    ws.on('message', (data) => {
      const t = now();
      const m = JSON.parse(data);
      if (m.type === 'snapshot') { last = m.seq; resolve(); return; }
      if (m.type !== 'update') return;
      if (m.seq !== last + 1) gaps += 1;
      last = m.seq;
      const p = m.data.probe;
      if (running && p && typeof p.value === 'number') {
        second.push(t - p.value);
        win.push(t - p.value);
        samples += 1;
      }
    });
    ws.on('error', reject);
    ws.on('close', () => { if (running) gaps += 1; }); // a watcher must never be closed
  });
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let m;
  try { m = JSON.parse(line); } catch (e) { return; }
  if (m.op === 'start') {
    running = true;
    winStart = performance.now();
    setInterval(() => { if (running) closeWindow(); }, WINDOW_S * 1000).unref();
  } else if (m.op === 'tick') {
    const s = second.sorted();
    second = new Samples();
    out({ n: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99), max: pct(s, 1), gaps });
  } else if (m.op === 'finish') {
    running = false;
    closeWindow();
    out({ windows, gaps, samples });
  } else if (m.op === 'quit') {
    running = false;
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 200);
  }
}).on('close', () => process.exit(0));

const timer = setTimeout(() => { out({ error: 'watchers: no snapshot within 30 s' }); process.exit(1); }, 30000);
Promise.all(Array.from({ length: N }, (_, i) => connect(DASHBOARDS[i % DASHBOARDS.length])))
  .then(() => { clearTimeout(timer); out({ ready: N }); }, (e) => { out({ error: String(e.message) }); process.exit(1); });
