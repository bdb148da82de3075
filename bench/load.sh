#!/usr/bin/env bash
# Load benchmark: availability of 10 skus, a 3-line quote and placeOrder,
# at concurrency 1 and 32, against a release build on loopback, on the
# embedded default (SQLite + in-process cache) and on Postgres + Redis.
# Afterwards it checks that no stock level is oversold and reports the
# server's peak RSS. Needs wrk (apt-get install wrk); Postgres and Redis for
# the second lane (PG_URL / REDIS_URL, defaults below).
#
#   bench/load.sh [seconds-per-run]
#   OPS="availability" CONCURRENCY="8 32" bench/load.sh 10   # a subset
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL_BENCH="${REDIS_URL:-redis://127.0.0.1:6379}"
PORT=18790
cargo build --release -q -p api
BIN=target/release/shipmix
WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # lane
  case "$1" in
    sqlite) "$BIN" serve --demo --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 & ;;
    postgres)
      psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS shipmix_bench WITH (FORCE)" -c "CREATE DATABASE shipmix_bench" >/dev/null
      redis-cli -u "$REDIS_URL_BENCH" --scan --pattern 'shipmix:*' | xargs -r redis-cli -u "$REDIS_URL_BENCH" del >/dev/null
      DATABASE_URL="$PG_URL/shipmix_bench" REDIS_URL="$REDIS_URL_BENCH" \
        "$BIN" serve --demo --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 & ;;
  esac
  SERVER=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/readyz" >/dev/null && return; sleep 0.2; done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}

sql() { # lane query
  case "$1" in
    sqlite) sqlite3 "$WORK/data/shipmix.sqlite" "$2" ;;
    postgres) psql "$PG_URL/shipmix_bench" -Atc "$2" ;;
  esac
}

check_oversell() { # lane
  echo "oversold levels (reserved > onHand): $(sql "$1" 'SELECT count(*) FROM stock_levels WHERE reserved > on_hand')"
  echo "reserved units minus units in shipments: $(sql "$1" 'SELECT (SELECT coalesce(sum(reserved), 0) FROM stock_levels) - (SELECT coalesce(sum(quantity), 0) FROM shipment_lines)')"
  echo "orders placed: $(sql "$1" 'SELECT count(*) FROM orders')"
}

for lane in sqlite postgres; do
  start "$lane"
  echo "## $lane"
  for op in ${OPS:-availability quote place}; do
    for c in ${CONCURRENCY:-1 32}; do
      threads=$(( c < 2 ? 1 : 2 ))
      line=$(OPERATION=$op wrk -t"$threads" -c"$c" -d"${SECS}s" -s bench/graphql.lua "http://127.0.0.1:$PORT/graphql" | grep '^RESULT')
      echo "$lane $op c=$c $line"
    done
  done
  check_oversell "$lane"
  echo "peak RSS: $(grep VmHWM /proc/$SERVER/status | awk '{print $2, $3}')"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
done
