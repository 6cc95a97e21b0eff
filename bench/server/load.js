'use strict';
// Load generator of the side-by-side server benchmark (issue 6). Starts ONE contender server as a child
// process pinned to core 0 (`taskset -c 0`), opens N WebSocket clients to it from this process (run it
// pinned to the other core: `taskset -c 1 node bench/server/load.js ...`), then:
//
// 1. RSS per idle connection: the server's VmRSS with 0 clients (after start) and with N clients
//    connected and subscribed (after a settle pause), delta / N.
// 2. A rate ladder: for each rate (publications/s to the one room), the server publishes
//    rate × duration updates of ~200 B (its own publisher, so its CPU time includes publishing), each
//    carrying its publish time; the clients count deliveries and every `sample`-th client records
//    publish→receive latency. Per step: deliveries, deliveries/s, the server's CPU time (its own
//    process.cpuUsage / getrusage, every thread) → deliveries per CPU-second, p50/p99 latency, and this
//    process's CPU share (≈ 100% means the load generator, not the server, was the limit).
//    A step is sustained when ≥ 99% of the expected deliveries arrived and they arrived at ≥ 95% of
//    the offered pace (rate × clients per second, from the first publication to the last delivery);
//    the ladder stops after the first step that is not.
//
// Usage: taskset -c 1 node bench/server/load.js --contender dashfeed-node [--clients 1000]
//          [--rates 100,150,200,...,6400] [--duration 3] [--sample 10] [--client raw|lib]
//          [--out result.json] [--timeout 240] [--server-core 0]
// --sample k: every k-th client records latency; --client lib: `ws` / socket.io-client clients instead
// of the raw client of clients.js; --timeout: the whole run's bound, in seconds.
// Contenders: dashfeed-python, dashfeed-node, dashfeed-python-wd5 (write_delay 5 ms), floor (the
// physical limit: core/examples/bench_floor.rs), socketio, ws, python-websockets.
// Prints a one-contender summary; writes the full result (JSON) to --out for report.js.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');
const { RawClient, LibClient, Tally, monoUs } = require('./clients');

const SERVERS = path.join(__dirname, 'servers');
const CONTENDERS = {
  'dashfeed-python': { cmd: ['python3', path.join(SERVERS, 'dashfeed_server.py')], path: '/dashboard/room', kind: 'snapshot' },
  'dashfeed-node': { cmd: ['node', path.join(SERVERS, 'dashfeed_server.js')], path: '/dashboard/room', kind: 'snapshot' },
  // The same server with `write_delay` 5 ms (opt-in): a connection's updates of 5 ms share a write.
  'dashfeed-python-wd5': { cmd: ['python3', path.join(SERVERS, 'dashfeed_server.py'), '--write-delay-ms', '5'], path: '/dashboard/room', kind: 'snapshot' },
  // The physical limit: one pre-built frame written per socket, one thread, no framework
  // (core/examples/bench_floor.rs; run.sh builds it).
  floor: { cmd: [path.join(__dirname, '..', '..', 'target', 'release', 'examples', 'bench_floor')], path: '/', kind: 'plain' },
  socketio: { cmd: ['node', path.join(SERVERS, 'socketio_server.js')], path: '/socket.io/?EIO=4&transport=websocket', kind: 'socketio' },
  ws: { cmd: ['node', path.join(SERVERS, 'ws_server.js')], path: '/', kind: 'plain' },
  'python-websockets': { cmd: ['python3', path.join(SERVERS, 'websockets_server.py')], path: '/', kind: 'plain' },
};

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const opts = {
  contender: arg('contender', ''),
  clients: Number(arg('clients', 1000)),
  rates: arg('rates', '100,150,200,300,400,600,800,1200,1600,2400,3200,4800,6400').split(',').map(Number),
  duration: Number(arg('duration', 3)),
  sample: Number(arg('sample', 10)),
  client: arg('client', 'raw'),
  out: arg('out', ''),
  timeout: Number(arg('timeout', 240)),
  serverCore: arg('server-core', '0'),
};
const HOST = '127.0.0.1';
const CONNECT_CONCURRENCY = 50;
const MAX_DRAIN_S = 10;
const IDLE_DRAIN_S = 1.5;

/** The running server child, killed on any exit. */
let activeServer = null;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The contender's server process and its control channel. */
class ServerProc {
  constructor(contender, port) {
    const spec = CONTENDERS[contender];
    this.child = spawn('taskset', ['-c', opts.serverCore, ...spec.cmd, '--port', String(port)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.nextId = 1;
    this.waiting = new Map();
    this.exited = false;
    this.ready = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('exit', (code, sig) => {
        this.exited = true;
        const e = new Error(`server exited (${code ?? sig})`);
        reject(e);
        for (const w of this.waiting.values()) w.reject(e);
        this.waiting.clear();
      });
      readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          process.stderr.write(`[server] ${line}\n`);
          return;
        }
        if (msg.ready) resolve(msg);
        const w = this.waiting.get(msg.id);
        if (w) {
          this.waiting.delete(msg.id);
          if (msg.error) w.reject(new Error(msg.error));
          else w.resolve(msg);
        }
      });
    });
    this.ready.catch(() => {});
  }

  /** Sends a command; resolves with the answer (rejects after `timeoutS`). */
  call(cmd, fields = {}, timeoutS = 30) {
    if (this.exited) return Promise.reject(new Error('server exited'));
    const id = this.nextId;
    this.nextId += 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${cmd}: no answer in ${timeoutS} s`));
      }, timeoutS * 1000);
      this.waiting.set(id, {
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.child.stdin.write(`${JSON.stringify({ id, cmd, ...fields })}\n`);
    });
  }

  /** Asks the server to quit; kills it (by pid) if it has not exited within 3 s. */
  async stop() {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.call('quit', {}, 3).catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}

/** Opens the clients, CONNECT_CONCURRENCY at a time. */
async function openClients(port, tally) {
  const spec = CONTENDERS[opts.contender];
  const Client = opts.client === 'lib' ? LibClient : RawClient;
  const clients = [];
  let next = 0;
  const worker = async () => {
    while (next < opts.clients) {
      const i = next;
      next += 1;
      const c = new Client({ host: HOST, port, path: spec.path, kind: spec.kind, sampled: i % opts.sample === 0, tally });
      clients.push(c);
      await c.connect(20000);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  return clients;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Waits until the expected deliveries arrived or deliveries stopped; returns the last-progress time. */
async function drain(tally, target, publishEndUs) {
  let last = tally.delivered;
  let lastChangeUs = monoUs();
  const capUs = publishEndUs + MAX_DRAIN_S * 1e6;
  for (let i = 0; i < MAX_DRAIN_S * 100 + 1000; i += 1) {
    if (tally.delivered >= target) return { lastUs: monoUs(), complete: true };
    await sleep(10);
    const now = monoUs();
    if (tally.delivered !== last) {
      last = tally.delivered;
      lastChangeUs = now;
    } else if (now - lastChangeUs > IDLE_DRAIN_S * 1e6 || now > capUs) break;
  }
  return { lastUs: lastChangeUs, complete: false };
}

/** One step of the ladder at `rate` publications/s. */
async function runStep(server, tally, clients, step, rate, duration) {
  const count = Math.max(1, Math.round(rate * duration));
  const open = clients.filter((c) => !c.closed).length;
  const expected = count * open;
  tally.step = step;
  tally.latencies = [];
  const before = await server.call('stats');
  const d0 = tally.delivered;
  const c0 = cpuUs();
  const t0 = monoUs();
  const pub = await server.call('publish', { count, rate, step }, duration * 5 + 30);
  const publishEnd = monoUs();
  const { lastUs } = await drain(tally, d0 + expected, publishEnd);
  const after = await server.call('stats');
  const clientCpu = cpuUs() - c0;
  const delivered = tally.delivered - d0;
  const wallS = Math.max(1e-6, (Math.max(lastUs, publishEnd) - t0) / 1e6);
  const serverCpuS = (after.cpu_us - before.cpu_us) / 1e6;
  const lat = Float64Array.from(tally.latencies).sort();
  const tailS = Math.max(0, (lastUs - t0) / 1e6 - count / rate);
  const r = {
    rate,
    count,
    clients: open,
    expected,
    delivered,
    publish_rate: count / pub.elapsed_s,
    deliveries_per_s: delivered / wallS,
    server_cpu_s: serverCpuS,
    deliveries_per_cpu_s: serverCpuS > 0 ? delivered / serverCpuS : null,
    server_cpu_share: serverCpuS / wallS,
    client_cpu_share: clientCpu / 1e6 / wallS,
    p50_ms: lat.length ? percentile(lat, 0.5) / 1000 : null,
    p99_ms: lat.length ? percentile(lat, 0.99) / 1000 : null,
    latency_samples: lat.length,
    tail_s: tailS,
    rss_kb: after.rss_kb,
  };
  r.sustained = delivered >= 0.99 * expected && r.deliveries_per_s >= 0.95 * rate * open;
  return r;
}

async function run() {
  if (!CONTENDERS[opts.contender]) throw new Error(`--contender one of ${Object.keys(CONTENDERS).join(', ')}`);
  const result = { contender: opts.contender, clients: opts.clients, client: opts.client, duration_s: opts.duration, steps: [] };
  const port = await freePort();
  const server = new ServerProc(opts.contender, port);
  activeServer = server;
  const tally = new Tally();
  let clients = [];
  try {
    await Promise.race([server.ready, sleep(30000).then(() => { throw new Error('server not ready in 30 s'); })]);
    await sleep(1000);
    const idle0 = await server.call('stats');
    const tc = monoUs();
    clients = await openClients(port, tally);
    result.connect_s = (monoUs() - tc) / 1e6;
    let subs = 0;
    for (let i = 0; i < 100; i += 1) {
      subs = (await server.call('stats')).subscribers;
      if (subs >= opts.clients) break;
      await sleep(200);
    }
    if (subs < opts.clients) throw new Error(`only ${subs} of ${opts.clients} clients subscribed on the server`);
    await sleep(2000);
    const idleN = await server.call('stats');
    result.rss_idle0_kb = idle0.rss_kb;
    result.rss_idleN_kb = idleN.rss_kb;
    result.rss_per_conn_kb = (idleN.rss_kb - idle0.rss_kb) / opts.clients;
    // Warm-up (JIT, buffers), not recorded.
    await runStep(server, tally, clients, 0, opts.rates[0], 1);
    for (let i = 0; i < opts.rates.length; i += 1) {
      const s = await runStep(server, tally, clients, i + 1, opts.rates[i], opts.duration);
      result.steps.push(s);
      process.stderr.write(`  ${opts.contender} rate ${s.rate}/s: ${Math.round(s.deliveries_per_s)} deliveries/s, `
        + `${Math.round(s.deliveries_per_cpu_s ?? 0)} per server CPU-s (server CPU ${(s.server_cpu_share * 100).toFixed(0)}%, `
        + `client CPU ${(s.client_cpu_share * 100).toFixed(0)}%), p50 ${s.p50_ms?.toFixed(2)} ms, p99 ${s.p99_ms?.toFixed(2)} ms, `
        + `delivered ${s.delivered}/${s.expected}, tail ${s.tail_s.toFixed(2)} s${s.sustained ? '' : ' — saturated'}\n`);
      if (!s.sustained) break;
    }
    result.frame_bytes = tally.sampledFrames ? tally.bytes / tally.sampledFrames : null;
    result.ok = true;
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
  return result;
}

async function main() {
  let result;
  const deadline = setTimeout(() => {
    process.stderr.write(`${opts.contender}: timed out after ${opts.timeout} s\n`);
    finish({ contender: opts.contender, ok: false, error: 'timeout' }, 1);
  }, opts.timeout * 1000);
  try {
    result = await run();
  } catch (e) {
    result = { contender: opts.contender, ok: false, error: String(e && e.message ? e.message : e) };
    process.stderr.write(`${opts.contender}: failed: ${result.error}\n`);
  }
  clearTimeout(deadline);
  finish(result, result.ok ? 0 : 1);
}

function finish(result, code) {
  if (opts.out) fs.writeFileSync(opts.out, `${JSON.stringify(result, null, 1)}\n`);
  else process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
  if (activeServer && !activeServer.exited) activeServer.child.kill('SIGKILL');
  process.exit(code);
}

// Kill the server child (by its pid) whatever way this process ends.
process.on('SIGTERM', () => finish({ contender: opts.contender, ok: false, error: 'SIGTERM' }, 143));
process.on('SIGINT', () => finish({ contender: opts.contender, ok: false, error: 'SIGINT' }, 130));
process.on('exit', () => {
  if (activeServer && !activeServer.exited) activeServer.child.kill('SIGKILL');
});

main();
