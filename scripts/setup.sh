#!/usr/bin/env bash
# Installs what the build and the tests need, only when it is missing: Debian packages (apt), the Rust
# toolchain components, and the Python test dependencies. Safe to run again. Usage: scripts/setup.sh [parts]
set -euo pipefail
cd "$(dirname "$0")/.."

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(rust python node e2e)
want() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

apt_need=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_need+=("$2"); }
need_cmd gcc build-essential
need_cmd cmake cmake
need_cmd pkg-config pkg-config
# the connector tests (Rust and Python) run a real redis-server
need_cmd redis-server redis-server
if want e2e; then
  need_cmd chromium chromium
fi
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "setup: apt-get install ${apt_need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

if want python || want e2e; then
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
fi
