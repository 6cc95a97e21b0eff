// Issue 10: the reference notes' own browser client reads the feed. `dashfeed demo` on a spare port; the
// notes' `DashboardConnection` class (tests/e2e/fixtures/reference_client.js, unchanged but for the host)
// runs in headless Chromium on /dashboard/host and /dashboard/api and applies updates: every frame a
// plain client gets is JSON text (never a gzipped binary frame that `JSON.parse` would choke on).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { CHROMIUM, launchChromium, freePort, startDemo, stopDemo } = require('./helpers');

const CLIENT = fs.readFileSync(path.join(__dirname, 'fixtures', 'reference_client.js'), 'utf8');

test('the reference notes\' DashboardConnection applies updates from the demo', { skip: !fs.existsSync(CHROMIUM) && 'no chromium', timeout: 90000 }, async (t) => {
  const port = await freePort();
  const demo = await startDemo(port);
  t.after(() => demo.proc.exitCode === null && demo.proc.kill('SIGKILL'));
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${demo.url}/healthz`);
  await page.evaluate(`const DASHFEED_HOST = ${JSON.stringify(`127.0.0.1:${port}`)};\n${CLIENT}
    window.applied = [];
    DashboardConnection.prototype.applyUpdate = function (update) { window.applied.push(update); };
    window.connections = [new DashboardConnection('host'), new DashboardConnection('api')];`);
  // A snapshot and then at least one update on each dashboard, all parsed by JSON.parse.
  await page.waitForFunction(() => ['host', 'api'].every((d) => window.applied.some((u) => u.dashboard === d && u.type === 'update')), null, { timeout: 20000 });
  const applied = await page.evaluate(() => window.applied);
  assert.deepEqual(errors, []);
  for (const d of ['host', 'api']) {
    const mine = applied.filter((u) => u.dashboard === d);
    assert.equal(mine[0].type, 'snapshot');
    const seqs = mine.map((u) => u.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${d}: in seq order`);
  }
  const api = applied.filter((u) => u.dashboard === 'api' && u.type === 'update');
  assert.ok(api.some((u) => Object.keys(u.data).some((k) => k.startsWith('latency_ms'))), JSON.stringify(api[0]));
  await stopDemo(demo.proc);
});
