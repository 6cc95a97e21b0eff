// dashfeed.notebook's page module (bindings-python/python/dashfeed/notebook_widget.js) in headless Chromium,
// as anywidget runs it: the ES module's `render({ model, el })` with a minimal fake model (get / on / off).
// It draws a row and a sparkline per series from the synced state, redraws once per animation frame however
// many changes arrive, removes rows that left the state, and cleans up; a screenshot goes to test-output/.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { ROOT, CHROMIUM, launchChromium } = require('./helpers');

const OUT = path.join(ROOT, 'test-output');
const PKG = path.join(ROOT, 'bindings-python', 'python', 'dashfeed');

// The fake anywidget model: state + change listeners, as the AFM spec describes (get/set/on/off/save_changes).
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/notebook_widget.css">
<style>body { margin: 16px; background: #fff; } #cell { width: 620px; padding: 8px; }</style></head>
<body><div id="cell"></div><script>
window.fakeModel = (state) => {
  const listeners = new Map();
  return {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; },
    save_changes: () => {},
    on: (name, cb) => { if (!listeners.has(name)) listeners.set(name, new Set()); listeners.get(name).add(cb); },
    off: (name, cb) => { listeners.get(name)?.delete(cb); },
    listenerCount: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
    push: (changes) => {
      Object.assign(state, changes);
      for (const k of Object.keys(changes)) for (const cb of listeners.get('change:' + k) || []) cb();
    },
  };
};
window.frames2 = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
</script></body></html>`;

function serve() {
  const files = {
    '/': ['text/html', PAGE],
    '/notebook_widget.js': ['text/javascript', fs.readFileSync(path.join(PKG, 'notebook_widget.js'))],
    '/notebook_widget.css': ['text/css', fs.readFileSync(path.join(PKG, 'notebook_widget.css'))],
  };
  const server = http.createServer((req, res) => {
    const f = files[req.url];
    if (!f) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': f[0] });
    res.end(f[1]);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const T0 = 1764288000000;
const wave = (base, n, k = 0) => Array.from({ length: n }, (_, i) => [T0 + (i + 1) * 1000, base + 10 * Math.sin((i + k) / 3)]);

test('the live view module draws a table and sparklines, once per frame', { skip: !fs.existsSync(CHROMIUM) && 'no chromium', timeout: 60000 }, async (t) => {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await serve();
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 700, height: 320 }, deviceScaleFactor: 2 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);

  const state = {
    title: 'api · 1 s windows (mean)', field: 'mean', dashboard: 'api', seq: 12, epoch: '5f0c2a9e81d34b7a',
    status: 'live', error: '', updates: 12,
    values: { 'latency_ms{endpoint=/login}': 59.5, 'latency_ms{endpoint=/search}': 84.5, queue_depth: 3.75, host: 'web-1' },
    history: { 'latency_ms{endpoint=/login}': wave(55, 40), 'latency_ms{endpoint=/search}': wave(80, 40, 5), queue_depth: wave(3, 12) },
  };
  await page.evaluate(async (s) => {
    const mod = await import('/notebook_widget.js');
    window.mod = mod;
    window.model = window.fakeModel(s);
    window.cleanup = mod.default.render({ model: window.model, el: document.getElementById('cell') });
  }, state);

  // One row per series, sorted, with the formatted value; the header shows title, status and seq.
  const rows = await page.$$eval('.dashfeed-live tr[data-series]', (trs) => trs.map((tr) => [tr.dataset.series, tr.querySelector('.value').textContent]));
  assert.deepEqual(rows, [['host', 'web-1'], ['latency_ms{endpoint=/login}', '59.5'], ['latency_ms{endpoint=/search}', '84.5'], ['queue_depth', '3.75']]);
  assert.equal(await page.$eval('.dashfeed-live-status', (e) => e.dataset.status), 'live');
  assert.match(await page.$eval('.dashfeed-live-meta', (e) => e.textContent), /seq 12 · epoch 5f0c2a9e/);
  assert.match(await page.$eval('.dashfeed-live-title', (e) => e.textContent), /api · 1 s windows/);

  // The sparklines are drawn: coloured pixels on the canvases with history, none on the one without.
  const inked = () => page.$$eval('.dashfeed-live tr[data-series]', (trs) => Object.fromEntries(trs.map((tr) => {
    const c = tr.querySelector('canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1;
    return [tr.dataset.series, n];
  })));
  const ink = await inked();
  assert.equal(ink.host, 0);
  for (const s of ['latency_ms{endpoint=/login}', 'latency_ms{endpoint=/search}', 'queue_depth']) assert.ok(ink[s] > 100, `${s}: ${ink[s]} pixels`);

  // 50 changes in one task: one redraw at the next animation frame, showing the last state.
  const before = Number(await page.$eval('.dashfeed-live', (e) => e.dataset.draws));
  await page.evaluate(async () => {
    for (let i = 1; i <= 50; i += 1) {
      window.model.push({ seq: 12 + i, values: { ...window.model.get('values'), queue_depth: 3.75 + i }, history: { ...window.model.get('history') } });
    }
    await window.frames2();
  });
  const after = Number(await page.$eval('.dashfeed-live', (e) => e.dataset.draws));
  assert.equal(after - before, 1, `draws: ${before} -> ${after}`);
  assert.equal(await page.$eval('tr[data-series="queue_depth"] .value', (e) => e.textContent), '53.75');
  assert.equal(await page.$eval('.dashfeed-live-meta', (e) => e.dataset.seq), '62');

  // A series that leaves the state loses its row; a status change and an error show.
  await page.evaluate(async () => {
    const { host, ...values } = window.model.get('values');
    window.model.push({ values, status: 'reconnecting', error: 'connection closed (1001)' });
    await window.frames2();
  });
  assert.equal(await page.$$eval('.dashfeed-live tr[data-series]', (trs) => trs.length), 3);
  assert.equal(await page.$eval('.dashfeed-live-status', (e) => e.dataset.status), 'reconnecting');
  assert.equal(await page.$eval('.dashfeed-live-error', (e) => e.textContent), 'connection closed (1001)');
  await page.evaluate(async () => { window.model.push({ status: 'live', error: '' }); await window.frames2(); });
  const el = await page.$('#cell');
  await el.screenshot({ path: path.join(OUT, 'notebook_widget.png') });

  // Number formatting, and the cleanup anywidget calls when the view goes away.
  const formats = await page.evaluate(() => [0.5, 12, 1234567, 123.456, 0.00001234, null, 'up'].map((v) => window.mod.formatValue(v)));
  assert.deepEqual(formats, ['0.5', '12', '1,234,567', '123.5', '1.234e-5', '—', 'up']);
  const left = await page.evaluate(() => { window.cleanup(); return [window.model.listenerCount(), document.querySelectorAll('.dashfeed-live').length]; });
  assert.deepEqual(left, [0, 0]);
  assert.deepEqual(errors, []);
});
