//! Memory a hub really retains (counted by a global allocator, not by element counts): history holding
//! N gzipped publications keeps about their wire bytes, not a compressor's buffers or a spare capacity.
//!
//! This binary holds one test, so that no other thread allocates during the measurement. On the code
//! before issue 10 it fails: history kept each publication's decoded data (4.6 KB per 4 KiB blob that
//! gzips to ~140 bytes).

use dashfeed::hub::{Hub, HubConfig, Policy, SubscribeOptions};
use dashfeed::{Format, Value};
use std::sync::atomic::Ordering::Relaxed;

mod alloc_support;
use alloc_support::{Counting, LIVE};

#[global_allocator]
static ALLOC: Counting = Counting;

fn blob(i: usize) -> Value {
    Value::Map(vec![
        ("blob".into(), Value::Str("x".repeat(4096))),
        ("i".into(), Value::from(i as u64)),
    ])
}

#[test]
fn history_of_gzipped_publications_retains_their_wire_bytes() {
    const N: usize = 2000;
    let base = LIVE.load(Relaxed);
    let hub = Hub::new(HubConfig {
        history: N,
        ..HubConfig::default()
    })
    .unwrap();
    let sub = hub
        .subscribe(
            "d2",
            SubscribeOptions {
                policy: Some(Policy::DropOldest),
                queue_messages: Some(50),
                ..SubscribeOptions::default()
            },
        )
        .unwrap();
    for i in 0..N {
        hub.publish("d2", blob(i)).unwrap();
    }
    let retained = LIVE.load(Relaxed) - base;
    // The wire bytes the hub holds: every publication in history, in the subscriber's format.
    let mut wire = 0;
    let resumed = hub
        .subscribe(
            "d2",
            SubscribeOptions {
                since: Some(dashfeed::hub::Since {
                    epoch: hub.topic_stats("d2").unwrap().epoch,
                    seq: 0,
                }),
                queue_messages: Some(N + 1),
                queue_bytes: Some(1 << 30),
                ..SubscribeOptions::default()
            },
        )
        .unwrap();
    let mut got = 0;
    while let Some(m) = resumed.try_recv().unwrap() {
        let raw = m.raw(Format::MsgPack).unwrap();
        if m.kind() == dashfeed::hub::Kind::Update {
            assert_eq!(&raw[..2], &[0x1f, 0x8b], "gzipped");
            wire += raw.len();
        }
        got += 1;
    }
    assert_eq!(got, N + 1, "a recovered header and every publication");
    let per_entry = 512;
    println!("retained {retained} B for {N} publications, wire {wire} B");
    assert!(
        retained <= 2 * wire + N * per_entry,
        "retained {retained} B, wire {wire} B ({} B per publication)",
        retained / N
    );
    drop((sub, resumed));
}
