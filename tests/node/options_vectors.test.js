'use strict';
// Replays tests/vectors/config/options.json (shared with the Rust and Python suites, format in its
// README.md): each case's Node options describe the expected config through the core, and the public
// constructor accepts them or throws the expected code.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dashfeed = require('../..');

const FILE = path.join(__dirname, '..', 'vectors', 'config', 'options.json');
const CASES = JSON.parse(fs.readFileSync(FILE, 'utf8')).cases.filter((c) => 'node' in c);

const BUILD = {
  breaker: (o) => new dashfeed.CircuitBreaker(o),
  limiter: (o) => new dashfeed.RateLimiter(o.rate, o.burst),
  hub: (o) => new dashfeed.Hub(o),
  subscribe: (o) => new dashfeed.Hub().subscribe('d', o).close(),
  server: (o) => new dashfeed.Server(new dashfeed.Hub(), o),
  auth: (o) => new dashfeed.Auth(o),
};

function thrown(fn) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return null;
}

test('the options vectors replay through the Node module', () => {
  assert.ok(CASES.length >= 50, `${CASES.length} cases`);
  for (const c of CASES) {
    const where = `${c.name}: ${JSON.stringify(c.node)}`;
    if ('error' in c) {
      assert.equal(thrown(() => dashfeed._describeOptions(c.module, c.node))?.code, c.error, where);
      assert.equal(thrown(() => BUILD[c.module](c.node))?.code, c.error, where);
    } else {
      assert.deepEqual(dashfeed._describeOptions(c.module, c.node), c.expect, where);
      BUILD[c.module](c.node);
    }
  }
});
