//! cargo-fuzz target `jwt_verify`: the target and its invariants are in core/tests/fuzz_support/targets.rs.
#![no_main]

#[path = "../../core/tests/fuzz_support/mod.rs"]
mod fuzz_support;

#[global_allocator]
static ALLOC: fuzz_support::alloc::Counting = fuzz_support::alloc::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::targets::jwt_verify(data));
