//! Deferred subscriber wake-ups: inside [`batch`], the ready callbacks of the subscriptions a
//! publication made non-empty are collected and called once when the batch ends. A source applying
//! 500 events then wakes each connection once with 500 frames to write, instead of once per event
//! (a thread switch per delivery while the connections keep up). Blocking and async receivers
//! (`recv`, `next`) are woken at once as before; only ready callbacks wait for the batch's end.

use super::subscription::ReadyCallback;
use std::cell::RefCell;

thread_local! {
    /// The wake-ups of the batch running on this thread (`None`: no batch).
    static DEFERRED: RefCell<Option<Vec<ReadyCallback>>> = const { RefCell::new(None) };
}

/// Runs `f` with the ready callbacks of its publications deferred to its end (also when `f`
/// panics). A batch inside a batch joins the outer one.
pub fn batch<R>(f: impl FnOnce() -> R) -> R {
    let outermost = DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_some() {
            return false;
        }
        *d = Some(Vec::new());
        true
    });
    if !outermost {
        return f();
    }
    struct Flush;
    impl Drop for Flush {
        fn drop(&mut self) {
            let wakes = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
            for wake in wakes {
                wake();
            }
        }
    }
    let _flush = Flush;
    f()
}

/// Calls `wakes` now, or keeps them for the end of the batch running on this thread.
pub(crate) fn wake_all(wakes: Vec<ReadyCallback>) {
    if wakes.is_empty() {
        return;
    }
    let now = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(kept) => {
            kept.extend(wakes);
            None
        }
        None => Some(wakes),
    });
    for wake in now.into_iter().flatten() {
        wake();
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::Value;
    use crate::hub::{Hub, HubConfig, SubscribeOptions};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_batch_wakes_each_subscription_once_at_its_end() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        let sub = hub.subscribe("d", SubscribeOptions::default()).unwrap();
        while sub.try_recv().unwrap().is_some() {} // the snapshot
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        sub.on_ready(move || {
            w.fetch_add(1, Ordering::SeqCst);
        });
        let data = || Value::Map(vec![("cpu".into(), Value::Float(1.0))]);
        super::batch(|| {
            for _ in 0..100 {
                hub.publish("d", data()).unwrap();
            }
            assert_eq!(woken.load(Ordering::SeqCst), 0, "deferred inside the batch");
            super::batch(|| hub.publish("d", data()).unwrap()); // nested: joins the outer batch
            assert_eq!(woken.load(Ordering::SeqCst), 0);
        });
        assert_eq!(woken.load(Ordering::SeqCst), 1, "once at the end");
        let mut got = 0;
        while sub.try_recv().unwrap().is_some() {
            got += 1;
        }
        assert_eq!(got, 101, "nothing lost by deferring the wake-up");
        // Outside a batch, a publication into an empty queue wakes at once.
        hub.publish("d", data()).unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }
}
