// A Python-started dashfeed server with Node clients: the real `ws` package and msgpackr.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { Unpackr } = require('msgpackr');
const { gunzipSync } = require('node:zlib');
const { jsonChild, once, messages } = require('./helpers');

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const decodeMsgpack = (buf) => unpackr.unpack(buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf);

test('python server, node ws client: snapshot, ordered updates, msgpack, resume, shutdown', async (t) => {
  const py = jsonChild('python3', ['tests/e2e/py_server.py']);
  t.after(() => py.kill());
  const { port } = await py.next();
  py.send({ op: 'publish', dashboard: 'ops', data: { cpu: 0.25 } });
  assert.deepEqual(await py.next(), { seq: 1 });

  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['dashfeed.v1.msgpack']);
  const next = messages(ws, decodeMsgpack);
  await once(ws, 'open');
  assert.equal(ws.protocol, 'dashfeed.v1.msgpack');
  ws.send(JSON.stringify({ op: 'subscribe', dashboard: 'ops' }));
  const snap = await next();
  assert.equal(snap.type, 'snapshot');
  assert.deepEqual(snap.data, { cpu: 0.25 });
  for (let i = 0; i < 20; i++) {
    py.send({ op: 'publish', dashboard: 'ops', data: { cpu: i / 100, host: 'web-1' } });
    await py.next();
  }
  const seqs = [];
  for (let i = 0; i < 20; i++) seqs.push((await next()).seq);
  assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => i + 2));
  ws.close();
  await once(ws, 'close');

  // Missed publications come back after a `recovered` header when resuming with since.
  for (let i = 0; i < 3; i++) { py.send({ op: 'publish', dashboard: 'ops', data: { n: i } }); await py.next(); }
  const again = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['dashfeed.v1.json']);
  const next2 = messages(again, (d) => JSON.parse(d.toString()));
  await once(again, 'open');
  again.send(JSON.stringify({ op: 'subscribe', dashboard: 'ops', since: { epoch: snap.epoch, seq: 21 } }));
  const rec = await next2();
  assert.equal(rec.type, 'recovered');
  assert.equal(rec.missed, 3);
  assert.deepEqual([(await next2()).data.n, (await next2()).data.n, (await next2()).data.n], [0, 1, 2]);

  // Graceful shutdown closes the client with 1001.
  const closed = once(again, 'close');
  py.send({ op: 'stop' });
  const [code] = await closed;
  assert.equal(code, 1001);
  assert.deepEqual(await py.next(), { stopped: true });
  await py.exited;
});
