'use strict';
// Shared by the window tests (not a test file): the rows of an `Aggregator.pollColumns()` object as the
// plain result objects `poll()` returns, so that both forms can be compared with deepEqual; and the
// tests' deterministic PRNG.

/** The rows of `cols` (a pollColumns() / flushColumns() object), in order. */
function columnRows(cols) {
  const out = [];
  for (let i = 0; i < cols.length; i += 1) {
    const quantiles = {};
    for (const [name, col] of Object.entries(cols.quantiles)) quantiles[name] = col[i];
    out.push({
      dashboard: cols.dashboard.names[cols.dashboard.codes[i]],
      metric: cols.metric.names[cols.metric.codes[i]],
      tags: { ...cols.tags.sets[cols.tags.codes[i]] },
      start: cols.start[i],
      end: cols.end[i],
      count: cols.count[i],
      sum: cols.sum[i],
      min: cols.min[i],
      max: cols.max[i],
      mean: cols.mean[i],
      first: cols.first[i],
      last: cols.last[i],
      quantiles,
      final: cols.final[i] === 1,
    });
  }
  return out;
}

/** A small deterministic PRNG (mulberry32), so that batches are reproducible. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { columnRows, rng };
