//! The stable-toolchain fuzz engine of CI: proptest strategies that build well-formed inputs of each
//! target ([`shapes`]), byte-level mutation of them and of the corpus seeds, and a runner that feeds
//! a target for a time budget, then shrinks and saves the first failing input.
//!
//! Budget: `DASHFEED_FUZZ_SECONDS` is the time for all targets together, split evenly (unset: a fixed
//! [`DEFAULT_CASES`] per target, what plain `cargo test` runs). `DASHFEED_FUZZ_SEED` replays a run,
//! `DASHFEED_FUZZ_ONLY` keeps one target.
#![allow(dead_code)]

pub mod config_gen;
pub mod shapes;

use crate::fuzz_support::corpus_files;
use crate::fuzz_support::targets::{Target, TARGETS};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Cases per target when no time budget is set.
pub const DEFAULT_CASES: u64 = 300;
/// Most shrink steps after a failure.
const MAX_SHRINK_STEPS: u32 = 4000;

/// Byte sequences that matter to the parsers: huge declared lengths, reserved and extension markers,
/// the gzip magic, JSON punctuation and escapes, integer edges.
pub const INTERESTING: &[&[u8]] = &[
    &[0xdd, 0xff, 0xff, 0xff, 0xff],
    &[0xdf, 0xff, 0xff, 0xff, 0xff],
    &[0xdb, 0xff, 0xff, 0xff, 0xff],
    &[0xc6, 0x7f, 0xff, 0xff, 0xff],
    &[0xde, 0xff, 0xff],
    &[0xc1],
    &[0xd4, 0x01, 0x00],
    &[0xc7, 0x01, 0x05, 0x00],
    &[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
    &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0x1f, 0x8b, 0x08, 0x00],
    &[0x1f, 0x8b, 0x08, 0x1f],
    &[0x91; 12],
    &[0x81, 0xa0, 0x81, 0xa0, 0x81, 0xa0, 0xc0],
    b"[[[[[[[[[[[[",
    b"{\"a\":{\"a\":{\"a\":",
    b"\\ud800",
    b"\\u0000",
    b"1e999",
    b"-0",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"null",
    b"\"\"",
    b"\n[[source]]\n",
    b"\n[server]\n",
    b" = ",
    b"\"\"\"",
    b"\x00",
    b"\xff\xfe",
    b"\xed\xa0\x80",
];

/// One byte-level edit.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flip one bit of one byte.
    FlipBit(Index, u8),
    /// Overwrite one byte.
    SetByte(Index, u8),
    /// Insert bytes before a position.
    Insert(Index, Vec<u8>),
    /// Remove up to `n` bytes from a position.
    Remove(Index, usize),
    /// Cut everything from a position.
    Truncate(Index),
    /// Insert a copy of up to `n` bytes from a position right after them.
    Repeat(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserted = prop_oneof![
        select(INTERESTING).prop_map(<[u8]>::to_vec),
        vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), inserted).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Repeat(i, n)),
    ]
}

/// Applies `edits` in order.
pub fn apply(mut bytes: Vec<u8>, edits: &[Mutation]) -> Vec<u8> {
    for m in edits {
        let len = bytes.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len) };
        match m {
            Mutation::FlipBit(i, b) if len > 0 => bytes[at(i)] ^= 1 << b,
            Mutation::SetByte(i, v) if len > 0 => bytes[at(i)] = *v,
            Mutation::Insert(i, more) => {
                let p = if len == 0 { 0 } else { i.index(len + 1) };
                bytes.splice(p..p, more.iter().copied());
            }
            Mutation::Remove(i, n) if len > 0 => {
                let p = at(i);
                bytes.drain(p..(p + n).min(len));
            }
            Mutation::Truncate(i) => bytes.truncate(at(i)),
            Mutation::Repeat(i, n) if len > 0 => {
                let p = at(i);
                let span = bytes[p..(p + n).min(len)].to_vec();
                let end = p + span.len();
                bytes.splice(end..end, span);
            }
            _ => {}
        }
    }
    bytes
}

/// `base`, then zero to three edits (a quarter of the inputs stay well-formed).
pub fn mutated(base: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (base, vec(mutation(), 0..4)).prop_map(|(b, m)| apply(b, &m))
}

/// A first byte and a payload, the payload mutated, joined.
pub fn framed(input: impl Strategy<Value = (u8, Vec<u8>)>) -> impl Strategy<Value = Vec<u8>> {
    (input, vec(mutation(), 0..4)).prop_map(|((sel, payload), m)| {
        let payload = apply(payload, &m);
        let mut out = Vec::with_capacity(payload.len() + 1);
        out.push(sel);
        out.extend(payload);
        out
    })
}

/// Inputs for `target`: its structured shapes (weight 6), mutated corpus seeds (3), raw bytes (1).
pub fn inputs(
    target: &str,
    shapes: impl Strategy<Value = Vec<u8>> + 'static,
) -> BoxedStrategy<Vec<u8>> {
    let seeds: Vec<Vec<u8>> = corpus_files(env!("CARGO_MANIFEST_DIR"), target)
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    let raw = vec(any::<u8>(), 0..512);
    if seeds.is_empty() {
        return prop_oneof![6 => shapes, 1 => raw].boxed();
    }
    prop_oneof![6 => shapes, 3 => mutated(select(seeds)), 1 => raw].boxed()
}

/// The target called `name`.
pub fn target(name: &str) -> &'static Target {
    TARGETS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
}

thread_local! {
    /// Set while a target runs under [`run_caught`]: the panic hook stays quiet and keeps the report.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                LAST_PANIC.with(|l| *l.borrow_mut() = info.to_string());
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `target` on `input`; the panic report (with its location) when it panicked.
pub fn run_caught(target: &Target, input: &[u8]) -> Result<(), String> {
    install_quiet_hook();
    QUIET.with(|q| q.set(true));
    let out = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    QUIET.with(|q| q.set(false));
    out.map_err(|_| LAST_PANIC.with(|l| l.borrow().clone()))
}

/// The time budget of one target: `DASHFEED_FUZZ_SECONDS` over the number of targets.
pub fn budget() -> Option<Duration> {
    let total: f64 = std::env::var("DASHFEED_FUZZ_SECONDS").ok()?.parse().ok()?;
    Duration::try_from_secs_f64(total / TARGETS.len() as f64).ok()
}

fn seed() -> u64 {
    std::env::var("DASHFEED_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// Feeds `target` with `strategy` for its budget (or [`DEFAULT_CASES`]); on the first failure shrinks
/// the input, saves it and fails with it in hex.
pub fn fuzz(name: &str, strategy: BoxedStrategy<Vec<u8>>) {
    if std::env::var("DASHFEED_FUZZ_ONLY").is_ok_and(|only| only != name) {
        return;
    }
    let target = target(name);
    let seed = seed();
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    let budget = budget();
    // Printed first: an abort (a stack overflow) cannot be caught, and the seed replays it.
    eprintln!("fuzz {name}: seed {seed}");
    let start = Instant::now();
    let (mut cases, mut bytes) = (0u64, 0usize);
    loop {
        let done = match budget {
            Some(b) => start.elapsed() >= b,
            None => cases >= DEFAULT_CASES,
        };
        if done {
            break;
        }
        let mut tree = strategy
            .new_tree(&mut runner)
            .unwrap_or_else(|e| panic!("{name}: cannot generate: {e}"));
        let input = tree.current();
        cases += 1;
        bytes += input.len();
        if let Err(report) = run_caught(target, &input) {
            let (input, report) = shrink(target, &mut tree, input, report);
            fail(name, seed, &input, &report);
        }
    }
    println!(
        "fuzz {name}: {cases} cases ({} KiB) in {:.1} s, seed {seed}",
        bytes >> 10,
        start.elapsed().as_secs_f64()
    );
}

/// Proptest's shrinking: simplify while the input still fails, step back when it passes.
fn shrink(
    target: &Target,
    tree: &mut impl ValueTree<Value = Vec<u8>>,
    mut best: Vec<u8>,
    mut report: String,
) -> (Vec<u8>, String) {
    let mut failing = true;
    for _ in 0..MAX_SHRINK_STEPS {
        let moved = if failing {
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !moved {
            break;
        }
        let candidate = tree.current();
        match run_caught(target, &candidate) {
            Err(r) => {
                failing = true;
                best = candidate;
                report = r;
            }
            Ok(()) => failing = false,
        }
    }
    (best, report)
}

fn fail(name: &str, seed: u64, input: &[u8], report: &str) -> ! {
    let hash = input.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let path = dir.join(format!("{name}-{hash:016x}"));
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, input))
        .map_or_else(
            |e| format!("not saved: {e}"),
            |()| path.display().to_string(),
        );
    let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
    panic!(
        "fuzz target {name} failed (seed {seed}; DASHFEED_FUZZ_SEED={seed} replays the run)\n\
         {report}\ninput ({} bytes, {saved}):\n{hex}\n\
         fix it, then keep the input as a seed: cp {saved} tests/fuzz/corpus/{name}/",
        input.len()
    );
}
