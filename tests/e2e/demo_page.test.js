// The main job, end to end: `python -m dashfeed demo` on a spare port, the page in headless Chromium
// (Debian's chromium driven by playwright-core). Numbers change within seconds; the server stops → the
// page says reconnecting; the server comes back on the same port → live again with a recovered or fresh
// state. At 1280 px and 390 px wide (a phone) every card's values and units fit inside it, sparklines
// span their card's width from the first seconds, and nothing fails to load (the favicon included, the
// only console error there used to be); screenshots go to test-output/.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, freePort, startDemo, stopDemo, CHROMIUM, launchChromium } = require('./helpers');

const OUT = path.join(ROOT, 'test-output');

/** In the page: what overflows a card (its readings, stats, head), as readable strings. */
function overflowsInPage() {
  // Lay out every card, off-screen ones included (`content-visibility: auto` skips them otherwise).
  if (!document.getElementById('test-layout-all')) {
    const style = document.createElement('style');
    style.id = 'test-layout-all';
    style.textContent = '.card { content-visibility: visible !important; }';
    document.head.append(style);
  }
  const out = [];
  for (const card of document.querySelectorAll('.card')) {
    const box = card.getBoundingClientRect();
    const parts = card.querySelectorAll('.card-head, .reading, .reading .value, .reading .unit, .reading .alt, .sub');
    for (const el of parts) {
      if (el.closest('[hidden]')) continue;
      const r = el.getBoundingClientRect();
      const what = `${card.dataset.series} .${el.className} "${el.textContent.trim().replace(/\s+/g, ' ')}"`;
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) out.push(`${what}: scrollWidth ${el.scrollWidth} > ${el.clientWidth}`);
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.bottom > box.bottom + 0.5) {
        out.push(`${what}: [${r.left.toFixed(1)}, ${r.right.toFixed(1)}] outside the card [${box.left.toFixed(1)}, ${box.right.toFixed(1)}]`);
      }
    }
  }
  return out;
}

/** In the page: the leftmost drawn column of the first visible host sparkline, as a fraction of its width. */
function sparkStartInPage() {
  for (const canvas of document.querySelectorAll('[data-series^="host/"] canvas')) {
    const r = canvas.getBoundingClientRect();
    if (!canvas.width || r.bottom < 0 || r.top > innerHeight) continue;
    const { data, width, height } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) if (data[(y * width + x) * 4 + 3] > 0) return x / width;
    }
  }
  return null;
}

/** The page's and the server's view of the `api` dashboard, for a failed wait's message. */
async function stateOf(page) {
  return page.evaluate(async () => {
    const text = (sel) => document.querySelector(sel)?.textContent?.trim();
    let server;
    try {
      const r = await fetch('/api/dashboards/api');
      const body = await r.json();
      server = `${r.status} epoch ${body.epoch} seq ${body.seq}`;
    } catch (e) {
      server = String(e);
    }
    return {
      status: document.querySelector('#status')?.dataset.status,
      epoch: text('[data-dashboard="api"] [data-field="epoch"]'),
      seq: text('[data-dashboard="api"] [data-field="seq"]'),
      server,
      log: [...document.querySelectorAll('#log li')].slice(0, 12).map((li) => li.textContent),
    };
  });
}

/** `page.waitForFunction`, whose timeout error also says what the page and the server show. */
async function waitFor(page, fn, arg, timeout, what) {
  try {
    await page.waitForFunction(fn, arg, { timeout });
  } catch (e) {
    const state = await stateOf(page).catch((err) => String(err));
    throw new Error(`${what}: ${e.message}\n${JSON.stringify(state, null, 2)}`);
  }
}

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
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  const failed = [];
  page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
  await page.goto(demo.url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
  await page.waitForFunction(() => document.querySelector('#status')?.dataset.status === 'live', null, { timeout: 10000 });

  // Numbers change within seconds: the request counter of an endpoint and the seq of a dashboard move.
  const seqOf = () => page.$eval('[data-dashboard="api"] [data-field="seq"]', (el) => Number(el.textContent.replace(/\D/g, '')));
  const seq1 = await seqOf();
  await waitFor(page, (s) => {
    const el = document.querySelector('[data-dashboard="api"] [data-field="seq"]');
    return el && Number(el.textContent.replace(/\D/g, '')) > s + 1;
  }, seq1, 10000, `api seq past ${seq1 + 1}`);
  const values = await page.$$eval('[data-series^="host/"] .value', (els) => els.map((e) => e.textContent.trim()));
  assert.ok(values.length >= 4, `host series shown: ${values.length}`);
  assert.ok(values.every((v) => v && v !== '—'), `values: ${values.join(', ')}`);
  await page.screenshot({ path: path.join(OUT, 'demo-live.png'), fullPage: false });

  // Values and units fit their cards on a laptop and on a phone; sparklines use the card's width.
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(1500); // a few updates at this size, redrawn
    assert.deepEqual(await page.evaluate(overflowsInPage), [], `overflow at ${width} px`);
    const start = await page.evaluate(sparkStartInPage);
    assert.ok(start !== null && start < 0.1, `sparkline starts at ${start} of its width at ${width} px`);
    await page.screenshot({ path: path.join(OUT, `demo-${width}.png`) });
    await page.screenshot({ path: path.join(OUT, `demo-${width}-full.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1400, height: 1000 });
  const icon = await page.evaluate(async () => {
    const r = await fetch('/favicon.ico');
    return { status: r.status, type: r.headers.get('content-type'), size: (await r.arrayBuffer()).byteLength };
  });
  assert.deepEqual({ status: icon.status, type: icon.type }, { status: 200, type: 'image/x-icon' });
  assert.ok(icon.size > 0);
  assert.deepEqual(failed, [], 'every request of the page succeeds (favicon included)');
  assert.deepEqual(consoleErrors, [], 'no console error while live');

  // The server stops: the page says so.
  await stopDemo(demo.proc);
  await page.waitForFunction(() => ['reconnecting', 'connecting'].includes(document.querySelector('#status')?.dataset.status), null, { timeout: 15000 });
  await page.screenshot({ path: path.join(OUT, 'demo-reconnecting.png') });

  // It comes back on the same port: live again, with a fresh snapshot (a new process has a new epoch),
  // and the values keep moving.
  demo = await startDemo(port);
  await page.evaluate(() => window.dashfeedClient?.reconnect?.());
  await waitFor(page, () => document.querySelector('#status')?.dataset.status === 'live', null, 30000, 'live after the restart');
  const seq2 = await seqOf();
  await waitFor(page, (s) => {
    const el = document.querySelector('[data-dashboard="api"] [data-field="seq"]');
    return el && Number(el.textContent.replace(/\D/g, '')) > s;
  }, seq2, 10000, `api seq past ${seq2} after the restart`);
  const log = await page.$eval('#log', (el) => el.textContent);
  assert.match(log, /fresh snapshot|recovered/);
  await page.screenshot({ path: path.join(OUT, 'demo-after-restart.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await stopDemo(demo.proc);
});
