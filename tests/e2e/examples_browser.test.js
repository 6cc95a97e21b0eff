// examples/browser/index.html in headless Chromium against real dashfeed servers: the page served by
// `python3 examples/browser/serve.py` (its own feed), then the same page following `dashfeed demo` on another
// port with ?server=. Live values must appear, a value posted to the server's ingest must be shown as posted,
// and a stopped server must turn the page to `reconnecting`. Every wait is bounded.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { ROOT, CHROMIUM, launchChromium, freePort, startDemo, stopDemo } = require('./helpers');

const skip = !fs.existsSync(CHROMIUM) && 'no chromium';

/** Starts examples/browser/serve.py on a free port; resolves with {proc, url} once it prints its URL. */
function startExample(args = []) {
  const proc = spawn('python3', ['examples/browser/serve.py', '--port', '0', ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('serve.py did not start within 20 s')); }, 20000);
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/(http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(t); resolve({ proc, url: m[1] }); }
    });
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`serve.py exited with ${code}: ${buf}`)); });
  });
}

/** The page's `data-value` of `series` ("dashboard/name"), or null when the row is not there. */
const valueOf = (page, series) => page.evaluate(
  (s) => document.querySelector(`[data-series="${s}"] .value`)?.dataset.value ?? null, series);
const seqOf = (page, dashboard) => page.evaluate(
  (d) => Number(document.querySelector(`[data-dashboard="${d}"] [data-field="seq"]`)?.textContent), dashboard);

test('examples/browser/index.html shows the live values of its dashfeed server', { skip, timeout: 60000 }, async (t) => {
  const example = await startExample();
  t.after(() => example.proc.exitCode === null && example.proc.kill('SIGKILL'));
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  await page.goto(`${example.url}/?dashboards=ops`);
  await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 15000 });
  assert.equal(await page.textContent('#status'), 'live');

  // Live: the position advances and the gauges and the 1 s windows arrive as rows.
  const seq0 = await seqOf(page, 'ops');
  await page.waitForFunction((s) => Number(document.querySelector('[data-dashboard="ops"] [data-field="seq"]').textContent) >= s + 3,
    seq0, { timeout: 10000 });
  await page.waitForSelector('[data-series="ops/latency_ms"] .value', { timeout: 10000 });
  const cpu = Number(await valueOf(page, 'ops/cpu_percent'));
  assert.ok(cpu >= 0 && cpu <= 100, `cpu_percent ${cpu}`);
  assert.match(await page.textContent('[data-series="ops/latency_ms"] .detail'), /^mean of \d+, p99 /);

  // A value posted to the server's ingest is on screen as posted.
  const res = await fetch(`${example.url}/api/events`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ dashboard: 'ops', metric: 'orders', value: 42 },
      { dashboard_id: 'ops', metric_name: 'temp_c', value: 21.5, timestamp: Date.now() / 1000, metadata: { room: 'a' } }]),
  });
  assert.equal(res.status, 202, await res.text());
  await page.waitForFunction(() => document.querySelector('[data-series="ops/orders"] .value')?.dataset.value === '42',
    null, { timeout: 10000 });
  // The reference notes' event shape: string metadata names the series, shown with its value.
  await page.waitForSelector('[data-series="ops/temp_c{room=a}"] .value[data-value="21.5"]', { timeout: 10000 });
  assert.equal(await page.textContent('[data-series="ops/orders"] .value'), '42');

  // No error while the server was up (once it goes away, Chromium logs the refused reconnects itself).
  assert.deepEqual(errors, []);
  // The server goes away (SIGTERM: close 1001): the page says it is reconnecting, with a countdown.
  assert.equal(await stopDemo(example.proc), 0, 'serve.py exits 0 on SIGTERM');
  await page.waitForFunction(() => document.querySelector('#status').dataset.status === 'reconnecting', null, { timeout: 10000 });
  assert.match(await page.textContent('#backoff'), /^retrying in \d+\.\d s$/);
});

test('examples/browser/index.html follows another server with ?server= (the demo\'s windows)', { skip, timeout: 60000 }, async (t) => {
  const example = await startExample(['--interval', '0']);
  t.after(() => example.proc.exitCode === null && example.proc.kill('SIGKILL'));
  const port = await freePort();
  const demo = await startDemo(port);
  t.after(() => demo.proc.exitCode === null && demo.proc.kill('SIGKILL'));
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  const server = encodeURIComponent(`ws://127.0.0.1:${port}/ws`);
  await page.goto(`${example.url}/?dashboards=host,api&server=${server}`);
  await page.waitForFunction(() => ['host', 'api'].every((d) => document.querySelectorAll(`[data-dashboard="${d}"] tr[data-series]`).length > 0)
    && Number(document.querySelector('[data-dashboard="api"] [data-field="seq"]').textContent) > 0, null, { timeout: 20000 });
  // The demo publishes window results: each row shows a mean with its count.
  const details = await page.$$eval('[data-dashboard="api"] tr[data-series] .detail', (els) => els.map((e) => e.textContent));
  assert.ok(details.some((d) => /^mean of \d+/.test(d)), JSON.stringify(details));
  const values = await page.$$eval('[data-dashboard="api"] tr[data-series] .value', (els) => els.map((e) => Number(e.dataset.value)));
  assert.ok(values.every((v) => Number.isFinite(v)), JSON.stringify(values));
  assert.deepEqual(errors, []);
  await stopDemo(demo.proc);
  await stopDemo(example.proc);
});
