// The JavaScript half of dashfeed's Aggregator: dictionary-encodes the text columns of
// `addMany()` and builds the result objects of `poll()` / `flush()`.
//
// Not a module: bindings-node/src/window.rs includes this file in the native addon (include_str!),
// and bindings-node/src/napi/script.rs compiles and runs it once per thread; it must stay one function
// expression returning the helpers. The native side does the aggregation; these do what JavaScript does far faster than
// Node-API calls can: look strings up in a Map (rather than copying every row's text out of V8),
// and make objects with a literal (rather than defining fourteen properties per object through
// Node-API) — a batch may hold a million rows, a poll a result per key.
//
// codes(texts) -> [names, Uint32Array codes] with texts[i] === names[codes[i]], or the index of the
// first element that is not a string.
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

  function codes(texts) {
    const n = texts.length;
    const out = new Uint32Array(n);
    const seen = new Map();
    const names = [];
    for (let i = 0; i < n; i += 1) {
      const s = texts[i];
      let c = seen.get(s);
      if (c === undefined) {
        if (typeof s !== 'string') return i;
        c = names.length;
        names.push(s);
        seen.set(s, c);
      }
      out[i] = c;
    }
    return [names, out];
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

  return { codes, results };
})
