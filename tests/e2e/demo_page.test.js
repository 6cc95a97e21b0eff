// The main job, end to end: `python -m dashfeed demo` on a spare port, the page in headless Chromium
// (Debian's chromium driven by playwright-core). Numbers change within seconds; the server stops → the
// page says reconnecting; the server comes back on the same port → live again with a recovered or fresh
// state; a screenshot goes to test-output/.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, freePort, startDemo, stopDemo, CHROMIUM, launchChromium } = require('./helpers');

const OUT = path.join(ROOT, 'test-output');

test('demo page: live numbers, reconnecting on outage, live again after restart', { skip: !fs.existsSync(CHROMIUM) && 'no chromium', timeout: 120000 }, async (t) => {
  fs.mkdirSync(OUT, { recursive: true });
  const port = await freePort();
  let demo = await startDemo(port);
  t.after(() => demo.proc.exitCode === null && demo.proc.kill('SIGKILL'));
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(demo.url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
  await page.waitForFunction(() => document.querySelector('#status')?.dataset.status === 'live', null, { timeout: 10000 });

  // Numbers change within seconds: the request counter of an endpoint and the seq of a dashboard move.
  const seqOf = () => page.$eval('[data-dashboard="api"] [data-field="seq"]', (el) => Number(el.textContent.replace(/\D/g, '')));
  const seq1 = await seqOf();
  await page.waitForFunction((s) => {
    const el = document.querySelector('[data-dashboard="api"] [data-field="seq"]');
    return el && Number(el.textContent.replace(/\D/g, '')) > s + 1;
  }, seq1, { timeout: 10000 });
  const values = await page.$$eval('[data-series^="host/"] .value', (els) => els.map((e) => e.textContent.trim()));
  assert.ok(values.length >= 4, `host series shown: ${values.length}`);
  assert.ok(values.every((v) => v && v !== '—'), `values: ${values.join(', ')}`);
  await page.screenshot({ path: path.join(OUT, 'demo-live.png'), fullPage: false });

  // The server stops: the page says so.
  await stopDemo(demo.proc);
  await page.waitForFunction(() => ['reconnecting', 'connecting'].includes(document.querySelector('#status')?.dataset.status), null, { timeout: 15000 });
  await page.screenshot({ path: path.join(OUT, 'demo-reconnecting.png') });

  // It comes back on the same port: live again, with a fresh snapshot (a new process has a new epoch),
  // and the values keep moving.
  demo = await startDemo(port);
  await page.evaluate(() => window.dashfeedClient?.reconnect?.());
  await page.waitForFunction(() => document.querySelector('#status')?.dataset.status === 'live', null, { timeout: 30000 });
  const seq2 = await seqOf();
  await page.waitForFunction((s) => {
    const el = document.querySelector('[data-dashboard="api"] [data-field="seq"]');
    return el && Number(el.textContent.replace(/\D/g, '')) > s;
  }, seq2, { timeout: 10000 });
  const log = await page.$eval('#log', (el) => el.textContent);
  assert.match(log, /fresh snapshot|recovered/);
  await page.screenshot({ path: path.join(OUT, 'demo-after-restart.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await stopDemo(demo.proc);
});
