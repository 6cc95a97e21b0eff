// Shared helpers of the end-to-end tests: child processes speaking JSON lines, bounded waits.
'use strict';
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

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

module.exports = { ROOT, jsonChild, once, messages };
