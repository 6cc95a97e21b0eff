// Socket.io benchmark: the reference notes' Socket.io server (bench/socketio/reference_server.js: Redis
// pub/sub → JSON.parse → io.to(room).emit) vs the same server done with the dashfeed bridge
// (examples/node/socketio_server.js: a Redis pub/sub source in the Rust core → Hub → dashfeed/socketio),
// on the same fresh redis-server, with the same socket.io-client sockets (bench/socketio/clients.js, one
// process) and the same publications (this driver PUBLISHes the reference notes' JSON {dashboardId,
// metric, value, metadata} to channel `dashboard-metrics`), in one run; a Markdown table of medians over
// --rounds on stdout.
//
// Phases, each with a fresh server process and clients process:
// 1. fan-out: --rate publications/s to dashboard `ops` for --seconds (after 1 s of warm-up), --clients
//    sockets on it. Server CPU-s = user+sys of the server process + redis-server (/proc/PID/stat) from
//    the first measured publication to the last delivery; deliveries per CPU-s; publish→receive p50/p99
//    (value = the driver's send time).
// 2. slow clients: the same with --slow of the sockets not reading their TCP socket once subscribed and a
//    1 KiB metadata per event; the server's RSS growth over the phase shows who buffers for them.
//
//   node bench/socketio/run.js --rounds 3            (about 3 minutes)
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { createClient } = require('redis');
const { RedisServer } = require('../../tests/node/brokers.js');

const ROOT = path.resolve(__dirname, '..', '..');
const args = (() => {
  const o = { rounds: 3, clients: 200, rate: 500, seconds: 8, slow: 20, slowRate: 500, slowSeconds: 6 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '').replace(/-(.)/g, (_, c) => c.toUpperCase())] = Number(a[i + 1]);
  return o;
})();
const CONTENDERS = {
  'socket.io (reference notes)': (redis) => [path.join(__dirname, 'reference_server.js'), '--redis', redis],
  'dashfeed/socketio bridge': (redis) => [path.join(ROOT, 'examples', 'node', 'socketio_server.js'), '--port', '0', '--redis', redis],
};

const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const USER_HZ = 100; // /proc/PID/stat counts CPU time in clock ticks of 1/100 s on Linux
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) / USER_HZ;
}
function rssMb(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) / 1024;
}

/** A child printing JSON lines; `next()` resolves with the next one (bounded). */
function child(file, argv) {
  const proc = spawn(process.execPath, [file, ...argv], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => {
    let v;
    try { v = JSON.parse(l); } catch { return; }
    if (waiters.length) waiters.shift()(v); else lines.push(v);
  });
  const next = (ms = 60000) => (lines.length ? Promise.resolve(lines.shift()) : new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${path.basename(file)}: no answer within ${ms} ms`)), ms);
    waiters.push((v) => { clearTimeout(t); resolve(v); });
  }));
  return { proc, next, ask: () => { proc.stdin.write('\n'); return next(); } };
}

async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await done;
}

/** One phase of one contender: returns its figures. */
async function phase(name, { clients, slow, rate, seconds, pad }) {
  const redis = await RedisServer.start();
  const server = child(CONTENDERS[name](redis.url)[0], CONTENDERS[name](redis.url).slice(1));
  const pub = createClient({ url: redis.url });
  await pub.connect();
  let cl;
  try {
    const { port } = await server.next(30000);
    // the bridge's source must be subscribed before anything is published
    for (let i = 0; i < 2000 && (await pub.sendCommand(['PUBSUB', 'NUMSUB', 'dashboard-metrics']))[1] < 1; i += 1) await pause(10);
    cl = child(path.join(__dirname, 'clients.js'), [`http://127.0.0.1:${port}`, String(clients), String(slow)]);
    await cl.next(60000); // ready
    const metadata = pad ? { pad: 'x'.repeat(1024), n: 1 } : undefined;
    const send = async (n) => {
      const t = performance.timeOrigin + performance.now();
      const msg = JSON.stringify({ dashboardId: 'ops', metric: 'cpu', value: t, metadata });
      await Promise.all(Array.from({ length: n }, () => pub.publish('dashboard-metrics', msg)));
    };
    const drive = async (secs) => {
      const perTick = rate / 100;
      const start = performance.now();
      let sent = 0;
      while (performance.now() - start < secs * 1000) {
        const due = Math.floor(((performance.now() - start) / 1000) * rate) + perTick;
        if (due > sent) { await send(due - sent); sent = due; }
        await pause(10);
      }
      return sent;
    };
    await drive(1); // warm-up
    await pause(500);
    const before = await cl.ask();
    const cpu0 = cpuSeconds(server.proc.pid) + cpuSeconds(redis.proc.pid);
    const rss0 = rssMb(server.proc.pid);
    const t0 = performance.now();
    const rssSamples = [];
    const sampler = setInterval(() => rssSamples.push([(performance.now() - t0) / 1000, rssMb(server.proc.pid)]), 250);
    const sent = await drive(seconds);
    clearInterval(sampler);
    const fast = clients - slow;
    let last = before;
    let lastAt = performance.now();
    for (let i = 0; i < 1000; i += 1) { // until every expected delivery arrived, or 2 s without progress
      await pause(20);
      const r = await cl.ask();
      if (r.deliveries !== last.deliveries) lastAt = performance.now();
      last = { ...r, p50: r.p50 ?? last.p50, p99: r.p99 ?? last.p99 };
      if (r.deliveries - before.deliveries >= sent * fast || performance.now() - lastAt > 2000) break;
    }
    const t1 = lastAt;
    const cpu = cpuSeconds(server.proc.pid) + cpuSeconds(redis.proc.pid) - cpu0;
    const rss1 = rssMb(server.proc.pid);
    const got = last.deliveries - before.deliveries;
    // RSS slope over the second half of the publications (least squares, MB/s): ~0 once bounded
    const half = rssSamples.filter(([t]) => t >= seconds / 2);
    const mt = half.reduce((a, [t]) => a + t, 0) / half.length;
    const mr = half.reduce((a, [, r]) => a + r, 0) / half.length;
    const slope = half.reduce((a, [t, r]) => a + (t - mt) * (r - mr), 0) / half.reduce((a, [t]) => a + (t - mt) ** 2, 0);
    return { sent, expected: sent * fast, got, secs: (t1 - t0) / 1000, cpu, perCpu: got / cpu, p50: last.p50, p99: last.p99, rss0, rss1, slope };
  } finally {
    if (cl) await stop(cl.proc);
    await stop(server.proc);
    await pub.quit().catch(() => {});
    await redis.stop();
  }
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const f = (v, d = 0) => (v === null || v === undefined ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

async function main() {
  const fan = { clients: args.clients, slow: 0, rate: args.rate, seconds: args.seconds, pad: false };
  const slow = { clients: args.clients, slow: args.slow, rate: args.slowRate, seconds: args.slowSeconds, pad: true };
  const results = {};
  for (let r = 0; r < args.rounds; r += 1) {
    for (const name of Object.keys(CONTENDERS)) {
      results[name] = results[name] || { fan: [], slow: [] };
      results[name].fan.push(await phase(name, fan));
      results[name].slow.push(await phase(name, slow));
      process.stderr.write(`round ${r + 1} ${name}: ${JSON.stringify(results[name].fan.at(-1))} ${JSON.stringify(results[name].slow.at(-1))}\n`);
    }
  }
  const [ref, df] = Object.keys(CONTENDERS);
  console.log(`node bench/socketio/run.js ${process.argv.slice(2).join(' ')}`.trim());
  console.log(`\nnode ${process.version}, socket.io ${require('socket.io/package.json').version}, socket.io-client ${require('socket.io-client/package.json').version}, redis-server (Debian), 2 cores; median of ${args.rounds} round(s).\n`);
  console.log(`**Fan-out**: ${args.rate} publications/s to one dashboard for ${args.seconds} s, ${args.clients} socket.io clients on it.\n`);
  console.log('| contender | publications | deliveries (expected) | server+redis CPU-s | deliveries per CPU-s | ratio | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const perCpu = (n) => median(results[n].fan.map((x) => x.perCpu));
  for (const n of [ref, df]) {
    const x = results[n].fan;
    console.log(`| ${n} | ${f(median(x.map((y) => y.sent)))} | ${f(median(x.map((y) => y.got)))} (${f(median(x.map((y) => y.expected)))}) | ${f(median(x.map((y) => y.cpu)), 2)} | ${f(perCpu(n))} | ${n === df ? `${f(perCpu(df) / perCpu(ref), 2)}x` : ''} | ${f(median(x.map((y) => y.p50)), 1)} | ${f(median(x.map((y) => y.p99)), 1)} |`);
  }
  console.log(`\n**Slow clients**: ${args.slowRate} publications/s with 1 KiB of metadata for ${args.slowSeconds} s, ${args.clients} clients of which ${args.slow} stop reading once subscribed.\n`);
  console.log('| contender | deliveries to the readers (expected) | deliveries per CPU-s | server RSS before → after, MB | growth MB | RSS slope, 2nd half, MB/s |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const n of [ref, df]) {
    const x = results[n].slow;
    console.log(`| ${n} | ${f(median(x.map((y) => y.got)))} (${f(median(x.map((y) => y.expected)))}) | ${f(median(x.map((y) => y.perCpu)))} | ${f(median(x.map((y) => y.rss0)), 1)} → ${f(median(x.map((y) => y.rss1)), 1)} | ${f(median(x.map((y) => y.rss1 - y.rss0)), 1)} | ${f(median(x.map((y) => y.slope)), 2)} |`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
