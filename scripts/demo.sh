#!/usr/bin/env bash
# The live dashboard demo from a fresh clone: installs the Python module (maturin builds the Rust core; the
# first build takes a couple of minutes), then runs `dashfeed demo`. Open the URL it prints
# (http://127.0.0.1:8080 by default). Options: --port N, --host H, --open.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || { echo "demo.sh: the Rust toolchain (cargo) is needed: https://rustup.rs" >&2; exit 1; }
echo "demo.sh: building and installing the dashfeed Python module..."
python3 -m pip install --quiet --disable-pip-version-check .
exec python3 -m dashfeed demo "$@"
