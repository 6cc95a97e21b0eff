'use strict';
// Prints the Markdown tables of the server benchmark from the result files that load.js wrote.
//
// Usage: node bench/server/report.js results/*.json [--details]
//
// Main table, one row per contender (a contender whose run failed gets "failed"):
// - peak deliveries/s: the highest deliveries/s of any step (the saturated one included);
// - max sustained: the highest step rate the server sustained (see load.js), as deliveries/s ("≥" when
//   that is the top of the ladder);
// - deliveries per server CPU-second at that max sustained step, and at the common rate R (the
//   highest ladder rate that every successful contender sustained: the same load for everyone);
// - p50 / p99 publish→receive latency at R; RSS per idle connection; mean frame size.
// Then the ratios dashfeed / socket.io and dashfeed / ws, and the issue's goals.

const fs = require('node:fs');

const ORDER = ['dashfeed-python', 'dashfeed-node', 'socketio', 'ws', 'python-websockets'];
const DASHFEED = ['dashfeed-python', 'dashfeed-node'];
const PEERS = ['socketio', 'ws'];

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const details = process.argv.includes('--details');

const results = new Map();
for (const f of files) {
  try {
    const r = JSON.parse(fs.readFileSync(f, 'utf8'));
    results.set(r.contender, r);
  } catch (e) {
    process.stderr.write(`report: cannot read ${f}: ${e.message}\n`);
  }
}
const names = [...new Set([...ORDER.filter((n) => results.has(n)), ...results.keys()])];
const ok = (n) => results.get(n)?.ok === true && results.get(n).steps.length > 0;

const int = (x) => (x == null || !Number.isFinite(x) ? '—' : Math.round(x).toLocaleString('en-US'));
const ms = (x) => (x == null ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const ratio = (a, b) => (a == null || b == null || b === 0 ? '—' : `${(a / b).toFixed(2)}x`);

/** The highest rate sustained, and its step. */
function maxSustained(r) {
  const s = r.steps.filter((x) => x.sustained);
  return s.length ? s[s.length - 1] : null;
}
const stepAt = (r, rate) => r.steps.find((s) => s.rate === rate && s.sustained) ?? null;

// Common rate: the highest rate sustained by every successful contender.
const okNames = names.filter(ok);
let common = null;
if (okNames.length) {
  const rates = results.get(okNames[0]).steps.map((s) => s.rate);
  for (const rate of rates) if (okNames.every((n) => stepAt(results.get(n), rate))) common = rate;
}

const any = okNames.length ? results.get(okNames[0]) : results.values().next().value;
const clients = any?.clients ?? '?';
const out = [];
out.push(`${clients} WebSocket clients on loopback (load generator on core 1), server on core 0; one room, ~200 B `
  + `JSON updates, ${any?.duration_s ?? '?'} s per rate step; common rate R = `
  + `${common == null ? '—' : `${common} publications/s (${int(common * clients)} deliveries/s)`}.`);
out.push('');
out.push('| contender | peak deliveries/s | max sustained deliveries/s | deliveries / server CPU-s at max sustained '
  + '| deliveries / server CPU-s at R | p50 / p99 latency at R (ms) | RSS per idle connection | frame |');
out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
const fig = new Map();
for (const n of names) {
  const r = results.get(n);
  if (!ok(n)) {
    out.push(`| ${n} | failed${r?.error ? ` (${r.error})` : ''} | | | | | | |`);
    continue;
  }
  const best = maxSustained(r);
  const atR = common == null ? null : stepAt(r, common);
  const peak = Math.max(...r.steps.map((s) => s.deliveries_per_s));
  const f = {
    peak,
    sustained: best ? best.rate * best.clients : null,
    cpuBest: best?.deliveries_per_cpu_s ?? null,
    cpuR: atR?.deliveries_per_cpu_s ?? null,
    rss: r.rss_per_conn_kb,
  };
  fig.set(n, f);
  // The top of the ladder sustained: the server's limit is higher than measured.
  const atTop = best && best === r.steps[r.steps.length - 1] ? '≥ ' : '';
  f.atTop = atTop;
  out.push(`| ${n} | ${int(peak)} | ${best ? `${atTop}${int(f.sustained)} (${best.rate}/s)` : 'none'} | ${int(f.cpuBest)} `
    + `| ${int(f.cpuR)} | ${atR ? `${ms(atR.p50_ms)} / ${ms(atR.p99_ms)}` : '—'} | ${r.rss_per_conn_kb.toFixed(1)} KB `
    + `| ${r.frame_bytes ? `${Math.round(r.frame_bytes)} B` : '—'} |`);
}

out.push('');
out.push('| ratio | deliveries / CPU-s at max sustained | deliveries / CPU-s at R | peak deliveries/s | RSS per idle connection |');
out.push('|---|---:|---:|---:|---:|');
for (const d of DASHFEED) {
  for (const p of PEERS) {
    if (!results.has(d) || !results.has(p)) continue;
    const a = fig.get(d);
    const b = fig.get(p);
    if (!a || !b) {
      out.push(`| ${d} / ${p} | — | — | — | — |`);
      continue;
    }
    out.push(`| ${d} / ${p} | ${ratio(a.cpuBest, b.cpuBest)} | ${ratio(a.cpuR, b.cpuR)} | ${ratio(a.peak, b.peak)} `
      + `| ${ratio(a.rss, b.rss)} |`);
  }
}

out.push('');
out.push('Goals of issue 6 (per CPU-second: at max sustained / at R):');
out.push('');
for (const d of DASHFEED) {
  const a = fig.get(d);
  if (!a) continue;
  const verdict = (x, goal) => (x == null ? 'n/a' : x >= goal ? 'met' : 'not met');
  const per = (p, goal) => {
    const b = fig.get(p);
    if (!b) return `${p}: n/a`;
    const best = b.cpuBest ? a.cpuBest / b.cpuBest : null;
    const atR = b.cpuR ? a.cpuR / b.cpuR : null;
    return `≥ ${goal}x ${p}: ${verdict(best, goal)} / ${verdict(atR, goal)} (${ratio(a.cpuBest, b.cpuBest)} / ${ratio(a.cpuR, b.cpuR)})`;
  };
  out.push(`- ${d}: ${per('socketio', 5)}; ${per('ws', 2)}; ≥ 300k deliveries/s on one core: `
    + `${verdict(a.sustained, 300000)} (${a.atTop}${int(a.sustained)} sustained, ${int(a.peak)} peak); `
    + `≤ 10 KB per idle connection: ${a.rss <= 10 ? 'met' : 'not met'} (${a.rss.toFixed(1)} KB)`);
}

if (details) {
  out.push('');
  out.push('Every step (server CPU % and load-generator CPU % of the step\'s wall time; "sat." = not sustained):');
  out.push('');
  out.push('| contender | rate/s | delivered / expected | deliveries/s | server CPU | load-gen CPU | deliveries / server CPU-s | p50 ms | p99 ms | |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const n of names) {
    if (!ok(n)) continue;
    for (const s of results.get(n).steps) {
      out.push(`| ${n} | ${s.rate} | ${int(s.delivered)} / ${int(s.expected)} | ${int(s.deliveries_per_s)} `
        + `| ${(s.server_cpu_share * 100).toFixed(0)}% | ${(s.client_cpu_share * 100).toFixed(0)}% `
        + `| ${int(s.deliveries_per_cpu_s)} | ${ms(s.p50_ms)} | ${ms(s.p99_ms)} | ${s.sustained ? '' : 'sat.'} |`);
    }
  }
}
process.stdout.write(`${out.join('\n')}\n`);
