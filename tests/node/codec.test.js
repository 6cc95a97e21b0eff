'use strict';
// Codec of the Node binding: the cross-language vectors (tests/vectors/codec, see gen.py for the value
// notation), interoperability with the real msgpackr package, gzip, JSON, type mapping and every limit.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { Worker } = require('node:worker_threads');
const msgpackr = require('msgpackr');
const dashfeed = require('../..');

const VECTORS = path.join(__dirname, '..', 'vectors', 'codec');
const load = (name) => JSON.parse(fs.readFileSync(path.join(VECTORS, name), 'utf8'));

/** Rebuilds a vector value: {"$bin": hex} is bytes; everything else is JSON as is. */
function fromVector(v) {
  if (Array.isArray(v)) return v.map(fromVector);
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$bin') return Buffer.from(v.$bin, 'hex');
    const out = {};
    for (const k of keys) {
      Object.defineProperty(out, k, { value: fromVector(v[k]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

/** Asserts that `fn` throws a dashfeed error with `code` (an Error whose code is a known code). */
function throwsCode(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, `not an Error: ${err}`);
    assert.equal(err.code, code, err.message);
    assert.ok(dashfeed.errorCodes().includes(err.code));
    assert.ok(err.message.length > 0);
    return true;
  });
}

// The reference notes' update message and a 50-metric batch (~4 KiB: over the 1024-byte gzip threshold).
const UPDATE = {
  dashboard_id: 'ops',
  metric_name: 'cpu_utilization',
  value: 0.4231,
  timestamp: 1764288000123,
  metadata: { host: 'web-1', region: 'eu-west-1' },
};
const BATCH = {
  dashboard_id: 'ops',
  window: { start: 1764288000000, end: 1764288001000 },
  metrics: Array.from({ length: 50 }, (_, i) => ({
    metric_name: `service_${String(i).padStart(2, '0')}_latency_ms`,
    value: 12.5 + i * 0.731,
    timestamp: 1764288000000 + i * 7,
    metadata: { host: `web-${i % 8}`, region: 'eu-west-1', unit: 'ms' },
  })),
};

const PLAIN = { compressOver: null };
// msgpackr returns every 64-bit MessagePack integer as a BigInt by default; dashfeed writes integers past
// 32 bits (timestamps) in the 64-bit forms, as msgpack-python does, so msgpackr readers want 'auto'
// (a number within ±2^53, as dashfeed decodes).
const unpackr = new msgpackr.Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' });

test('values.json: exact msgpack-python bytes, decode, and JSON text', () => {
  const cases = load('values.json').cases;
  let replayed = 0;
  for (const c of cases) {
    if (c.node === false) continue;
    const value = fromVector(c.value);
    assert.equal(dashfeed.encode(value, PLAIN).toString('hex'), c.msgpack, c.name);
    assert.deepStrictEqual(dashfeed.decode(Buffer.from(c.msgpack, 'hex')), value, c.name);
    if (c.json !== undefined) {
      const json = { format: 'json', compressOver: null };
      assert.equal(dashfeed.encode(value, json).toString('utf8'), c.json, c.name);
      assert.deepStrictEqual(dashfeed.decode(Buffer.from(c.json), { format: 'json' }), value, c.name);
    }
    replayed += 1;
  }
  assert.ok(replayed >= 45, `only ${replayed} cases replayed`);
});

test('values.json cases JavaScript cannot express as numbers decode losslessly', () => {
  const byName = Object.fromEntries(load('values.json').cases.map((c) => [c.name, c]));
  const dec = (name) => dashfeed.decode(Buffer.from(byName[name].msgpack, 'hex'));
  assert.equal(dec('uint64_max'), 2n ** 64n - 1n);
  assert.equal(dec('int64_min'), -(2n ** 63n));
  assert.equal(dec('float_1.0'), 1);
  assert.equal(dec('float_1e100'), 1e100);
  // A bigint encodes to the same bytes msgpack-python writes for the int.
  assert.equal(dashfeed.encode(2n ** 64n - 1n).toString('hex'), byName.uint64_max.msgpack);
  assert.equal(dashfeed.encode(-(2n ** 63n)).toString('hex'), byName.int64_min.msgpack);
  assert.deepStrictEqual(dec('batch_50_metrics'), fromVector(byName.batch_50_metrics.value));
});

test('gzip.json: Python gzip decodes; our gzip decodes back with zlib and msgpackr', () => {
  for (const c of load('gzip.json').cases) {
    const value = fromVector(c.value);
    assert.deepStrictEqual(dashfeed.decode(Buffer.from(c.gzip, 'hex')), value, c.name);
    const ours = dashfeed.encode(value, { compressOver: c.compress_over });
    assert.equal(ours.subarray(0, 2).toString('hex'), '1f8b', c.name);
    const unzipped = zlib.gunzipSync(ours);
    assert.deepStrictEqual(unzipped, dashfeed.encode(value, PLAIN), c.name);
    assert.deepStrictEqual(dashfeed.decode(ours), value, c.name);
    assert.deepStrictEqual(unpackr.unpack(unzipped), value, c.name);
  }
  const update = load('gzip.json').cases.find((c) => c.name === 'update_gzipped_by_python');
  const ours = dashfeed.encode(fromVector(update.value), { compressOver: update.compress_over });
  assert.equal(zlib.gunzipSync(ours).toString('hex'), update.msgpack);
});

test('errors.json: every malformed input throws its code', () => {
  const doc = load('errors.json');
  for (const c of doc.errors) {
    const json = c.format === 'json';
    const bytes = json ? Buffer.from(c.text, 'utf8') : Buffer.from(c.hex, 'hex');
    throwsCode(() => dashfeed.decode(bytes, json ? { format: 'json' } : undefined), c.code);
  }
  for (const c of doc.ok) assert.doesNotThrow(() => dashfeed.decode(Buffer.from(c.hex, 'hex')), c.name);
});

test('msgpackr reads what dashfeed writes (update, 50-metric batch)', () => {
  for (const msg of [UPDATE, BATCH]) {
    assert.deepStrictEqual(unpackr.unpack(dashfeed.encode(msg, PLAIN)), msg);
  }
  // msgpackr's default reader: the same message, with the 64-bit timestamp as a BigInt.
  const { timestamp, ...rest } = msgpackr.unpack(dashfeed.encode(UPDATE));
  assert.equal(timestamp, BigInt(UPDATE.timestamp));
  assert.deepStrictEqual({ ...rest, timestamp: Number(timestamp) }, UPDATE);
  // Over the threshold the batch is gzipped, as the reference notes' serializer does.
  const wire = dashfeed.encode(BATCH);
  assert.equal(wire.subarray(0, 2).toString('hex'), '1f8b');
  assert.deepStrictEqual(unpackr.unpack(zlib.gunzipSync(wire)), BATCH);
});

test('dashfeed reads what msgpackr writes without its record extension', () => {
  // `pack` and `new Packr({ useRecords: false })` write standard MessagePack maps; a default
  // `new Packr()` writes msgpackr's record extension, which no other MessagePack reader understands.
  const packr = new msgpackr.Packr({ useRecords: false });
  for (const msg of [UPDATE, BATCH]) {
    assert.deepStrictEqual(dashfeed.decode(packr.pack(msg)), msg);
    assert.deepStrictEqual(dashfeed.decode(msgpackr.pack(msg)), msg);
    assert.deepStrictEqual(dashfeed.decode(zlib.gzipSync(packr.pack(msg))), msg);
  }
});

test("msgpackr's default record extension is a clear decode_error, not a crash", () => {
  const records = new msgpackr.Packr().pack(UPDATE);
  throwsCode(() => dashfeed.decode(records), 'decode_error');
  assert.match(
    (() => {
      try {
        dashfeed.decode(records);
      } catch (err) {
        return err.message;
      }
      return '';
    })(),
    /extension/,
  );
  assert.deepStrictEqual(dashfeed.decode(dashfeed.encode(UPDATE)), UPDATE);
});

test('gzip threshold: compressed only when the encoded bytes are longer than compressOver', () => {
  const text = 'x'.repeat(100); // str8: 2 header bytes + 100 = 102 bytes encoded
  const isGzip = (b) => b[0] === 0x1f && b[1] === 0x8b;
  assert.equal(dashfeed.encode(text, { compressOver: 102 }).length, 102);
  assert.ok(isGzip(dashfeed.encode(text, { compressOver: 101 })));
  assert.ok(!isGzip(dashfeed.encode(UPDATE)));
  assert.ok(isGzip(dashfeed.encode(BATCH)));
  assert.ok(dashfeed.encode(BATCH).length < dashfeed.encode(BATCH, PLAIN).length / 2);
  assert.ok(!isGzip(dashfeed.encode(BATCH, PLAIN)));
  assert.ok(isGzip(dashfeed.encode(UPDATE, { compressOver: 0 })));
  for (const level of [0, 1, 9]) {
    assert.deepStrictEqual(dashfeed.decode(dashfeed.encode(BATCH, { level })), BATCH);
  }
});

test('JSON format round trip, gzipped above the threshold', () => {
  const codec = new dashfeed.Codec({ format: 'json' });
  const text = codec.encode(UPDATE);
  assert.deepStrictEqual(JSON.parse(text.toString('utf8')), UPDATE);
  assert.equal(text.toString('utf8'), JSON.stringify(UPDATE));
  assert.deepStrictEqual(codec.decode(text), UPDATE);
  const big = codec.encode(BATCH);
  assert.deepStrictEqual(JSON.parse(zlib.gunzipSync(big).toString('utf8')), BATCH);
  assert.deepStrictEqual(codec.decode(big), BATCH);
  assert.deepStrictEqual(dashfeed.decode(Buffer.from(JSON.stringify(BATCH)), { format: 'json' }), BATCH);
  throwsCode(() => codec.encode({ raw: Buffer.from('ab') }), 'encode_error');
});

test('JS types in: numbers, bigints, bytes views, Map, class instances', () => {
  const hex = (v) => dashfeed.encode(v).toString('hex');
  assert.equal(hex(1), '01');
  assert.equal(hex(-0), 'cb8000000000000000'); // -0 is a float, as msgpackr decides
  assert.equal(hex(1.5), 'cb3ff8000000000000');
  assert.equal(hex(2 ** 53 - 1), 'cf001fffffffffffff');
  assert.equal(hex(2 ** 53), 'cb4340000000000000'); // past MAX_SAFE_INTEGER: a float
  assert.equal(hex(-(2 ** 31) - 1), 'd3ffffffff7fffffff');
  assert.equal(hex(5n), '05');
  assert.equal(hex(undefined), 'c0');
  assert.equal(hex(new Uint8Array([1, 2, 3])), 'c403010203');
  assert.equal(hex(new Uint16Array([1])), 'c4020100'); // any TypedArray: its bytes
  const backing = Buffer.from('00112233', 'hex');
  assert.equal(hex(backing.subarray(1, 3)), 'c4021122');
  assert.equal(hex(new DataView(backing.buffer, backing.byteOffset + 2, 2)), 'c4022233');
  assert.equal(hex(new Uint8Array([9]).buffer), 'c40109');
  assert.equal(hex(new Map([[1, 'a'], ['b', true]])), '8201a161a162c3');
  class Point {
    constructor() {
      this.x = 1;
      this.y = 2;
    }
    get norm() {
      return 3;
    }
  }
  assert.equal(hex(new Point()), hex({ x: 1, y: 2 }));
  const noProto = Object.assign(Object.create(null), { a: 1 });
  assert.equal(hex(noProto), hex({ a: 1 }));
  assert.equal(hex({ [Symbol('s')]: 1, k: 2 }), hex({ k: 2 })); // symbol keys are skipped
  throwsCode(() => dashfeed.encode(2n ** 64n), 'encode_error');
  throwsCode(() => dashfeed.encode(-(2n ** 63n) - 1n), 'encode_error');
});

test('JS types out: integers past 2^53 are BigInt, bytes are Buffers, other keys make a Map', () => {
  assert.equal(dashfeed.decode(Buffer.from('cf0020000000000000', 'hex')), 2n ** 53n);
  assert.equal(dashfeed.decode(Buffer.from('cf001fffffffffffff', 'hex')), 2 ** 53 - 1);
  assert.equal(dashfeed.decode(Buffer.from('d3ffe0000000000001', 'hex')), -(2 ** 53 - 1));
  assert.equal(dashfeed.decode(Buffer.from('d3ffe0000000000000', 'hex')), -(2n ** 53n));
  const bin = dashfeed.decode(Buffer.from('c40300ff10', 'hex'));
  assert.ok(Buffer.isBuffer(bin));
  assert.deepStrictEqual(bin, Buffer.from([0, 255, 16]));
  const mixed = dashfeed.decode(Buffer.from('8201a161a162c3', 'hex')); // {1: 'a', 'b': true}
  assert.ok(mixed instanceof Map);
  assert.deepStrictEqual([...mixed], [[1, 'a'], ['b', true]]);
  const obj = dashfeed.decode(Buffer.from('82a17a01a16102', 'hex'));
  assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  assert.deepStrictEqual(Object.keys(obj), ['z', 'a']); // map order kept
  // Every byte view decodes, at its own offset.
  const enc = dashfeed.encode(UPDATE);
  const padded = Buffer.concat([Buffer.from('ffff', 'hex'), enc]);
  assert.deepStrictEqual(dashfeed.decode(padded.subarray(2)), UPDATE);
  assert.deepStrictEqual(dashfeed.decode(new Uint8Array(enc)), UPDATE);
  assert.deepStrictEqual(dashfeed.decode(new Uint8Array(enc).buffer), UPDATE);
  assert.deepStrictEqual(dashfeed.decode(new DataView(padded.buffer, padded.byteOffset + 2, enc.length)), UPDATE);
  throwsCode(() => dashfeed.decode('not bytes'), 'unsupported_type');
  throwsCode(() => dashfeed.decode([1, 2]), 'unsupported_type');
});

test('a "__proto__" key is an own property and pollutes nothing', () => {
  // {"__proto__": {"polluted": 1}, "constructor": {"prototype": 2}}
  const bytes = Buffer.concat([
    Buffer.from('82a95f5f70726f746f5f5f81a8', 'hex'),
    Buffer.from('polluted'),
    Buffer.from('01ab', 'hex'),
    Buffer.from('constructor'),
    Buffer.from('81a9', 'hex'),
    Buffer.from('prototype'),
    Buffer.from('02', 'hex'),
  ]);
  const text = Buffer.from('{"__proto__":{"polluted":1},"constructor":{"prototype":2}}');
  for (const out of [dashfeed.decode(bytes), dashfeed.decode(text, { format: 'json' })]) {
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepStrictEqual(Object.keys(out), ['__proto__', 'constructor']);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(out, '__proto__').value, { polluted: 1 });
    assert.equal(out.polluted, undefined);
    assert.equal({}.polluted, undefined);
    assert.equal(Object.prototype.polluted, undefined);
    // and it survives a round trip as an ordinary key
    assert.equal(dashfeed.encode(out).toString('hex'), bytes.toString('hex'));
  }
});

test('unsupported types are unsupported_type naming the type', () => {
  const cases = [
    [() => {}, /function/],
    [Symbol('s'), /Symbol/],
    [new Date(0), /Date/],
    [new Set([1]), /Set/],
    [Promise.resolve(1), /Promise/],
  ];
  for (const [value, name] of cases) {
    throwsCode(() => dashfeed.encode({ nested: [value] }), 'unsupported_type');
    assert.throws(() => dashfeed.encode(value), name);
  }
});

test('nesting: cycles and depth over maxDepth are too_deep; 128 levels are fine', () => {
  const cyclic = { name: 'loop' };
  cyclic.self = cyclic;
  throwsCode(() => dashfeed.encode(cyclic), 'too_deep');
  const arr = [];
  arr.push(arr);
  throwsCode(() => dashfeed.encode(arr), 'too_deep');
  let deep = null;
  for (let i = 0; i < 128; i += 1) deep = [deep];
  assert.deepStrictEqual(dashfeed.decode(dashfeed.encode(deep)), deep);
  throwsCode(() => dashfeed.encode([deep]), 'too_deep');
  throwsCode(() => dashfeed.encode([[1]], { maxDepth: 1 }), 'too_deep');
  assert.equal(dashfeed.encode([[1]], { maxDepth: 2 }).toString('hex'), '919101');
  throwsCode(() => dashfeed.decode(Buffer.from('919101', 'hex'), { maxDepth: 1 }), 'too_deep');
});

test('a 64 MiB gzip bomb is too_large; the process and the next decode are fine', () => {
  const bomb = zlib.gzipSync(Buffer.alloc(64 << 20));
  assert.ok(bomb.length < 100 * 1024);
  throwsCode(() => dashfeed.decode(bomb), 'too_large');
  throwsCode(() => new dashfeed.Codec({ maxDecompressed: 1024 }).decode(dashfeed.encode(BATCH)), 'too_large');
  throwsCode(() => dashfeed.decode(Buffer.alloc(100), { maxInput: 99 }), 'too_large');
  assert.deepStrictEqual(dashfeed.decode(dashfeed.encode(BATCH)), BATCH);
});

test('a JS exception thrown while reading the value passes through unchanged', () => {
  const boom = new TypeError('getter failed');
  assert.throws(
    () =>
      dashfeed.encode({
        get x() {
          throw boom;
        },
      }),
    (err) => err === boom,
  );
  assert.deepStrictEqual(dashfeed.decode(dashfeed.encode(UPDATE)), UPDATE);
});

test('options are checked: invalid_input for bad values and types', () => {
  throwsCode(() => dashfeed.encode(1, { level: 10 }), 'invalid_input');
  throwsCode(() => dashfeed.encode(1, { level: 1.5 }), 'invalid_input');
  throwsCode(() => dashfeed.encode(1, { format: 'xml' }), 'invalid_input');
  throwsCode(() => dashfeed.encode(1, { format: 5 }), 'invalid_input');
  throwsCode(() => dashfeed.encode(1, { compressOver: -1 }), 'invalid_input');
  throwsCode(() => dashfeed.encode(1, { compressOver: 'big' }), 'invalid_input');
  throwsCode(() => dashfeed.encode(1, 5), 'invalid_input');
  throwsCode(() => dashfeed.decode(Buffer.from('01', 'hex'), { maxInput: 0 }), 'invalid_input');
  throwsCode(() => dashfeed.decode(Buffer.from('01', 'hex'), { maxDepth: NaN }), 'invalid_input');
  throwsCode(() => new dashfeed.Codec({ level: -1 }), 'invalid_input');
  assert.equal(dashfeed.encode(1, null).toString('hex'), '01');
});

test('Codec keeps its options and reports them', () => {
  const dflt = new dashfeed.Codec();
  assert.equal(dflt.format, 'msgpack');
  assert.equal(dflt.compressOver, 1024);
  assert.equal(typeof dflt.level, 'number');
  const c = new dashfeed.Codec({ format: 'json', compressOver: null, level: 9, maxDepth: 4 });
  assert.equal(c.format, 'json');
  assert.equal(c.compressOver, null);
  assert.equal(c.level, 9);
  assert.equal(String(c), 'Codec(format="json", compressOver=null, level=9)');
  assert.equal(c.encode(BATCH)[0], '{'.charCodeAt(0));
  throwsCode(() => c.encode([[[[[1]]]]]), 'too_deep');
  assert.deepStrictEqual(dflt.decode(dflt.encode(BATCH)), BATCH);
});

test('small outputs share slabs but never each other\'s bytes', () => {
  // 3000 small Buffers span many 8 KiB slabs; each keeps its own bytes after later encodes.
  const values = Array.from({ length: 3000 }, (_, i) => ({ i, name: `m${i}`, v: i / 7 }));
  const encoded = values.map((v) => dashfeed.encode(v));
  encoded.forEach((buf, i) => assert.deepStrictEqual(dashfeed.decode(buf), values[i]));
  assert.ok(encoded.every((b) => Buffer.isBuffer(b)));
  // A slab that JavaScript detaches (a transfer) is replaced, never written again.
  const first = dashfeed.encode({ a: 1 });
  structuredClone(first.buffer, { transfer: [first.buffer] });
  assert.equal(first.length, 0);
  for (let i = 0; i < 10; i += 1) {
    assert.deepStrictEqual(dashfeed.decode(dashfeed.encode({ after: i })), { after: i });
  }
});

test('encode and decode work in a worker thread as well', async () => {
  const script = `
    const { parentPort } = require('node:worker_threads');
    const dashfeed = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
    const bytes = dashfeed.encode({ from: 'worker', big: 2n ** 60n, m: new Map([[1, 2]]) });
    parentPort.postMessage(dashfeed.decode(bytes));
  `;
  const worker = new Worker(script, { eval: true });
  const message = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.deepStrictEqual(message, { from: 'worker', big: 2n ** 60n, m: new Map([[1, 2]]) });
  assert.deepStrictEqual(dashfeed.decode(dashfeed.encode(UPDATE)), UPDATE);
});

test('a maxDepth high enough to overflow the stack is refused up front', () => {
  assert.throws(() => dashfeed.decode(Buffer.from([0xc0]), { maxDepth: 10000 }), (e) => e.code === 'invalid_input');
  assert.throws(() => new dashfeed.Codec({ maxDepth: 10000 }), (e) => e.code === 'invalid_input');
  const deep = Buffer.concat([Buffer.alloc(300, 0x91), Buffer.from([0xc0])]);
  assert.ok(Array.isArray(dashfeed.decode(deep, { maxDepth: 512 })));
});

test('encode and decode on interleaved codecs, short-lived ones and foreign receivers reach the right object', () => {
  // `Codec.prototype.encode` / `decode` remember their last receiver (bindings-node/src/codec.rs,
  // `codec_encode`, through napi/glue.rs's ReceiverCache): each call must still use the options of the
  // object it was called on, and a foreign `this` must be refused.
  const packed = new dashfeed.Codec({ format: 'msgpack', compressOver: null });
  const text = new dashfeed.Codec({ format: 'json', compressOver: null });
  const zipped = new dashfeed.Codec({ format: 'msgpack', compressOver: 8 });
  const value = { metric: 'cpu', values: Array.from({ length: 20 }, (_, i) => i) };
  for (let i = 0; i < 5; i += 1) {
    const plain = packed.encode(value);
    assert.equal(plain[0], 0x82); // a map of two entries, not gzip
    assert.deepEqual(msgpackr.unpack(plain), value);
    assert.equal(text.encode(value).toString(), JSON.stringify(value));
    assert.ok(zlib.gunzipSync(zipped.encode(value)).equals(plain));
    assert.deepEqual(text.decode(Buffer.from(JSON.stringify(value))), value);
    assert.deepEqual(packed.decode(msgpackr.pack(value)), value);
  }
  // Short-lived codecs, each used once: a new object (perhaps where a collected one was) is never
  // taken for the previous one. Each has its own depth limit.
  for (let depth = 1; depth < 100; depth += 1) {
    const c = new dashfeed.Codec({ maxDepth: depth });
    const fits = JSON.parse('['.repeat(depth) + ']'.repeat(depth));
    const over = [fits];
    assert.deepEqual(c.decode(c.encode(fits)), fits);
    throwsCode(() => c.encode(over), 'too_deep');
  }
  if (global.gc) global.gc();
  assert.deepEqual(msgpackr.unpack(packed.encode(value)), value);
  const { encode, decode } = dashfeed.Codec.prototype;
  throwsCode(() => encode.call({}, 1), 'invalid_input');
  throwsCode(() => decode.call(new dashfeed.Hub(), Buffer.from([1])), 'invalid_input');
  throwsCode(() => encode.call(undefined, 1), 'invalid_input');
  assert.equal(text.encode(1).toString(), '1');
  // Argument errors are those of the napi-rs glue it replaces.
  throwsCode(() => packed.decode('text'), 'unsupported_type');
  throwsCode(() => packed.encode(() => 1), 'unsupported_type');
  assert.deepEqual(packed.encode(), Buffer.from([0xc0])); // a missing value is undefined: nil
});
