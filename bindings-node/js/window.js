// The JavaScript half of dashfeed's Aggregator: dictionary-encodes the text columns of
// `addMany()` and builds the result objects of `poll()` / `flush()`.
//
// Not a module: bindings-node/src/window.rs includes this file in the native addon (include_str!),
// and bindings-node/src/napi/script.rs compiles and runs it once per thread; it must stay one function
// expression returning the helpers. The native side does the aggregation; these do what JavaScript does far faster than
// Node-API calls can: look strings up in a dictionary (rather than copying every row's text out of V8),
// and make objects with a literal (rather than defining fourteen properties per object through
// Node-API) — a batch may hold a million rows, a poll a result per key.
//
// Each aggregator keeps, per text column (0: dashboards, 1: metrics), the names addMany last
// dictionary-encoded, so that a batch over names seen before costs neither a new dictionary nor a
// new copy of its names on the native side: `{ gen, names, seen, chars, categorical }`, in a
// WeakMap keyed by the aggregator (gone with it; `forget` drops it, as flush() does). `gen` names
// one list of names: the native side keeps its copy of `names` for that gen and reads only what
// was appended since (bindings-node/src/window/names.rs). Bounds: a column that holds more than
// MAX_NAMES names or MAX_CHARS UTF-16 units is started over by the next call (so at most that plus
// one call's names are kept); a categorical list is kept up to MAX_NAMES names and MAX_CHARS units.
// The gen returned with a list: > 0, the kept list of that gen; 0, a list for this call only, and
// what the native side kept for the column is stale (drop it); -1, a list for this call only, and
// what is kept stays as it is.
//
// codes(agg, column, texts) -> [gen, names, Uint32Array codes] with texts[i] === names[codes[i]],
// or the index of the first element that is not a string. The dictionary is a prototype-less
// object (a V8 dictionary-mode lookup by string is about twice as fast as a Map's): every row's
// type is checked before it is used as a key, so the number 5 is never the name "5". When the
// dictionary holds more than SMALL_FACTOR names per row of the batch plus SMALL_SPARE, a batch of
// fewer than SMALL_SPARE rows is encoded on its own (gen -1) and a larger one starts the dictionary
// over: the native side's and the core's work per call follows the number of names they are
// given, so a small call after large ones is not handed a million names, and a dictionary that
// outgrew the batches (far more keys than rows per batch) does not stay unused.
//
// categorical(agg, column, names) -> [gen, list]: the names to read (`list`), and the gen under
// which the native side may keep them. Names equal (===) one by one to the kept ones give the kept
// gen, and the native side reads nothing.
//
// forget(agg): drops what the aggregator keeps.
//
// results(n, strs, ids, nums, refs, qvals) -> Array of n objects with the keys of the core's
// WindowResult::to_value(), in its order:
//   strs  — the distinct strings of the batch (dashboards, metrics, tag keys and values, quantile
//           names);
//   ids   — Uint32Array, per result: the index in strs of its dashboard, then of its metric;
//   nums  — Float64Array, FIELDS per result: start, end, count, sum, min, max, mean, first, last,
//           final (1 or 0), number of tags, number of quantiles;
//   refs  — Uint32Array, per result in turn: its tags as (key, value) string indexes, then the
//           string index of each quantile name;
//   qvals — Float64Array, every quantile value in that same order.
(function windowHelpers() {
  'use strict';

  const FIELDS = 12;
  const SMALL_FACTOR = 8;
  const SMALL_SPARE = 4096;
  const MAX_NAMES = 1 << 20;
  const MAX_CHARS = 1 << 25;

  const kept = new WeakMap();
  let generation = 0;

  function fresh() {
    generation += 1;
    return { gen: generation, names: [], seen: null, chars: 0, categorical: false };
  }

  function columnsOf(agg) {
    let cols = kept.get(agg);
    if (cols === undefined) {
      cols = [fresh(), fresh()];
      kept.set(agg, cols);
    }
    return cols;
  }

  // Encodes `texts` into `seen` / `names`: the codes, or the index of the first non-string.
  function encode(texts, seen, names) {
    const n = texts.length;
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i += 1) {
      const s = texts[i];
      if (typeof s !== 'string') return i;
      let c = seen[s];
      if (c === undefined) {
        c = names.length;
        names.push(s);
        seen[s] = c;
      }
      out[i] = c;
    }
    return out;
  }

  function codes(agg, column, texts) {
    const cols = columnsOf(agg);
    let col = cols[column];
    const n = texts.length;
    if (col.names.length > MAX_NAMES || col.chars > MAX_CHARS) {
      col = fresh();
      cols[column] = col;
    }
    const large = col.names.length > SMALL_FACTOR * n + SMALL_SPARE;
    if (large && n < SMALL_SPARE) {
      // A small batch next to what the column keeps gets its own dictionary: the native side's
      // work per call follows the number of names it is given.
      const names = [];
      const out = encode(texts, Object.create(null), names);
      return typeof out === 'number' ? out : [-1, names, out];
    }
    // Started over when it outgrew the batches (many more keys than a batch holds rows: a
    // dictionary that size would cost every call more than it saves), or held categorical names.
    if (large || col.categorical) {
      col = fresh();
      cols[column] = col;
    }
    if (col.seen === null) col.seen = Object.create(null);
    const before = col.names.length;
    const out = encode(texts, col.seen, col.names);
    for (let k = before; k < col.names.length; k += 1) col.chars += col.names[k].length;
    return typeof out === 'number' ? out : [col.gen, col.names, out];
  }

  function categorical(agg, column, names) {
    const cols = columnsOf(agg);
    const col = cols[column];
    const n = names.length;
    if (col.categorical && col.names.length === n) {
      const list = col.names;
      let i = 0;
      while (i < n && list[i] === names[i]) i += 1;
      if (i === n) return [col.gen, list];
    }
    if (n > MAX_NAMES) {
      cols[column] = fresh();
      return [0, names];
    }
    const list = new Array(n);
    let chars = 0;
    for (let i = 0; i < n; i += 1) {
      const s = names[i];
      if (typeof s !== 'string') return [-1, names]; // refused by the native side; nothing changes
      list[i] = s;
      chars += s.length;
    }
    const next = fresh();
    cols[column] = next;
    if (chars > MAX_CHARS) return [0, list]; // read for this call only (list: no getters)
    next.names = list;
    next.chars = chars;
    next.categorical = true;
    return [next.gen, list];
  }

  function forget(agg) {
    kept.delete(agg);
  }

  /** Sets `obj[key] = value` as an own data property, even for the key "__proto__". */
  function put(obj, key, value) {
    if (key === '__proto__') {
      Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      obj[key] = value;
    }
  }

  function results(n, strs, ids, nums, refs, qvals) {
    const out = new Array(n);
    let r = 0;
    let q = 0;
    for (let i = 0; i < n; i += 1) {
      const j = i * FIELDS;
      const tags = {};
      for (let k = nums[j + 10]; k > 0; k -= 1, r += 2) put(tags, strs[refs[r]], strs[refs[r + 1]]);
      const quantiles = {};
      for (let k = nums[j + 11]; k > 0; k -= 1, r += 1, q += 1) put(quantiles, strs[refs[r]], qvals[q]);
      out[i] = {
        dashboard: strs[ids[2 * i]],
        metric: strs[ids[2 * i + 1]],
        tags,
        start: nums[j],
        end: nums[j + 1],
        count: nums[j + 2],
        sum: nums[j + 3],
        min: nums[j + 4],
        max: nums[j + 5],
        mean: nums[j + 6],
        first: nums[j + 7],
        last: nums[j + 8],
        quantiles,
        final: nums[j + 9] === 1,
      };
    }
    return out;
  }

  return { codes, categorical, forget, results };
})
