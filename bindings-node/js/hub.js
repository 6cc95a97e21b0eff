// The JavaScript half of dashfeed's Subscription: the `for await` iterator and the delivery loop of
// `'message'` listeners, over a buffer the native side fills.
//
// Not a module: bindings-node/src/hub/feed.rs compiles this file into the native addon
// (include_str!) and runs it once per thread; it must stay one function expression returning the
// helpers. Every decision is native (what is delivered, when, in which order, how a subscription
// ends); these only move messages the native side already took from the core queue (in batches,
// into `state.buf`) to their consumer, which JavaScript does far faster than one Node-API call per
// message can.
//
// state — per subscription: `{ buf: Array of Message (oldest first), closed: boolean, gen: number }`;
//         `closed` is set by `close()`, which also empties `buf`; `gen` changes on every `on` / `off`.
// iterate(sub, state) -> the async iterator of `for await (const msg of sub)`: takes from `buf`,
//         and asks the native `sub.next()` (refill from the core queue, or wait) when it is empty;
//         `return()` (leaving the loop early) closes the subscription.
// deliver(listeners, state) -> hands every buffered message to each listener in turn, stopping as
//         soon as the subscription is closed or its listeners change (as each message were its own
//         EventEmitter emit: a listener removed by `off` gets no further message; the rest stays in
//         `buf` for the next pass, with the current listeners); a listener that throws does not stop
//         the others: its exception is re-thrown in a microtask (an uncaught exception), the one
//         policy of the module for listener exceptions (bindings-node/src/napi/js.rs,
//         call_listener).
(function hubHelpers() {
  'use strict';

  function iterate(sub, state) {
    const { buf } = state;
    return {
      next() {
        if (buf.length > 0) return Promise.resolve({ value: buf.shift(), done: false });
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

  function deliver(listeners, state) {
    const { buf } = state;
    const gen = state.gen;
    while (buf.length > 0 && !state.closed && state.gen === gen) {
      const msg = buf.shift();
      for (let i = 0; i < listeners.length; i += 1) {
        try {
          listeners[i](msg);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  return { iterate, deliver };
})
