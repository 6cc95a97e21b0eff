// The JavaScript half of dashfeed's Subscription: the `for await` iterator and the delivery loop of
// `'message'` listeners, over a buffer the native side fills.
//
// Not a module: bindings-node/src/hub/buffer.rs includes this file in the native addon (include_str!),
// and bindings-node/src/napi/script.rs compiles and runs it once per thread; it must stay one function
// expression returning the helpers. Every decision is native (what is delivered, when, in which
// order, how a subscription ends); these only move messages the native side already took from the
// core queue (in batches, into `state.buf`) to their consumer, which JavaScript does far faster than
// one Node-API call per message can.
//
// state — per subscription: `{ buf: Array of Message (oldest first), head: number, tail: number,
//         closed: boolean, gen: number }`; the buffered messages are `buf[head..tail]` (taken by moving
//         `head`, not by `shift()`, which moves every element behind V8's write barrier; a taken slot
//         is cleared at once, so the buffer keeps no message alive). Once empty, `head` and `tail`
//         go back to 0 and the slots are written again by the next refill instead of growing a new
//         array each time (a fan-out wakes every subscriber once per burst), up to `KEEP` slots:
//         past that the array is let go. `closed` is set by `close()`, which also empties `buf`;
//         `gen` changes on every `on` / `off`.
// take(state, shape) -> the oldest buffered message, or undefined when none is; as it is (`shape`
//         1 or omitted) or as the iterator result `{ value, done: false }` of `next()` (`shape` 2).
// iterate(sub, state) -> the async iterator of `for await (const msg of sub)`: takes from `buf`,
//         and asks the native `sub.next()` when it is empty (a promise settled by the next wake-up
//         pass, which refills `buf` from the core queue); `return()` (leaving the loop early)
//         closes the subscription.
// fill(state, shape, ...msgs) -> appends the messages the native side took from the core queue to
//         `buf` (one native call per batch, not one per message); then, when `shape` is 1 or 2, takes
//         the oldest as `take` does (for the promise that waited for them), else returns undefined.
// deliver(rethrow, listeners, state, ...msgs) -> appends `msgs` to `buf`, then hands every buffered
//         message to each listener in turn, stopping as soon as the subscription is closed or its
//         listeners change (as each message were its own EventEmitter emit: a listener removed by
//         `off` gets no further message; the rest stays in `buf` for the next pass, with the current
//         listeners); a listener that throws does not stop the others: its exception goes to
//         `rethrow`, the module's one policy for listener exceptions (bindings-node/src/napi/js.rs,
//         rethrow / call_listener: re-thrown in a microtask, an uncaught exception).
// installRaw(proto) -> `Message.prototype.raw` as it runs: wraps the plain native method (which copies
//         the encoded bytes into a new Buffer on each call) so that it is called once per message object
//         and format and its Buffer kept on the message under a symbol: every subscriber woken by the
//         same publication shares the object, so a fan-out to N subscribers makes one native call, not N.
//         Run once when the module loads (bindings-node/src/fast.rs; bench rows: node bench/hub.js).
(function hubHelpers() {
  'use strict';

  // The shapes `take` and `fill` hand a message out in (bindings-node/src/hub/buffer.rs, `Shape`).
  const BARE = 1;
  const STEP = 2;
  // Slots an empty buffer keeps for the next refill (8 bytes each; a longer refill's array is let go).
  const KEEP = 64;

  function iterate(sub, state) {
    return {
      next() {
        if (state.head < state.tail) return Promise.resolve(take(state, STEP));
        return sub.next();
      },
      return() {
        sub.close();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  function take(state, shape) {
    const { buf } = state;
    const at = state.head;
    if (at >= state.tail) return undefined;
    const msg = buf[at];
    buf[at] = undefined; // let it be collected
    if (at + 1 === state.tail) {
      state.head = 0;
      state.tail = 0;
      if (buf.length > KEEP) buf.length = 0;
    } else {
      state.head = at + 1;
    }
    return shape === STEP ? { value: msg, done: false } : msg;
  }

  function fill(state, shape) {
    const { buf } = state;
    let t = state.tail;
    for (let i = 2; i < arguments.length; i += 1) {
      buf[t] = arguments[i];
      t += 1;
    }
    state.tail = t;
    return shape === BARE || shape === STEP ? take(state, shape) : undefined;
  }

  function deliver(rethrow, listeners, state) {
    const { buf } = state;
    let t = state.tail;
    for (let i = 3; i < arguments.length; i += 1) {
      buf[t] = arguments[i];
      t += 1;
    }
    state.tail = t;
    const gen = state.gen;
    while (state.head < state.tail && !state.closed && state.gen === gen) {
      const msg = take(state);
      for (let i = 0; i < listeners.length; i += 1) {
        try {
          listeners[i](msg);
        } catch (err) {
          rethrow(err);
        }
      }
    }
  }

  const RAW = Symbol('dashfeed.raw');

  function installRaw(proto) {
    const native = proto.raw;
    Object.defineProperty(proto, 'raw', {
      configurable: true,
      writable: true,
      value: function raw(format) {
        // 0: MessagePack (the default), 1: JSON, -1: something the native call refuses.
        const slot = format === undefined || format === null || format === 'msgpack' ? 0
          : format === 'json' ? 1 : -1;
        let kept = this[RAW];
        if (slot >= 0 && kept !== undefined && kept[slot] !== undefined) return kept[slot];
        const bytes = native.call(this, format);
        if (slot >= 0) {
          if (kept === undefined) {
            kept = [undefined, undefined];
            Object.defineProperty(this, RAW, { value: kept });
          }
          kept[slot] = bytes;
        }
        return bytes;
      },
    });
  }

  return { iterate, take, fill, deliver, installRaw };
})
