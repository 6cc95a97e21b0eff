'use strict';
// Load-generator clients for bench/server/load.js.
//
// The default client is a minimal WebSocket client over `net` (RFC 6455 handshake, unmasked server
// frames parsed in place, pings answered with pongs, Engine.IO heartbeats answered for socket.io): the
// same cheap code for every contender, so that the load generator's own CPU limits the measurement as
// little as possible. Only every `sample`-th client looks inside frames (for `ts` and `step`); the
// others count frames. `--client lib` uses the `ws` package (and `socket.io-client` for socket.io)
// instead, as a cross-check.
//
// A client reports to a shared `Tally`: delivered frames, and latency samples (µs) of the current step.

const crypto = require('node:crypto');
const net = require('node:net');

/** CLOCK_MONOTONIC in µs (same clock as the servers' `ts`). */
function monoUs() {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1e3);
}

/** Counters shared by every client. */
class Tally {
  constructor() {
    this.delivered = 0;
    this.step = -1;
    this.latencies = [];
    this.bytes = 0;
    this.sampledFrames = 0;
  }

  /** One update frame; `text` (sampled clients only) is its payload. */
  frame(text) {
    this.delivered += 1;
    if (text === undefined) return;
    const now = monoUs();
    this.sampledFrames += 1;
    this.bytes += Buffer.byteLength(text);
    const step = intAfter(text, '"step":');
    const ts = intAfter(text, '"ts":');
    if (step === this.step && ts > 0) this.latencies.push(now - ts);
  }
}

/** The integer after `key` in `text` (-1 when absent). */
function intAfter(text, key) {
  const i = text.indexOf(key);
  if (i < 0) return -1;
  let n = 0;
  for (let j = i + key.length; j < text.length; j += 1) {
    const c = text.charCodeAt(j);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return n;
}

/** A masked client frame (`opcode`, `payload` Buffer). */
function clientFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? 2 : 4;
  const frame = Buffer.allocUnsafe(head + 4 + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  }
  const mask = crypto.randomBytes(4);
  mask.copy(frame, head);
  for (let i = 0; i < len; i += 1) frame[head + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/**
 * One raw WebSocket client. `kind`: 'plain' (ready at the upgrade), 'snapshot' (dashfeed: ready at
 * the first message, the subscription's snapshot, not counted), 'socketio' (Engine.IO v4 over
 * WebSocket: ready at the namespace CONNECT answer; events `42…` are counted, pings `2` answered `3`).
 */
class RawClient {
  constructor({ host, port, path, kind, sampled, tally }) {
    Object.assign(this, { host, port, path, kind, sampled, tally });
    this.rest = null;
    this.ready = false;
    this.closed = false;
  }

  /** Connects; resolves when the client is ready to receive updates. */
  connect(timeoutMs) {
    return new Promise((resolve, reject) => {
      const fail = (e) => {
        clearTimeout(timer);
        this.close();
        reject(e);
      };
      const timer = setTimeout(() => fail(new Error('connect timeout')), timeoutMs);
      this.onReady = () => {
        clearTimeout(timer);
        resolve(this);
      };
      const key = crypto.randomBytes(16).toString('base64');
      const sock = net.connect({ host: this.host, port: this.port });
      this.sock = sock;
      sock.setNoDelay(true);
      sock.on('error', (e) => (this.ready ? this.close() : fail(e)));
      sock.on('close', () => {
        this.closed = true;
        if (!this.ready) fail(new Error('closed before ready'));
      });
      sock.on('connect', () => sock.write(`GET ${this.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n`
        + `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n`
        + 'Sec-WebSocket-Version: 13\r\n\r\n'));
      let head = Buffer.alloc(0);
      const onHead = (chunk) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16384) fail(new Error('handshake too long'));
          return;
        }
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!/^HTTP\/1\.1 101/.test(status)) {
          fail(new Error(`handshake refused: ${status}`));
          return;
        }
        sock.off('data', onHead);
        sock.on('data', (c) => this.onData(c));
        if (this.kind === 'plain') this.becomeReady();
        if (end + 4 < head.length) this.onData(head.subarray(end + 4));
      };
      sock.on('data', onHead);
    });
  }

  becomeReady() {
    if (this.ready) return;
    this.ready = true;
    this.onReady();
  }

  /** Parses server frames (unmasked, unfragmented data frames) out of `chunk`. */
  onData(chunk) {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let off = 0;
    const n = buf.length;
    while (n - off >= 2) {
      const op = buf[off] & 0x0f;
      let len = buf[off + 1] & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        hdr = 10;
      }
      if (n - off < hdr + len) break;
      const start = off + hdr;
      off = start + len;
      if (op === 1 || op === 2) this.onMessage(buf, start, len);
      else if (op === 9) this.sock.write(clientFrame(0xa, buf.subarray(start, start + len)));
      else if (op === 8) this.close();
    }
    if (off < n) this.rest = buf.subarray(off);
  }

  onMessage(buf, start, len) {
    if (this.kind === 'socketio') {
      // Engine.IO packet type then Socket.IO packet type: "42[…]" event, "2" ping, "0{…}" open,
      // "40{…}" namespace connected.
      const c0 = buf[start];
      const c1 = len > 1 ? buf[start + 1] : 0;
      if (c0 === 0x34 && c1 === 0x32) {
        if (this.ready) this.tally.frame(this.sampled ? buf.toString('utf8', start, start + len) : undefined);
      } else if (c0 === 0x32 && len === 1) this.sock.write(clientFrame(1, Buffer.from('3')));
      else if (c0 === 0x30) this.sock.write(clientFrame(1, Buffer.from('40')));
      else if (c0 === 0x34 && c1 === 0x30) this.becomeReady();
      return;
    }
    if (!this.ready) {
      this.becomeReady(); // the dashfeed snapshot
      return;
    }
    this.tally.frame(this.sampled ? buf.toString('utf8', start, start + len) : undefined);
  }

  close() {
    if (this.sock && !this.sock.destroyed) this.sock.destroy();
    this.closed = true;
  }
}

/** The same client built on the `ws` package / `socket.io-client` (`--client lib`). */
class LibClient {
  constructor(opts) {
    Object.assign(this, opts);
    this.ready = false;
  }

  connect(timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new Error('connect timeout'));
      }, timeoutMs);
      const ok = () => {
        if (this.ready) return;
        this.ready = true;
        clearTimeout(timer);
        resolve(this);
      };
      const count = (text) => {
        if (this.ready) this.tally.frame(this.sampled ? text : undefined);
        else ok();
      };
      if (this.kind === 'socketio') {
        const { io } = require('socket.io-client');
        this.io = io(`http://${this.host}:${this.port}`, {
          transports: ['websocket'], forceNew: true, reconnection: false,
        });
        this.io.on('connect', ok);
        this.io.on('connect_error', (e) => reject(e));
        this.io.on('update', (data) => this.ready && this.tally.frame(this.sampled ? JSON.stringify(data) : undefined));
        return;
      }
      const WebSocket = require('ws');
      this.ws = new WebSocket(`ws://${this.host}:${this.port}${this.path}`, { perMessageDeflate: false });
      this.ws.on('open', () => this.kind === 'plain' && ok());
      this.ws.on('message', (data) => count(this.sampled ? data.toString() : undefined));
      this.ws.on('error', (e) => !this.ready && reject(e));
    });
  }

  close() {
    if (this.io) this.io.close();
    if (this.ws) this.ws.terminate();
  }
}

module.exports = { RawClient, LibClient, Tally, monoUs };
