//! Back-pressure: 3,000 updates of about 4 KiB go to subscribers that never read, next to one that keeps
//! up. For each policy, the slow subscriber's memory stays under its caps and it gets what its policy
//! promises; the fast one gets everything, in order.

use dashfeed::hub::{Hub, HubConfig, Kind, Message, Policy, SubscribeOptions, Subscription};
use dashfeed::{Error, Value};

const UPDATES: u64 = 3000;
const METRICS: u64 = 8;
const CAP_BYTES: usize = 64 * 1024;
const CAP_MESSAGES: usize = 1024;

/// About 4 KiB: a blob that differs per update (so nothing compresses it away), a counter, and one of
/// eight rotating metrics.
fn update(i: u64) -> Value {
    let blob: String = (0..512)
        .map(|k| format!("{:08x}", (i * 7919 + k) % 0xffff_ffff))
        .collect();
    Value::Map(vec![
        ("blob".into(), Value::Str(blob)),
        ("i".into(), Value::from(i)),
        (format!("m{}", i % METRICS).into(), Value::from(i)),
    ])
}

fn slow(hub: &Hub, policy: Policy) -> Subscription {
    let options = SubscribeOptions {
        policy: Some(policy),
        queue_messages: Some(CAP_MESSAGES),
        queue_bytes: Some(CAP_BYTES),
        ..SubscribeOptions::default()
    };
    hub.subscribe("ops", options).unwrap()
}

fn drain(sub: &Subscription) -> Vec<Message> {
    let mut out = Vec::new();
    for _ in 0..=UPDATES + 1 {
        match sub.try_recv().unwrap() {
            Some(m) => out.push(m),
            None => return out,
        }
    }
    panic!("more messages than publications");
}

/// Applies messages as a client would: a snapshot replaces the state, an update merges into it.
fn apply(messages: &[Message]) -> Vec<(Value, Value)> {
    let mut state: Vec<(Value, Value)> = Vec::new();
    for m in messages {
        let data = m.data().unwrap();
        let Value::Map(pairs) = &*data else {
            panic!("data is not a map")
        };
        if m.kind() == Kind::Snapshot {
            state.clear();
        }
        for (k, v) in pairs {
            match state.iter_mut().find(|(sk, _)| sk == k) {
                Some(slot) => slot.1 = v.clone(),
                None => state.push((k.clone(), v.clone())),
            }
        }
    }
    state
}

fn strictly_increasing(messages: &[Message]) -> bool {
    messages.windows(2).all(|w| w[0].seq() < w[1].seq())
}

#[test]
fn slow_subscribers_stay_bounded_and_get_what_their_policy_says() {
    let hub = Hub::new(HubConfig {
        compress_over: None,
        ..HubConfig::default()
    })
    .unwrap();
    let fast = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    let conflate = slow(&hub, Policy::Conflate);
    let drop_oldest = slow(&hub, Policy::DropOldest);
    let disconnect = slow(&hub, Policy::Disconnect);

    let mut fast_got = vec![fast.try_recv().unwrap().unwrap()];
    assert_eq!(fast_got[0].kind(), Kind::Snapshot);
    let mut message_bytes = 0;
    for i in 1..=UPDATES {
        assert_eq!(hub.publish("ops", update(i)).unwrap(), i);
        let m = fast
            .try_recv()
            .unwrap()
            .expect("the fast subscriber keeps up");
        message_bytes = message_bytes.max(m.raw(dashfeed::Format::MsgPack).unwrap().len());
        fast_got.push(m);
        assert!(fast.try_recv().unwrap().is_none());
    }
    assert!(
        message_bytes > 4096,
        "updates are about 4 KiB: {message_bytes}"
    );
    let fast_seqs: Vec<u64> = fast_got.iter().map(Message::seq).collect();
    assert_eq!(fast_seqs, (0..=UPDATES).collect::<Vec<_>>());
    assert!(fast_got[1..].iter().all(|m| m.kind() == Kind::Update));
    assert_eq!(fast.stats().peak_messages, 1);

    // Memory: never more than the byte cap queued, whatever the policy.
    for sub in [&conflate, &drop_oldest, &disconnect] {
        let st = sub.stats();
        assert!(st.peak_bytes <= CAP_BYTES, "{:?}: {st:?}", sub.policy());
        assert!(st.queued_bytes <= CAP_BYTES);
    }
    let expected_state = apply(&fast_got);
    let snapshot = hub.snapshot("ops").unwrap().unwrap();
    assert_eq!(
        *snapshot.data().unwrap(),
        Value::Map(expected_state.clone())
    );

    // conflate: a seq jump, but the newest value of every metric.
    let got = drain(&conflate);
    assert!(got.len() <= CAP_BYTES / 4096 + 1, "{}", got.len());
    assert!(strictly_increasing(&got));
    assert_eq!(got.last().unwrap().seq(), UPDATES);
    assert_eq!(apply(&got), expected_state);
    let st = conflate.stats();
    assert_eq!(st.received, got.len() as u64);
    assert!(st.conflated > 0 && st.dropped == 0);

    // drop_oldest: the newest messages, in order, the rest dropped and counted.
    let got = drain(&drop_oldest);
    assert!(strictly_increasing(&got));
    assert_eq!(got.last().unwrap().seq(), UPDATES);
    let st = drop_oldest.stats();
    assert_eq!(
        st.dropped + got.len() as u64,
        UPDATES + 1,
        "every message queued or dropped"
    );
    let kept: usize = got
        .iter()
        .map(|m| m.raw(dashfeed::Format::MsgPack).unwrap().len())
        .sum();
    assert!(
        kept <= CAP_BYTES && kept + message_bytes > CAP_BYTES,
        "as many as fit: {kept}"
    );
    let first_kept = got[0].seq();
    assert!(
        got.iter().zip(first_kept..).all(|(m, s)| m.seq() == s),
        "contiguous tail"
    );

    // disconnect: ended with slow_consumer, queue freed, unsubscribed.
    assert_eq!(disconnect.try_recv().unwrap_err(), Error::SlowConsumer);
    assert_eq!(disconnect.try_recv().unwrap_err().code(), "slow_consumer");
    assert_eq!(disconnect.stats().queued_bytes, 0);

    let stats = hub.stats();
    assert_eq!(stats.topics[0].subscribers, 3);
    assert_eq!(stats.disconnected, 1);
    assert_eq!(stats.dropped_oldest, drop_oldest.stats().dropped);
    assert_eq!(stats.conflated, conflate.stats().conflated);
    assert_eq!(stats.publications, UPDATES);
}
