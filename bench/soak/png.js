'use strict';
// Rasterizes an SVG file to PNG with headless Chromium (playwright-core and Debian's chromium, as the e2e tests
// use them): `node bench/soak/png.js IN.svg OUT.png`. bench/soak/run.py draws the plot as SVG and calls this;
// exit 0 and nothing on stdout when done, exit 1 with the reason on stderr otherwise.
const fs = require('node:fs');
const path = require('node:path');
const { launchChromium } = require(path.join(__dirname, '..', '..', 'tests', 'e2e', 'helpers.js'));

async function main() {
  const [input, output] = process.argv.slice(2);
  const svg = fs.readFileSync(input, 'utf8');
  const width = Number((svg.match(/width="(\d+)"/) || [])[1] || 1200);
  const height = Number((svg.match(/height="(\d+)"/) || [])[1] || 800);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width, height } });
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${svg}</body></html>`);
    await page.screenshot({ path: output, clip: { x: 0, y: 0, width, height } });
  } finally {
    await browser.close();
  }
}

const timer = setTimeout(() => { console.error('png.js: no PNG within 60 s'); process.exit(1); }, 60000);
main().then(() => { clearTimeout(timer); process.exit(0); }, (e) => { console.error(`png.js: ${e.message}`); process.exit(1); });
