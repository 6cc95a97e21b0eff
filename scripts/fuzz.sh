#!/usr/bin/env bash
# Runs one fuzz target for longer than CI does. Usage:
#   scripts/fuzz.sh TARGET SECONDS [libfuzzer|proptest]
#   scripts/fuzz.sh list
# Targets: the folders of tests/fuzz/corpus (codec_decode, client_op, ingest_events, connector_payload,
# pipeline_config, jwt_verify); their invariants are in core/tests/fuzz_support/targets.rs.
#
# libfuzzer (the default): coverage-guided, with cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1
# lets cargo-fuzz pass its -Z flags; installed on first use, ~1.5 min; the first build takes ~9 min on 2
# cores). New inputs go to target/fuzz-corpus/TARGET, the seeds of tests/fuzz/corpus/TARGET are read; a
# crash is written to fuzz/artifacts/TARGET/. proptest: the CI engine (core/tests/fuzz.rs: structure-aware
# generators plus byte mutation) on this target alone, for SECONDS.
#
# When a run finds a bug: fix it in core with a regression test, and keep the input as a seed:
#   cp fuzz/artifacts/TARGET/crash-... tests/fuzz/corpus/TARGET/bug-SHORT-NAME
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

targets=$(ls tests/fuzz/corpus)
if [ "${1:-}" = list ]; then
  echo "$targets"
  exit 0
fi
if [ $# -lt 2 ] || ! grep -qx -- "$1" <<<"$targets" || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS [libfuzzer|proptest]; targets:" $targets >&2
  exit 2
fi
target=$1
seconds=$2
engine=${3:-libfuzzer}

case "$engine" in
  proptest)
    # DASHFEED_FUZZ_SECONDS is shared by all targets: give this one its whole time.
    n=$(wc -w <<<"$targets")
    DASHFEED_FUZZ_ONLY=$target DASHFEED_FUZZ_SECONDS=$((seconds * n)) \
      nice -n 10 cargo test -p dashfeed --test fuzz -- --nocapture "fuzz_$target"
    ;;
  libfuzzer)
    if ! cargo fuzz --version >/dev/null 2>&1; then
      echo "fuzz: installing cargo-fuzz"
      nice -n 10 cargo install --locked cargo-fuzz
    fi
    found=target/fuzz-corpus/$target
    mkdir -p "$found"
    RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz run --fuzz-dir fuzz --target-dir target/fuzz "$target" \
      "$found" "tests/fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    ;;
  *)
    echo "unknown engine $engine (libfuzzer or proptest)" >&2
    exit 2
    ;;
esac
