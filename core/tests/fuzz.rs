//! Fuzzing in CI, on the stable toolchain: every fuzz target (codec decode, client messages, ingest
//! bodies, broker payloads, the `dashfeed serve` config, JWT verification; see
//! `fuzz_support/targets.rs` for their invariants) replays its corpus under `tests/fuzz/corpus/`,
//! then runs on structure-aware generated and mutated inputs for its share of `DASHFEED_FUZZ_SECONDS`
//! (unset: a few hundred cases). `scripts/fuzz.sh TARGET SECONDS` runs one target longer, under
//! libFuzzer when cargo-fuzz is available.
//!
//! The binary's allocator counts live bytes per thread, so the targets run on parallel test threads
//! and each measures only its own allocations.

mod fuzz_gen;
mod fuzz_support;

use fuzz_gen::{fuzz, run_caught, shapes};
use fuzz_support::alloc::{peak_during, Counting};
use fuzz_support::corpus_files;
use fuzz_support::targets::TARGETS;

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn every_target_has_seeds_and_replays_its_corpus_clean() {
    let mut failures = Vec::new();
    let mut total = 0;
    for target in TARGETS {
        let files = corpus_files(env!("CARGO_MANIFEST_DIR"), target.name);
        assert!(!files.is_empty(), "no seed for {}", target.name);
        for path in files {
            let input = std::fs::read(&path).unwrap();
            total += 1;
            if let Err(report) = run_caught(target, &input) {
                failures.push(format!("{}: {report}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("corpus: {total} inputs replayed");
}

#[test]
fn the_allocation_counter_sees_this_thread_only() {
    let (v, peak) = peak_during(|| vec![1u8; 1 << 20]);
    assert!(peak >= 1 << 20, "{peak}");
    drop(v);
    let (_, peak) = peak_during(|| {
        std::thread::spawn(|| vec![1u8; 1 << 20].len())
            .join()
            .unwrap()
    });
    assert!(
        peak < 1 << 20,
        "another thread's bytes were counted: {peak}"
    );
}

#[test]
fn fuzz_codec_decode() {
    fuzz("codec_decode", shapes::codec_input());
}

#[test]
fn fuzz_client_op() {
    fuzz("client_op", shapes::client_input());
}

#[test]
fn fuzz_ingest_events() {
    fuzz("ingest_events", shapes::ingest_input());
}

#[test]
fn fuzz_connector_payload() {
    fuzz("connector_payload", shapes::payload_input());
}

#[test]
fn fuzz_pipeline_config() {
    fuzz("pipeline_config", shapes::config_input());
}

#[test]
fn fuzz_jwt_verify() {
    fuzz("jwt_verify", shapes::jwt_input());
}

#[test]
fn documented_codes_are_read_from_error_rs_and_protocol_md() {
    use fuzz_support::targets::documented;
    for code in [
        "decode_error",
        "too_large",
        "unknown_op",
        "forbidden",
        "not_subscribed",
    ] {
        assert!(documented(code), "{code}");
    }
    for code in ["type", "unauthorized_maybe", "", "message"] {
        assert!(!documented(code), "{code}");
    }
}
