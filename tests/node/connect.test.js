// Connectors from Node against real brokers started here (redis-server, the tansu Kafka-protocol broker):
// Redis stream source → Hub with the cache, stream and pub/sub sinks; Kafka source → Aggregator and the Kafka
// sink; Pipeline from TOML; refusals with codes (bad options, a full sink). Every wait is bounded.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { spawnSync, execFileSync } = require('node:child_process');
const WebSocket = require('ws');
const dashfeed = require('../../index.js');
const { waitFor, RedisServer, TansuBroker } = require('./brokers.js');

const { Hub, Aggregator, Pipeline, RedisCache, RedisStreamSource, RedisStreamSink, RedisPubSubSource,
  RedisPubSubSink, KafkaSource, KafkaSink } = dashfeed;
const ROOT = path.resolve(__dirname, '..', '..');
let n = 0;
const unique = (p) => `${p}-${process.pid}-${++n}`;

async function rejectsCode(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `${e.message} has code ${e.code}`);
    return true;
  });
}

function throwsCode(fn, code) {
  assert.throws(fn, (e) => {
    assert.equal(e.code, code, `${e.message} has code ${e.code}`);
    return true;
  });
}

/** The `count` next messages of `sub` (bounded wait). */
async function take(sub, count, ms = 20000) {
  const got = [];
  const deadline = Date.now() + ms;
  while (got.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${got.length} of ${count} messages`);
    got.push(...sub.tryRecvMany(count - got.length));
    if (got.length < count) await new Promise((r) => setTimeout(r, 5));
  }
  return got;
}

test('Redis connectors from Node: stream source → hub → cache, stream sink and pub/sub sink', async (t) => {
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const r = redis.client;
  const stream = unique('metrics');
  const dlq = unique('rejected');
  const hub = new Hub();
  const sub = hub.subscribe('web');
  assert.equal(sub.tryRecv().kind, 'snapshot');

  const listener = redis.newClient();
  await listener.connect();
  const heard = [];
  await listener.subscribe('updates:web', (m) => heard.push(JSON.parse(m)));

  const cache = new RedisCache({ url: redis.url, prefix: 'node:', ttl_s: 60 }).attach(hub);
  const out = new RedisStreamSink({ url: redis.url, stream: `${stream}:out`, maxlen: 1000 }).attach(hub);
  const ps = new RedisPubSubSink({ url: redis.url, channel: 'updates:{dashboard}' }).attach(hub);
  const src = new RedisStreamSource({ url: redis.url, stream, group: 'g', block_ms: 50, dead_letter: dlq });
  assert.equal(src.attach(hub), src, 'attach returns the source');
  for (let i = 0; i < 100; i++) {
    await r.xAdd(stream, '*', { data: JSON.stringify({ dashboard: 'web', metric: `m${i % 5}`, value: i }) });
  }
  await r.xAdd(stream, '*', { data: '{not json' });
  await r.xAdd(stream, '*', { data: JSON.stringify({ dashboard: 'web', metric: 'after_bad', value: 1 }) });

  const got = await take(sub, 101);
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 101 }, (_, i) => i + 1), 'every event once, in order');
  // Counters move just after the publication a subscriber sees: wait for them, bounded.
  await waitFor('the bad entry and every event counted', () => {
    const s = src.stats();
    return s.rejected.decode_error === 1 && s.events === 101 && s.deadLettered === 1;
  });
  const stats = src.stats();
  assert.equal(stats.events, 101);
  assert.equal(stats.up, true);
  assert.equal(stats.breaker, 'closed');
  assert.equal(stats.deadLettered, 1);
  assert.equal(await r.xLen(dlq), 1, 'the bad entry is in the dead-letter stream');
  await waitFor('everything acknowledged', async () => (await r.xPending(stream, 'g')).pending === 0);

  await Promise.all([cache.flush(), out.flush(), ps.flush()]);
  const cached = await r.hGetAll('node:web');
  assert.deepEqual(Object.keys(cached).sort(), ['after_bad', 'm0', 'm1', 'm2', 'm3', 'm4']);
  assert.equal(JSON.parse(cached.m4).value, 99);
  assert.equal((await cache.load('web')).m4, 99);
  assert.equal(await r.xLen(`${stream}:out`), 101);
  await waitFor('the pub/sub sink heard', () => heard.length === 101);
  assert.equal(heard[100].dashboard, 'web');
  assert.equal(heard[100].seq, 101);

  // A restarted node: a new hub seeded from the cache serves the latest values at once.
  const fresh = new Hub();
  assert.equal(await cache.seed(fresh), 1);
  assert.equal(fresh.snapshot('web').data.m4, 99);

  await src.stop();
  await Promise.all([cache.close(), out.close(), ps.close()]);
  throwsCode(() => src.stats(), 'closed');
});

test('a Redis pub/sub source publishes what a real client PUBLISHes', async (t) => {
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const hub = new Hub();
  const sub = hub.subscribe('ops');
  sub.tryRecv();
  const src = new RedisPubSubSource({ url: redis.url, channels: ['metrics'] }).attach(hub);
  // Subscribed once the server counts the subscriber.
  await waitFor('the source subscribed', async () => (await redis.client.pubSubNumSub('metrics')).metrics === 1);
  for (let i = 0; i < 10; i++) {
    await redis.client.publish('metrics', JSON.stringify({ dashboard: 'ops', metric: 'cpu', value: i }));
  }
  const got = await take(sub, 10);
  assert.deepEqual(got.map((m) => m.data.cpu), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await src.stop();
});

test('Kafka from Node: a confluent-kafka producer → KafkaSource → Aggregator; KafkaSink writes results', async (t) => {
  const kafka = await TansuBroker.start();
  t.after(() => kafka.stop());
  const topic = unique('in');
  const outTopic = unique('dashboard-updates');
  kafka.createTopic(topic, 2);
  kafka.createTopic(outTopic, 1);
  const t0 = Math.floor(Date.now() / 1000) * 1000;
  const events = Array.from({ length: 200 }, (_, i) => ({ dashboard: 'd', metric: 'rps', value: 1, ts: t0 + i }));
  kafka.produce(topic, events);
  const agg = new Aggregator({ window: '1s', quantiles: [0.5] });
  const src = new KafkaSource({ brokers: kafka.bootstrap, topics: [topic], group: unique('g'), session_timeout_ms: 6000 })
    .attach(agg);
  await waitFor('every event applied', () => src.stats().events === 200, 40000);
  await src.stop();
  agg.advanceTo(t0 + 5000);
  const results = agg.poll();
  assert.deepEqual(results.map((x) => [x.count, x.sum]), [[200, 200]]);

  const hub = new Hub();
  const sink = new KafkaSink({ brokers: kafka.bootstrap, topic: outTopic }).attach(hub);
  hub.publishResults(results);
  await sink.flush(15000);
  assert.equal(sink.stats().events, 1);
  await sink.close();
  const script = 'import sys, json\nfrom confluent_kafka import Consumer\n'
    + 'c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[3], "auto.offset.reset": "earliest", "session.timeout.ms": 6000})\n'
    + 'c.subscribe([sys.argv[2]])\n'
    + 'for _ in range(80):\n'
    + '    m = c.poll(0.5)\n'
    + '    if m is not None and m.error() is None:\n'
    + '        print(json.dumps({"key": m.key().decode(), "value": json.loads(m.value())})); break\n'
    + 'c.close()\n';
  const line = execFileSync('python3', ['-c', script, kafka.bootstrap, outTopic, unique('check')], { timeout: 60000 })
    .toString().trim();
  const msg = JSON.parse(line);
  assert.equal(msg.key, 'd', 'keyed by dashboard');
  assert.equal(msg.value.dashboard, 'd');
  assert.equal(msg.value.data.rps.count, 200);
});

test('a Pipeline from TOML serves what its Redis stream source reads, and caches it', async (t) => {
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const stream = unique('in');
  const toml = `
[server]
host = "127.0.0.1"
port = 0
[hub]
history = 64
[[source]]
kind = "redis_stream"
url = "${redis.url}"
stream = "${stream}"
block_ms = 50
[[sink]]
kind = "redis_cache"
url = "${redis.url}"
`;
  const pipeline = new Pipeline(toml);
  t.after(() => pipeline.close()); // closing twice does nothing
  const url = await pipeline.start();
  assert.equal(url, pipeline.url);
  const ws = new WebSocket(`${url.replace('http', 'ws')}/dashboard/ops`, ['dashfeed.v1.json']);
  t.after(() => ws.terminate());
  const messages = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  await waitFor('the snapshot', () => messages.length === 1);
  const ts = Date.now();
  await redis.client.xAdd(stream, '*', { data: JSON.stringify({ dashboard_id: 'ops', metric_name: 'cpu', value: 0.42,
    timestamp: ts, metadata: { host: 'h1' } }) });
  await waitFor('the update', () => messages.length === 2);
  // The reference notes' layout; the host is part of the series name, so two hosts never overwrite each other.
  const entry = { value: 0.42, timestamp: ts, metadata: { host: 'h1' } };
  assert.deepEqual(messages[1].data, { 'cpu{host=h1}': entry });
  const links = pipeline.links();
  assert.equal(links.length, 2);
  assert.ok(links.every((l) => l.up), JSON.stringify(links));
  await pipeline.flush();
  const cached = JSON.parse((await redis.client.hGetAll('dashboard:ops'))['cpu{host=h1}']);
  assert.deepEqual(cached, entry, 'the cache keeps the event\'s timestamp and metadata');
  const closed = new Promise((r) => ws.once('close', (code) => r(code)));
  await pipeline.close();
  assert.equal(await closed, 1001);
  throwsCode(() => pipeline.url, 'closed');
});

test('bad config and bad options are invalid_input naming the key (and the line)', async () => {
  throwsCode(() => new Pipeline('[server]\nport = 0\nprot = 1\n'), 'invalid_input');
  try {
    new Pipeline('[[sink]]\nkind = "redis_stream"\nmaxlen = "5"\n');
    assert.fail('accepted');
  } catch (e) {
    assert.equal(e.code, 'invalid_input');
    assert.match(e.message, /line 3/);
    assert.match(e.message, /maxlen/);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashfeed-'));
  const file = path.join(dir, 'bad.toml');
  fs.writeFileSync(file, '[hub]\nhistory = "many"\n');
  assert.throws(() => Pipeline.fromFile(file), (e) => e.code === 'invalid_input' && e.message.includes('bad.toml'));
  assert.throws(() => new RedisCache({ url: 'redis://127.0.0.1:1', ttl: '60' }),
    (e) => e.code === 'invalid_input' && e.message.includes('`ttl`: unknown field'));
  assert.throws(() => new KafkaSource({ brokers: '127.0.0.1:1' }), /topics/);
  throwsCode(() => new RedisStreamSource({ stream: 's' }).attach({}), 'invalid_input');
  const unused = new RedisCache({ url: 'redis://127.0.0.1:1' });
  await rejectsCode(unused.flush(-1), 'invalid_input');
  await unused.close(100);
  assert.throws(() => new RedisCache({ kind: 'kafka' }), /`kind` is set by the class/);
  assert.throws(() => new RedisStreamSink({ url: 'redis://127.0.0.1:1', queue: { linger_ms: 10001 } }),
    (e) => e.code === 'invalid_input' && e.message.includes('linger_ms'));
});

test('a full sink refuses publications with slow_consumer and loses nothing it accepted', async () => {
  const hub = new Hub();
  const sub = hub.subscribe('ops');
  sub.tryRecv();
  const sink = new RedisStreamSink({ url: 'redis://127.0.0.1:1', stream: 'never', queue: { max_records: 10, batch: 5 } })
    .attach(hub);
  let accepted = 0;
  let refused = null;
  for (let i = 0; i < 1000 && !refused; i++) {
    try {
      hub.publish('ops', { cpu: i });
      accepted++;
    } catch (e) {
      refused = e;
    }
  }
  assert.ok(refused, 'a full sink refuses');
  assert.equal(refused.code, 'slow_consumer');
  assert.ok(accepted >= 10 && accepted <= 15, `queue bound 10 (+ one batch in flight): ${accepted}`);
  assert.equal(hub.snapshot('ops').seq, accepted);
  assert.deepEqual(hub.snapshot('ops').data, { cpu: accepted - 1 });
  const got = await take(sub, accepted);
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: accepted }, (_, i) => i + 1));
  const stats = sink.stats();
  assert.ok(stats.queued <= 10 && stats.full >= 1, JSON.stringify(stats));
  await rejectsCode(sink.close(200), 'timeout');
  throwsCode(() => sink.attach(hub), 'closed'); // a closed sink would refuse every publication
  assert.equal(hub.publish('ops', { cpu: -1 }), accepted + 1, 'the hub publishes again once the sink is gone');
});

test('npx dashfeed serve --check validates the example config and names a bad key', () => {
  const cli = path.join(ROOT, 'bindings-node', 'js', 'cli.js');
  const ok = spawnSync(process.execPath, [cli, 'serve', '--config', path.join(ROOT, 'examples', 'dashfeed.toml'), '--check'],
    { encoding: 'utf8', timeout: 30000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /is valid/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashfeed-'));
  const bad = path.join(dir, 'bad.toml');
  fs.writeFileSync(bad, '[server]\nport = 0\n\n[[source]]\nkind = "kafka"\ntopics = ["x"]\nbatchsize = 5\n');
  const no = spawnSync(process.execPath, [cli, 'serve', '--config', bad, '--check'], { encoding: 'utf8', timeout: 30000 });
  assert.equal(no.status, 2);
  assert.match(no.stderr, /`batchsize`: unknown field/);
  assert.match(no.stderr, /line 7/);
  assert.match(no.stderr, /invalid_input/);
});
