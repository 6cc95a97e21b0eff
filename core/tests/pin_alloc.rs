//! Memory a [`PublicationPin`](dashfeed::hub::PublicationPin) really retains (counted by a global
//! allocator): the Python binding's `raw()` cache holds one per entry (bindings-python/src/wire_cache.rs),
//! so a pin must keep its publication's address, not its data or encoded bytes. Here 256 pins on
//! publications of ~64 KiB each, whose messages are gone: they hold a few hundred bytes each, where the
//! messages themselves held the whole 16 MiB. Fails on a pin that is a `Message` clone.
//!
//! This binary holds one test, so that no other thread allocates during the measurement.

use dashfeed::hub::{Hub, HubConfig, SubscribeOptions};
use dashfeed::{Format, Value};
use std::sync::atomic::Ordering::Relaxed;

mod alloc_support;
use alloc_support::{Counting, LIVE};

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 256;
const BLOB: usize = 64 * 1024;

#[test]
fn pins_keep_their_publications_addresses_not_their_content() {
    // History of one, no gzip: what stays after the messages go is the pins' doing.
    let hub = Hub::new(HubConfig {
        history: 1,
        compress_over: None,
        ..HubConfig::default()
    })
    .unwrap();
    let sub = hub
        .subscribe(
            "d",
            SubscribeOptions {
                queue_messages: Some(N + 10),
                queue_bytes: Some(1 << 30),
                ..SubscribeOptions::default()
            },
        )
        .unwrap();
    assert!(sub.try_recv().unwrap().is_some(), "the snapshot");
    let base = LIVE.load(Relaxed);
    let mut messages = Vec::with_capacity(N);
    for i in 0..N {
        let data = Value::Map(vec![(
            "blob".into(),
            Value::Str(format!("{i:x}").repeat(BLOB / 2)),
        )]);
        hub.publish("d", data).unwrap();
        let m = sub.try_recv().unwrap().unwrap();
        m.raw(Format::MsgPack).unwrap(); // encoded, as `raw()` does before the cache keeps an entry
        messages.push(m);
    }
    let with_messages = LIVE.load(Relaxed) - base;
    let pins: Vec<_> = messages.iter().map(|m| m.pin()).collect();
    drop(messages);
    let with_pins = LIVE.load(Relaxed).saturating_sub(base);
    println!("{N} messages: {with_messages} B; their pins: {with_pins} B");
    assert!(
        with_messages > N * BLOB,
        "the messages held {with_messages} B"
    );
    // The pins' allocations (one publication struct each, a few hundred bytes), the pins vector, and
    // what history and the topic's latest values keep of the last publication (~3 blobs).
    assert!(
        with_pins < N * 1024 + 4 * BLOB,
        "{N} pins hold {with_pins} B ({} B each)",
        with_pins / N
    );
    drop(pins);
}
