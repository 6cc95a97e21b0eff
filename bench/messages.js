'use strict';
// The messages the Node codec benchmarks encode and decode (bench/codec.js, bench/node_ab.js): the
// reference notes' update, a batch of 50 metrics (~4 KiB of MessagePack, gzipped over 1 KiB) and trace
// spans with bytes and BigInts. bench/codec.py builds the same update and batch.

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

// Trace spans: a 16-byte id (bin) and a nanosecond timestamp beyond 2^53 (a BigInt) per item.
const SPANS = {
  dashboard_id: 'ops',
  spans: Array.from({ length: 50 }, (_, i) => ({
    name: `service_${String(i).padStart(2, '0')}.handle`,
    trace_id: Buffer.from(Array.from({ length: 16 }, (_, b) => (i * 31 + b * 7) & 0xff)),
    start_ns: 1764288000000000000n + BigInt(i) * 7000003n,
    duration_ms: 12.5 + i * 0.731,
  })),
};

module.exports = { UPDATE, BATCH, SPANS };
