//! Allocation bounds of decode: a gzip bomb and huge declared lengths never allocate far past the caps.
//!
//! A counting global allocator records the peak number of live bytes while each decode runs. This test
//! binary holds one test so that no other thread allocates during the measurement.

use dashfeed::{codec, Codec, Limits};
mod alloc_support;

use alloc_support::{Counting, LIVE, PEAK};
use std::sync::atomic::Ordering::Relaxed;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak live bytes above the starting level while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let out = f();
    (out, PEAK.load(Relaxed) - base)
}

#[test]
fn decode_allocations_stay_under_the_caps() {
    // 64 MiB of zeros gzipped to ~65 KB, decoded under a 1 MiB cap.
    let bomb = codec::compress(&vec![0u8; 64 << 20], 9).unwrap();
    let cap = 1 << 20;
    let codec = Codec {
        limits: Limits {
            max_decompressed: cap,
            ..Limits::default()
        },
        ..Codec::default()
    };
    let (res, peak) = peak_during(|| codec.decode(&bomb));
    assert_eq!(res.unwrap_err().code(), "too_large");
    // The capped output buffer, one read chunk and the inflate state: well under 2x the cap.
    assert!(
        peak < cap + (512 << 10),
        "peak {peak} bytes for a {cap} byte cap"
    );

    // The default 16 MiB cap: still bounded by the cap, not by the 64 MiB the bomb expands to.
    let (res, peak) = peak_during(|| Codec::default().decode(&bomb));
    assert_eq!(res.unwrap_err().code(), "too_large");
    assert!(peak <= (16 << 20) + (512 << 10), "peak {peak}");

    // Declared lengths of 4 G elements / bytes: refused without reserving them.
    for bad in [
        &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
        &[0xdf, 0xff, 0xff, 0xff, 0xff],
        &[0xdb, 0xff, 0xff, 0xff, 0xff, 0x41],
        &[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
    ] {
        let (res, peak) = peak_during(|| Codec::default().decode(bad));
        assert_eq!(res.unwrap_err().code(), "decode_error");
        assert!(peak < 256 << 10, "{bad:02x?}: peak {peak}");
    }
}
