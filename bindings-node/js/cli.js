#!/usr/bin/env node
// `npx dashfeed demo [--port N] [--host H] [--open]`: the live dashboard demo from the Node package, a thin
// shell over the core's Demo (the same one `dashfeed demo` runs from Python).
'use strict';
const { Demo } = require('../../index.js');

function parse(argv) {
  const [command, ...rest] = argv;
  const opts = { host: '127.0.0.1', port: 8080, open: false };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--open') opts.open = true;
    else if (a === '--port') opts.port = Number(rest[++i]);
    else if (a === '--host') opts.host = rest[++i];
    else throw new Error(`unknown option ${a}`);
  }
  if (command !== 'demo') throw new Error('usage: dashfeed demo [--port N] [--host H] [--open]');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port needs 0..65535');
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`dashfeed: ${e.message}`);
    process.exit(2);
  }
  const demo = new Demo(opts);
  const url = await demo.start();
  console.log(`dashfeed demo: live dashboards at ${url}  (Ctrl-C to stop)`);
  const stop = async () => {
    console.log('dashfeed demo: stopping');
    await demo.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  setInterval(() => {}, 1 << 30); // keep the event loop alive while the demo runs on its own threads
}

main().catch((e) => {
  console.error(`dashfeed demo: ${e.message}`);
  process.exit(1);
});
