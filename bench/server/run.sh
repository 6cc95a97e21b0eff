#!/usr/bin/env bash
# Side-by-side WebSocket server benchmark (issue 6): runs every contender in sequence with the same
# clients and the same rate ladder, then prints one Markdown table (bench/server/report.js).
#
# Usage: bench/server/run.sh [--clients 1000] [--duration 3] [--rates 100,150,...] [--only ws,socketio]
#                            [--client raw|lib] [--results DIR]
# Each contender's server runs pinned to core 0 and the load generator (load.js) to core 1. A contender
# that fails is reported as "failed" and the run goes on. Every process this script starts is killed
# on exit (by its pid); each contender is bounded by --timeout seconds (default 240).
set -u
cd "$(dirname "$0")/../.."

CLIENTS=1000
DURATION=3
RATES=100,150,200,300,400,600,800,1200,1600,2400,3200,4800,6400
ONLY=dashfeed-python,dashfeed-node,dashfeed-python-wd5,floor,socketio,ws,python-websockets
CLIENT=raw
TIMEOUT=240
RESULTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --client) CLIENT=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$RESULTS" ]; then RESULTS=$(mktemp -d /tmp/dashfeed-bench-server.XXXXXX); fi
mkdir -p "$RESULTS"

# 1,000 sockets on each side plus the runtimes' own descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((CLIENTS + 256)) ]; then
  echo "open-file limit $(ulimit -n) is too low for $CLIENTS clients" >&2
  exit 1
fi

LOAD_PID=""
cleanup() {
  if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill -TERM "$LOAD_PID" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$LOAD_PID" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "node $(node --version), $(python3 --version 2>&1), socket.io $(node -p "require('socket.io/package.json').version"),"\
  "ws $(node -p "require('ws/package.json').version"), websockets $(python3 -c 'import websockets; print(websockets.__version__)'),"\
  "$(nproc) cores, results in $RESULTS" >&2

FILES=()
if [[ ",$ONLY," == *",floor,"* ]]; then
  cargo build --quiet --release -p dashfeed --example bench_floor || exit 1
fi
IFS=',' read -r -a NAMES <<< "$ONLY"
for name in "${NAMES[@]}"; do
  out="$RESULTS/$name.json"
  rm -f "$out"
  echo "== $name ($CLIENTS clients)" >&2
  # load.js starts the server itself (taskset -c 0) and kills it when it ends; timeout bounds the whole.
  timeout -k 5 "$((TIMEOUT + 30))" taskset -c 1 node bench/server/load.js --contender "$name" \
    --clients "$CLIENTS" --duration "$DURATION" --rates "$RATES" --client "$CLIENT" \
    --timeout "$TIMEOUT" --out "$out" &
  LOAD_PID=$!
  wait "$LOAD_PID"
  rc=$?
  LOAD_PID=""
  if [ ! -s "$out" ]; then
    echo "{\"contender\":\"$name\",\"ok\":false,\"error\":\"load generator exited with $rc\"}" > "$out"
  fi
  FILES+=("$out")
  sleep 1
done

node bench/server/report.js "${FILES[@]}" --details
