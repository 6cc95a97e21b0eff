#!/usr/bin/env bash
# Runs every dashfeed test on this machine: Rust (fmt, clippy, unit + integration), Python (stubs + pytest),
# Node (node --test) and the end-to-end suites. It first installs whatever is missing (scripts/setup.sh), so
# it works on a fresh clone of a fresh machine. Usage: scripts/test.sh [rust|python|node|e2e ...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(rust python node e2e)
want() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

step() { printf '\n=== %s ===\n' "$*"; }

bash scripts/setup.sh "${parts[@]}"
export PATH="$HOME/.cargo/bin:$PATH"
# A full run gains nothing from incremental caches (1 GB+ under target/debug); set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
mkdir -p test-output

if want rust; then
  step "rust: fmt + clippy"
  cargo fmt --all -- --check
  cargo clippy -p dashfeed --all-targets -- -D warnings
  cargo clippy -p dashfeed-python -p dashfeed-node -- -D warnings
  step "rust: tests"
  cargo test -p dashfeed --all-targets
  cargo test -p dashfeed --doc
  step "rust: fuzz (corpus replay, then 48 s of generated and mutated inputs shared by 6 targets)"
  DASHFEED_FUZZ_SECONDS=48 cargo test -p dashfeed --test fuzz -- --nocapture
fi

if want python; then
  step "python: build + install (maturin, release)"
  python3 -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .
  step "python: stub check (mypy.stubtest) + typed tests"
  python3 -m mypy.stubtest dashfeed._native --concise --ignore-disjoint-bases --allowlist bindings-python/stubtest-allowlist.txt
  python3 -m mypy --strict --no-error-summary bindings-python/python/dashfeed
  step "python: pytest"
  (cd "$ROOT" && python3 -m pytest -q tests/python)
fi

if want node; then
  step "node: build (npm install runs napi build --release)"
  npm install --no-audit --no-fund --loglevel=error
  git diff --exit-code -- index.d.ts || { echo "index.d.ts is out of date: commit the regenerated file"; exit 1; }
  step "node: node --test"
  node --test tests/node/
fi

if want e2e; then
  step "e2e: cross-language servers and clients, the demo page in headless Chromium"
  python3 -c "import dashfeed" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check .
  [ -e index.js ] || npm install --no-audit --no-fund --loglevel=error
  node --test tests/e2e/
  if ls tests/e2e/test_*.py >/dev/null 2>&1; then python3 -m pytest -q tests/e2e; fi
fi

step "all requested suites passed: ${parts[*]}"
