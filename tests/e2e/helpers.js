// Shared helpers of the end-to-end tests: child processes speaking JSON lines, bounded waits.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const readline = require('node:readline');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** Debian's Chromium (or $CHROMIUM_PATH). */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Headless Chromium through playwright-core, with the flags this closed network needs. */
function launchChromium() {
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

/** Starts the demo and resolves once it prints its URL. */
function startDemo(port) {
  const proc = spawn('python3', ['-m', 'dashfeed', 'demo', '--port', String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('demo did not start within 20 s')), 20000);
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/(http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(t); resolve({ proc, url: m[1] }); }
    });
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`demo exited with ${code}`)); });
  });
}

function stopDemo(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
    proc.on('exit', (code) => { clearTimeout(t); resolve(code); });
    proc.kill('SIGTERM');
  });
}


/** Starts `cmd args` and returns {proc, next(timeoutMs), send(obj), done}; stdout is read as JSON lines. */
function jsonChild(cmd, args, opts = {}) {
  const proc = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'], ...opts });
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { msg = { text: line }; }
    const w = waiters.shift();
    if (w) w.resolve(msg); else lines.push(msg);
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    exited,
    next(timeoutMs = 15000) {
      if (lines.length) return Promise.resolve(lines.shift());
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line from ${cmd} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ resolve: (m) => { clearTimeout(t); resolve(m); } });
      });
    },
    send(obj) { proc.stdin.write(JSON.stringify(obj) + '\n'); },
    kill() { if (proc.exitCode === null) proc.kill('SIGKILL'); },
  };
}

/** Resolves with the next `event` of `emitter` (or rejects after `ms`). */
function once(emitter, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (...args) => { clearTimeout(t); resolve(args); });
  });
}

/** A queue of the messages a `ws` client receives, decoded with `decode`. */
function messages(ws, decode) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data) => {
    const msg = decode(data);
    const w = waiters.shift();
    if (w) w(msg); else queue.push(msg);
  });
  return (ms = 10000) => {
    if (queue.length) return Promise.resolve(queue.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
      waiters.push((m) => { clearTimeout(t); resolve(m); });
    });
  };
}

module.exports = { ROOT, CHROMIUM, launchChromium, freePort, startDemo, stopDemo, jsonChild, once, messages };
