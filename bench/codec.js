'use strict';
// Codec benchmark, Node side: dashfeed vs msgpackr (+ zlib gzip above 1 KiB, the reference notes'
// serializer) and JSON.stringify / JSON.parse, on the same messages as bench/codec.py.
//
// Run: node bench/codec.js [--rounds 7] [--seconds 0.2]   (after `npm install`, which builds release)
// Prints a Markdown table: median ns/op over the rounds, and the speed ratio peer_ns / dashfeed_ns (> 1
// means dashfeed is faster). MessagePack peers are compared with dashfeed's MessagePack codec, JSON peers
// with dashfeed's JSON codec. The machine is noisy: compare ratios, not absolute numbers.
//
// The "spans with bytes" message has a Buffer and a BigInt-range integer in each of its 50 items: JSON cannot
// carry them, so dashfeed's decode builds its value node by node through Node-API
// (bindings-node/src/build.rs) instead of writing JSON for JSON.parse (the other two messages). It has no
// JSON rows (JSON.stringify refuses BigInt).

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { pack, unpack, Unpackr } = require('msgpackr');
const dashfeed = require('..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const ROUNDS = arg('rounds', 7);
const SECONDS = arg('seconds', 0.2);

const { UPDATE, BATCH, SPANS } = require('./messages');

const codec = new dashfeed.Codec({ format: 'msgpack', compressOver: 1024 });
const jcodec = new dashfeed.Codec({ format: 'json', compressOver: null });
// Same gzip level as dashfeed's codec, so the gzip work is like for like.
const GZIP = { level: codec.level };
// dashfeed decodes 64-bit integers within ±2^53 to numbers; ask msgpackr for the same.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' });

/** The reference notes' serializer with msgpackr: pack, gzip when over 1 KiB. */
function refEncode(msg) {
  const packed = pack(msg);
  return packed.length > 1024 ? zlib.gzipSync(packed, GZIP) : packed;
}
/** ...and its reader, with a magic-byte check rather than try/catch. */
function refDecode(buf) {
  return unpackr.unpack(buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf);
}

let sink; // keeps results alive so that nothing is optimised away

/** Median ns per call over ROUNDS rounds of ~SECONDS each. */
function bench(fn) {
  let n = 1;
  let elapsed = 0;
  for (let i = 0; i < 24; i += 1) {
    const t = process.hrtime.bigint();
    for (let j = 0; j < n; j += 1) sink = fn();
    elapsed = Number(process.hrtime.bigint() - t);
    if (elapsed > (SECONDS * 1e9) / 4) break;
    n *= 2;
  }
  n = Math.max(1, Math.round((n * SECONDS * 1e9) / Math.max(elapsed, 1)));
  const samples = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    const t = process.hrtime.bigint();
    for (let j = 0; j < n; j += 1) sink = fn();
    samples.push(Number(process.hrtime.bigint() - t) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

function main() {
  const rows = [];
  for (const [name, msg, json] of [
    ['update (reference msg)', UPDATE, true],
    ['batch 50 metrics', BATCH, true],
    ['spans with bytes', SPANS, false],
  ]) {
    const wire = codec.encode(msg);
    const ref = refEncode(msg);
    const size = `${dashfeed.encode(msg, { compressOver: null }).length} B msgpack, ${wire.length} B on the wire`;
    const groups = {
      encode: [
        ['dashfeed (msgpack+gzip)', () => codec.encode(msg), 'msgpack'],
        ['msgpackr pack + zlib.gzipSync', () => refEncode(msg), 'msgpack'],
      ],
      decode: [
        ['dashfeed (msgpack+gzip)', () => codec.decode(wire), 'msgpack'],
        ['msgpackr unpack + zlib.gunzipSync', () => refDecode(ref), 'msgpack'],
      ],
    };
    if (json) {
      const text = JSON.stringify(msg);
      const jbytes = Buffer.from(text);
      groups.encode.push(['dashfeed json', () => jcodec.encode(msg), 'json'], ['JSON.stringify', () => JSON.stringify(msg), 'json']);
      groups.decode.push(['dashfeed json', () => jcodec.decode(jbytes), 'json'], ['JSON.parse', () => JSON.parse(text), 'json']);
    } else {
      // The builder's output: JSON.parse could give neither a Buffer nor a BigInt.
      const span = codec.decode(wire).spans[0];
      if (!Buffer.isBuffer(span.trace_id) || typeof span.start_ns !== 'bigint') {
        throw new Error('the spans message did not decode through the builder');
      }
    }
    for (const [op, fns] of Object.entries(groups)) {
      const base = {};
      for (const [lib, fn, family] of fns) {
        const ns = bench(fn);
        const own = lib.startsWith('dashfeed');
        if (own) base[family] = ns;
        rows.push({ name, size, op, lib, ns, ratio: own ? null : ns / base[family] });
      }
    }
  }
  const pkg = (p) => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'node_modules', p, 'package.json'))).version;
  console.log(
    `node ${process.versions.node}, dashfeed ${require('../package.json').version}, msgpackr ${pkg('msgpackr')}, ` +
      `gzip level ${codec.level}; median of ${ROUNDS} rounds\n`,
  );
  console.log('| message | op | library | ns/op (median) | peer / dashfeed |');
  console.log('|---|---|---|---:|---:|');
  for (const r of rows) {
    const rel = r.ratio === null ? '1.00 (baseline)' : `${r.ratio.toFixed(2)}x`;
    const ns = Math.round(r.ns).toLocaleString('en-US');
    console.log(`| ${r.name} (${r.size}) | ${r.op} | ${r.lib} | ${ns} | ${rel} |`);
  }
  return sink;
}

main();
