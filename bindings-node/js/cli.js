#!/usr/bin/env node
// `npx dashfeed demo [--port N] [--host H] [--open]`: the live dashboard demo, and
// `npx dashfeed serve --config dashfeed.toml [--check]`: sources → aggregator → hub → sinks and the server
// from a config file. A thin shell over the core's Demo and Pipeline (the same ones `dashfeed demo` /
// `dashfeed serve` run from Python). Exit codes: 0 done, 1 failed at run time, 2 bad arguments or config.
'use strict';
const { Demo, Pipeline } = require('../../index.js');

const USAGE = 'usage: dashfeed demo [--port N] [--host H] [--open]\n'
  + '       dashfeed serve --config FILE [--check]';

function parse(argv) {
  const [command, ...rest] = argv;
  if (command === 'demo') {
    const opts = { host: '127.0.0.1', port: 8080, open: false };
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i];
      if (a === '--open') opts.open = true;
      else if (a === '--port') opts.port = Number(rest[++i]);
      else if (a === '--host') opts.host = rest[++i];
      else throw new Error(`unknown option ${a}`);
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port needs 0..65535');
    return { command, opts };
  }
  if (command === 'serve') {
    const opts = { config: null, check: false };
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i];
      if (a === '--check') opts.check = true;
      else if (a === '--config') opts.config = rest[++i];
      else throw new Error(`unknown option ${a}`);
    }
    if (!opts.config) throw new Error('serve needs --config FILE');
    return { command, opts };
  }
  throw new Error(USAGE);
}

/** Runs until SIGINT / SIGTERM, then `stop()` and exit 0. */
function untilSignal(name, stopping, stop) {
  const onSignal = async () => {
    console.log(`dashfeed ${name}: ${stopping}`);
    try {
      await stop();
    } catch (e) {
      console.error(`dashfeed ${name}: ${e.message} (code ${e.code})`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  setInterval(() => {}, 1 << 30); // keep the event loop alive while the engine runs on its own threads
}

async function demo(opts) {
  const d = new Demo(opts);
  const url = await d.start();
  console.log(`dashfeed demo: live dashboards at ${url}  (Ctrl-C to stop)`);
  untilSignal('demo', 'stopping', () => d.close());
}

async function serve(opts) {
  let pipeline;
  try {
    pipeline = Pipeline.fromFile(opts.config);
  } catch (e) {
    console.error(`dashfeed serve: ${e.message} (code ${e.code})`);
    process.exit(2);
  }
  if (opts.check) {
    console.log(`dashfeed serve: ${opts.config} is valid`);
    return;
  }
  const url = await pipeline.start();
  console.log(`dashfeed serve: listening at ${url}  (Ctrl-C to stop)`);
  untilSignal('serve', 'stopping (sources commit, sinks flush)', () => pipeline.close());
}

async function main() {
  let parsed;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`dashfeed: ${e.message}`);
    process.exit(2);
  }
  if (parsed.command === 'demo') await demo(parsed.opts);
  else await serve(parsed.opts);
}

main().catch((e) => {
  console.error(`dashfeed: ${e.message}${e.code ? ` (code ${e.code})` : ''}`);
  process.exit(1);
});
