// The guarded call of dashfeed's CircuitBreaker: `fire(fn, ...args)` and `call(fn, ...args)`.
//
// Not a module: bindings-node/src/breaker/guarded.rs compiles this file into the native addon
// (include_str!) and runs it once per breaker with the breaker's native hooks; it must stay one
// function expression. Every decision is the core's (admission, outcome, fallback or error:
// dashfeed::breaker::Guard), reached through the native hooks, which also run the error filter and
// the fallback; this moves values between the hooks and does the Promise plumbing, which
// JavaScript does far faster than native code can, without throwing across the native boundary on
// the hot paths:
// - begin(fn): checks fn, asks the core for a permit: a token (>= 0), or a negative one when the
//   call is rejected.
// - rejected(args, RAISED, token): the answer to a rejected call, as the core decides it:
//   fallback(...args) with a fallback (it throws what the fallback throws), else RAISED, a one-slot
//   array whose element 0 is the circuit_open error (with retryAfter) to throw or reject with: the
//   open state's rejections do not throw across the native boundary (a throw there costs more than
//   the call), and an element is the cheapest slot for the hook to fill.
// - hold(token): for a half-open trial (odd token) that returned a thenable, moves its permit into
//   a token of its own, garbage-collected with the pending call (a dropped permit counts as
//   ignored, freeing the trial slot).
// - end(token, kind, value, args, holder): reports the outcome (FULFILLED with value, REJECTED
//   with the error, TIMED_OUT) and answers: the call's value, RETHROW when the original error
//   stands, or the fallback's answer; it throws the timeout error, or what the error filter or the
//   fallback threw. A call already ended (the loser of the timeout race) answers undefined.
// `holder` keeps the breaker's fallback, error filter and listeners alive while calls need them.
(function guards(begin, end, rejected, hold, holder, RETHROW, RAISED, timeoutMs) {
  'use strict';

  const FULFILLED = 0;
  const REJECTED = 1;
  const TIMED_OUT = 2;

  /** Whether `v` is a thenable: a Promise, or any object or function with a callable `then`. */
  function isThenable(v) {
    return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
  }

  /** The error `rejected` answered with (in RAISED), taken. */
  function raised() {
    const err = RAISED[0];
    RAISED[0] = undefined;
    return err;
  }

  /** `end` for a failed call: its answer, or the original error thrown again. */
  function failed(token, err, args) {
    const answer = end(token, REJECTED, err, args, holder);
    if (answer === RETHROW) throw err;
    return answer;
  }

  /** Follows a thenable; the promise settles with the call's answer. */
  const follow =
    timeoutMs === undefined
      ? (token, value, args) =>
        Promise.resolve(value).then(
          (v) => end(token, FULFILLED, v, args, holder),
          (e) => failed(token, e, args),
        )
      : (token, value, args) =>
        new Promise((resolve, reject) => {
          const settle = (kind, v) => {
            try {
              resolve(kind === REJECTED ? failed(token, v, args) : end(token, kind, v, args, holder));
            } catch (e) {
              reject(e);
            }
          };
          // Whichever comes first ends the call; the other finds it ended.
          const timer = setTimeout(settle, timeoutMs, TIMED_OUT);
          Promise.resolve(value).then(
            (v) => {
              clearTimeout(timer);
              settle(FULFILLED, v);
            },
            (e) => {
              clearTimeout(timer);
              settle(REJECTED, e);
            },
          );
        });

  return {
    fire(fn, ...args) {
      try {
        const token = begin(fn);
        if (token < 0) {
          const answer = rejected(args, RAISED, token);
          return answer === RAISED ? Promise.reject(raised()) : Promise.resolve(answer);
        }
        let result;
        let thenable;
        try {
          result = fn(...args);
          thenable = isThenable(result);
        } catch (err) {
          const answer = end(token, REJECTED, err, args, holder);
          return answer === RETHROW ? Promise.reject(err) : Promise.resolve(answer);
        }
        if (thenable) return follow(token % 2 === 1 ? hold(token) : token, result, args);
        return Promise.resolve(end(token, FULFILLED, result, args, holder));
      } catch (err) {
        return Promise.reject(err);
      }
    },

    call(fn, ...args) {
      const token = begin(fn);
      if (token < 0) {
        const answer = rejected(args, RAISED, token);
        if (answer === RAISED) throw raised();
        return answer;
      }
      let result;
      let thenable;
      try {
        result = fn(...args);
        thenable = isThenable(result);
      } catch (err) {
        return failed(token, err, args);
      }
      if (thenable) return follow(token % 2 === 1 ? hold(token) : token, result, args);
      return end(token, FULFILLED, result, args, holder);
    },
  };
})
