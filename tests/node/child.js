'use strict';
// Shared by the Node tests (not a test file): runs a snippet in a child `node` process with the
// repository as its working directory (so `require('.')` is dashfeed), bounded by a timeout, for
// what must not take the test process down with it (a hang, a deadlock, a process that must exit).

const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** Runs `code` (`node [...flags] -e code`); resolves { status, out, err }, rejects after `ms` ms. */
function runChild(code, ms, flags = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child still running after ${ms} ms (a dangling handle, a deadlock?) ${err}`));
    }, ms);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, out, err });
    });
  });
}

module.exports = { runChild };
