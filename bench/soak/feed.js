'use strict';
// The publishing side of bench/soak/load.js: HTTP helpers, the probe publisher and its publication log, and
// the prefill of the histories before the clients connect.
//
// Publisher: every 1/`probeHz` s one POST /api/events with, for each main dashboard, metric `probe` = send
// time in ms (performance.timeOrigin + now(), the clients' clock) and metadata {n} (n numbers a dashboard's
// probes from 1), and `bulkHz`/`probeHz` events to the bulk dashboard with `bulkBytes` of random padding
// (the volume that makes a paused client overflow the kernel's socket buffers and its subscription queue).
// Only the events of a POST answered 202 with every event accepted enter the log, in publication order.
//
// Prefill: see `prefill()`.
const http = require('node:http');
const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

function makeFeed({ port, main, bulk, probeHz, bulkHz, bulkBytes, history, violate }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const log = {}; // dashboard -> [n, ...] in publication order (accepted events only)
  const nextN = {};
  for (const d of [...main, bulk]) { log[d] = []; nextN[d] = 1; }
  const pub = { posts: 0, events: 0, failed: 0, late: 0, running: false, inflight: Promise.resolve() };
  let bulkDue = 0;
  const pad = () => crypto.randomBytes(Math.ceil(bulkBytes * 0.75)).toString('base64');

  /** POST `body`; `fresh`: on a new connection (a reused keep-alive socket can meet the server's idle close). */
  function post(path, body, fresh = false) {
    return new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: fresh ? false : agent, timeout: 10000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve({ status: 0, text: String(e.message) }));
      req.end(body);
    });
  }

  function getJson(path) {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 10000 }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => { try { resolve(JSON.parse(text)); } catch (e) { reject(e); } });
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
      req.on('error', reject);
    });
  }

  const seqOf = async (d) => (await getJson(`/api/dashboards/${encodeURIComponent(d)}`)).seq;

  async function publishOnce() {
    const t = now();
    const events = [];
    for (const d of main) events.push({ dashboard: d, metric: 'probe', value: t, metadata: { n: nextN[d]++ } });
    bulkDue += bulkHz / probeHz;
    for (; bulkDue >= 1; bulkDue -= 1) {
      events.push({ dashboard: bulk, metric: 'probe', value: t, metadata: { n: nextN[bulk]++, pad: pad() } });
    }
    const res = await post('/api/events', JSON.stringify(events));
    pub.posts += 1;
    let accepted = -1;
    try { accepted = JSON.parse(res.text).accepted; } catch (e) { /* not JSON: failed below */ }
    if (res.status === 202 && accepted === events.length) {
      for (const e of events) log[e.dashboard].push(e.metadata.n);
      pub.events += events.length;
    } else {
      pub.failed += 1; // its events may or may not be published: the log check then names the difference
      violate('publish_failed', { status: res.status, text: res.text.slice(0, 200) });
    }
  }

  async function run() {
    const every = 1000 / probeHz;
    let due = performance.now();
    while (pub.running) {
      pub.inflight = publishOnce();
      await pub.inflight;
      due += every;
      const wait = due - performance.now();
      if (wait < 0) { pub.late += 1; due = performance.now(); } else await sleep(wait);
    }
  }

  /**
   * Fills every dashboard's history (`history` publications) before the load, so that even a short run
   * starts with its bounded structures at their size: events shaped like the run's traffic — per main
   * dashboard, per probe, one small event and as many copies (as metadata) of the other sources' updates
   * as the recorder received updates without a probe per second over 4 s (`other[d]`: the newest of them,
   * `other[d].seen`: how many) — the other sources' traffic; for the bulk
   * dashboard, events of `bulkBytes` — under metric names other than `probe`, paced under the ingest rate.
   * The caller has subscribed a client of every wire format the run uses, so that the entries carry the
   * encodings the run's entries will; `caughtUp()` then waits until they received it all.
   */
  async function prefill(other, caughtUp) {
    const t0 = Date.now();
    const seen0 = Object.fromEntries(main.map((d) => [d, other[d].seen]));
    await sleep(4000);
    const perSecond = Object.fromEntries(main.map((d) => [d, (other[d].seen - seen0[d]) / ((Date.now() - t0) / 1000)]));
    const plan = Object.fromEntries([...main, bulk].map((d) => [d, []]));
    for (const d of main) {
      const samples = other[d].slice(-8);
      let due = 0;
      let k = 0;
      while (plan[d].length < history) {
        plan[d].push({ dashboard: d, metric: 'fill', value: now(), metadata: { n: 0 } });
        due += perSecond[d] / probeHz;
        for (; due >= 1 && samples.length; due -= 1) {
          plan[d].push({ dashboard: d, metric: 'fill_other', value: 0, metadata: samples[k++ % samples.length] });
        }
      }
    }
    for (let i = 0; i < history; i += 1) plan[bulk].push({ dashboard: bulk, metric: 'fill', value: 0, metadata: { n: 0, pad: pad() } });
    let sent = 0;
    for (const d of [...main, bulk]) {
      const todo = plan[d];
      for (let tries = 0; todo.length && tries < 200; tries += 1) {
        const chunk = [];
        let bytes = 0;
        while (todo.length && chunk.length < 250 && bytes < 700000) {
          const e = todo.shift();
          chunk.push(e);
          bytes += JSON.stringify(e).length;
        }
        const res = await post('/api/events', JSON.stringify(chunk));
        let accepted = 0;
        try { accepted = JSON.parse(res.text).accepted || 0; } catch (e) { /* none accepted */ }
        sent += accepted;
        if (accepted < chunk.length) {
          todo.unshift(...chunk.slice(accepted)); // over the ingest rate: the rest again in a second
          await sleep(1000);
        } else await sleep(50);
      }
    }
    const { behind } = await caughtUp(60000);
    if (behind.length) throw new Error(`prefill: ${behind.length} of the first clients did not catch up in 60 s`);
    return { events: sent, ms: Date.now() - t0, other_per_s: perSecond };
  }

  return { post, getJson, seqOf, log, pub, pad, prefill,
    start() { pub.running = true; run(); },
    async stop() { pub.running = false; await pub.inflight; },
    close() { agent.destroy(); } };
}

module.exports = { makeFeed, sleep, now };
