'use strict';
// Control channel shared by the Node contender servers (dashfeed-node, ws, socket.io): JSON lines on
// stdin, JSON lines on stdout, one answer per command, with the command's `id`.
//
//   {"id":1,"cmd":"stats"}                          → {"id":1,"cpu_us":…,"rss_kb":…,"subscribers":…}
//   {"id":2,"cmd":"publish","count":600,"rate":200,"step":3}
//                                                    → {"id":2,"sent":600,"elapsed_s":…}  (when done)
//   {"id":3,"cmd":"quit"}                           → {"id":3,"bye":true}, then the process exits
//
// The publisher runs in this process (its CPU time is part of the server's): every TICK_MS it sends the
// publications that are due at `rate`, each built with its own `ts` (CLOCK_MONOTONIC in µs, the clock
// the load generator reads too) so that the load generator measures publish→receive latency.
// At start the server prints {"ready":true,"port":…,"pid":…}.

const fs = require('node:fs');
const readline = require('node:readline');

const TICK_MS = 5;
const TARGET_BYTES = 200;

/** CLOCK_MONOTONIC in µs (same clock as Python's time.monotonic_ns() and the load generator). */
function monoUs() {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1e3);
}

/** User + system CPU time of the whole process (every thread), µs. */
function cpuUs() {
  const c = process.cpuUsage();
  return c.user + c.system;
}

/** VmRSS of this process, kB. */
function rssKb() {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

/** `--port N` from the command line. */
function portArg() {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : NaN;
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: <server> --port N');
  return port;
}

/**
 * Pad string so that `frameBytes(pad)` (the contender's wire message for a typical publication) is
 * about TARGET_BYTES long.
 */
function padFor(frameBytes) {
  const base = frameBytes('');
  return 'x'.repeat(Math.max(0, TARGET_BYTES - base));
}

/** The update published as publication `seq` of step `step`: {seq, step, ts, pad}. */
function update(seq, step, pad) {
  return { seq, step, ts: monoUs(), pad };
}

function send(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Publishes `count` updates at `rate`/s with `publish(seq, step)`; resolves with the elapsed seconds. */
function paced(count, rate, step, publish) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let sent = 0;
    const tick = () => {
      const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
      const due = Math.min(count, Math.floor(elapsed * rate) + 1);
      while (sent < due) {
        sent += 1;
        publish(sent, step);
      }
      if (sent >= count) resolve(Number(process.hrtime.bigint() - t0) / 1e9);
      else setTimeout(tick, TICK_MS);
    };
    tick();
  });
}

/**
 * Serves the control channel. `publish(seq, step)` sends one publication to every subscriber;
 * `subscribers()` counts them; `shutdown()` (async) stops the server before exit.
 */
function serveControl({ port, publish, subscribers, shutdown }) {
  let busy = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    // Commands run one after the other (a stats request waits for a running publish).
    busy = busy.then(() => handle(msg)).catch((e) => send({ id: msg.id, error: String(e) }));
  });
  rl.on('close', () => process.exit(0));

  async function handle(msg) {
    if (msg.cmd === 'stats') {
      send({ id: msg.id, cpu_us: cpuUs(), rss_kb: rssKb(), subscribers: subscribers() });
    } else if (msg.cmd === 'publish') {
      const elapsed = await paced(msg.count, msg.rate, msg.step, publish);
      send({ id: msg.id, sent: msg.count, elapsed_s: elapsed });
    } else if (msg.cmd === 'quit') {
      send({ id: msg.id, bye: true });
      const timer = setTimeout(() => process.exit(0), 2000);
      try {
        await shutdown();
      } finally {
        clearTimeout(timer);
        process.exit(0);
      }
    } else {
      send({ id: msg.id, error: `unknown cmd ${msg.cmd}` });
    }
  }
  send({ ready: true, port, pid: process.pid });
}

module.exports = { monoUs, cpuUs, rssKb, portArg, padFor, update, serveControl };
