#!/usr/bin/env bash
# Health and availability latency while 8 clients send the heaviest quotes
# (bench/saturation.py), on a release `serve` on the embedded default.
#
#   bench/saturation.sh [SECS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=18799
cargo build --release -q -p api
WORK="$(mktemp -d)"
SHIPMIX_KEY=$(target/release/shipmix keys create --role ADMIN --name saturation --data-dir "$WORK/data" | tail -1)
export SHIPMIX_KEY
target/release/shipmix serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 150); do curl -sf "127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
python3 bench/saturation.py "http://127.0.0.1:$PORT" "${1:-20}" "${2:-8}"
