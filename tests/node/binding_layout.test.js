'use strict';
// The Node binding's layout rule (issue 14): raw Node-API lives in the kit, bindings-node/src/napi/,
// and in bindings-node/src/error.rs, where every JS error is built (the kit's calls check their
// status with it). A file elsewhere that uses raw Node-API, directly or through the kit, must name in
// its module docs the benchmark row that needs it ("Bench row(s): `node bench/X.js` ..."), and that
// benchmark must exist. Raw Node-API is: a Node-API call (`napi_call!`, `sys::napi_*(...)`), an
// `unsafe` block, a raw handle type (any `sys::napi_*`: `sys::napi_value`, `sys::napi_env`,
// `sys::napi_ref`, ...), the kit's raw helpers (`raw::...`) or its raw handle types (`js::Value`,
// `js::Env`, `js::Ref`, `js::Handle`, `js::Deferred`, also imported as `js::{self, Value, ...}`).
// Everything else holds napi-rs's safe types (`Unknown`, `Object`, `Function`, class instances,
// object structs), hands them to the kit's readers (`args`, `convert`, `walk`), calls the core and
// maps errors.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const SRC = path.join(ROOT, 'bindings-node', 'src');

/** Every .rs file below `dir`, as paths relative to SRC. */
function rustFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...rustFiles(full));
    else if (entry.name.endsWith('.rs')) out.push(path.relative(SRC, full));
  }
  return out;
}

/** The code of a Rust file without its comments (line comments and doc comments). */
function code(text) {
  return text
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('\n');
}

/** The module docs (`//!` lines) of a Rust file, joined. */
function moduleDocs(text) {
  return text
    .split('\n')
    .filter((line) => line.startsWith('//!'))
    .map((line) => line.slice(3).trim())
    .join(' ');
}

const RAW_HANDLE = String.raw`(?:Value|Env|Ref|Handle|Deferred)`;
const RAW = new RegExp(
  [
    String.raw`napi_call!`,
    String.raw`\bunsafe\b`,
    String.raw`\bsys::napi_\w+`,
    String.raw`\braw::`,
    String.raw`\bjs::${RAW_HANDLE}\b`,
    String.raw`\bjs::\{[^}]*\b${RAW_HANDLE}\b`,
  ].join('|'),
);
/** Files outside the kit that may use raw Node-API without a bench row (see the header). */
const EXEMPT = ['error.rs'];

test('raw Node-API outside the kit only where a bench row names the need', () => {
  const files = rustFiles(SRC).filter((f) => !f.startsWith(`napi${path.sep}`) && !EXEMPT.includes(f));
  assert.ok(files.length > 20, `found only ${files.length} files under ${SRC}`);
  const unjustified = [];
  const missingBench = [];
  let raw = 0;
  for (const f of files) {
    const text = fs.readFileSync(path.join(SRC, f), 'utf8');
    if (!RAW.test(code(text))) continue;
    raw += 1;
    const docs = moduleDocs(text);
    const named = [...docs.matchAll(/`node (bench\/[\w./-]+\.js)/g)].map((m) => m[1]);
    if (!/bench rows?:/i.test(docs) || named.length === 0) {
      unjustified.push(f);
      continue;
    }
    for (const bench of named) {
      if (!fs.existsSync(path.join(ROOT, bench))) missingBench.push(`${f} names ${bench}`);
    }
  }
  assert.deepEqual(unjustified, [], 'files with raw Node-API and no bench row in their module docs');
  assert.deepEqual(missingBench, [], 'bench rows naming a benchmark that does not exist');
  // The rule is not vacuous: the hot paths (hub delivery, codec walks, window columns) do use it.
  assert.ok(raw >= 5, `only ${raw} files use raw Node-API: did the scan break?`);
});

test('the scan sees a raw call in a file without a bench row', () => {
  const sample = '//! A wrapper.\nfn f(env: E) { napi_call!(napi_get_null(env, &mut v)) }\n';
  assert.ok(RAW.test(code(sample)));
  assert.ok(!/Bench rows?:/i.test(moduleDocs(sample)));
  const commented = '//! No unsafe here.\nfn f() {} // unsafe in a comment is not code\n';
  assert.ok(!RAW.test(code(commented)));
});

test('the scan sees raw handles taken through the kit', () => {
  for (const sample of [
    'fn f(env: sys::napi_env, v: sys::napi_value) {}',
    'fn f(t: sys::napi_ref) {}',
    'let s = raw::with_str(env, v, f)?;',
    'use crate::napi::raw::{self, napi_call};',
    'use crate::napi::js::{self, Env, Value};',
    'fn f(d: js::Deferred) {}',
  ]) {
    assert.ok(RAW.test(code(sample)), sample);
  }
  for (const sample of [
    'fn f(v: Unknown<\'_>) -> Result<Object<\'_>> {}',
    'let n = args::number(v.value().env, v.raw(), "n")?;',
    'use crate::napi::js;\njs::call_listener(env.raw(), f.raw(), &[])?;',
  ]) {
    assert.ok(!RAW.test(code(sample)), sample);
  }
});
