'use strict';
// Replays tests/vectors/events/shapes.json (shared with the Rust and Python suites) through parseEvents:
// dashfeed's event shape and the reference notes' (dashboard_id / dashboardId / metric_name /
// timestamp / metadata), as objects, JSON bytes and MessagePack bytes (msgpackr).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { pack } = require('msgpackr');
const { parseEvents } = require('../..');

const FILE = path.join(__dirname, '..', 'vectors', 'events', 'shapes.json');
const { cases } = JSON.parse(fs.readFileSync(FILE, 'utf8'));

test('the vectors cover accepted and refused shapes', () => {
  assert.ok(cases.filter((c) => c.events).length >= 10);
  assert.ok(cases.filter((c) => c.error).length >= 10);
});

for (const c of cases) {
  test(`event shape: ${c.name}`, () => {
    const inputs = [c.input, Buffer.from(JSON.stringify(c.input))];
    for (const input of inputs) {
      if (c.error) {
        assert.throws(() => parseEvents(input), (e) => e instanceof Error && e.code === c.error);
      } else {
        assert.deepStrictEqual(parseEvents(input), c.events);
      }
    }
    if (!c.error) {
      assert.deepStrictEqual(parseEvents(pack(c.input), { format: 'msgpack' }), c.events);
    }
  });
}

test('a message over maxBytes is too_large', () => {
  const body = Buffer.from(JSON.stringify(Array(100).fill({ dashboard: 'd', metric: 'm', value: 1 })));
  assert.throws(() => parseEvents(body, { maxBytes: body.length - 1 }), (e) => e.code === 'too_large');
  assert.equal(parseEvents(body, { maxBytes: body.length }).length, 100);
});
