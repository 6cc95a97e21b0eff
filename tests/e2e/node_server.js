// A dashfeed server started from Node, driven by the Python end-to-end test over stdin/stdout (JSON lines):
// prints {"port": N}; then {"op":"publish","dashboard","data"} -> {"seq": N}; {"op":"stop"} -> {"stopped":true}.
'use strict';
const readline = require('node:readline');
const { Hub, Server } = require('../../index.js');

async function main() {
  const hub = new Hub();
  const server = new Server(hub, { port: 0 });
  const port = await server.listen();
  console.log(JSON.stringify({ port }));
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line);
    if (cmd.op === 'publish') console.log(JSON.stringify({ seq: hub.publish(cmd.dashboard, cmd.data) }));
    else if (cmd.op === 'stop') break;
  }
  await server.close();
  console.log(JSON.stringify({ stopped: true }));
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
