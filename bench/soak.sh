#!/usr/bin/env bash
# Soak: two replicas (release build) on one Postgres and Redis, both started
# with `serve --demo`, CLIENTS clients mixing every mutation for SECS seconds
# on ten hot skus with 0–3 units per level (the driver is tests/it/soak.rs).
# One replica is killed (SIGKILL) a third of the way in and restarted, again
# with --demo, at half time. Afterwards the driver checks every invariant in
# the database (levels, line balances, statuses, holds, open packages,
# idempotency keys, acknowledged orders, deadlocks) and prints throughput
# and latency per operation.
#
#   bench/soak.sh [seconds] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-300}"
CLIENTS="${2:-16}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL_SOAK="${REDIS_URL:-redis://127.0.0.1:6379}"
DB=shipmix_soak
cargo build --release -q -p api
cargo test -q -p tests --test it --no-run 2>/dev/null
BIN=target/release/shipmix
WORK="$(mktemp -d)"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
redis-cli -u "$REDIS_URL_SOAK" --scan --pattern 'shipmix:*' | xargs -r redis-cli -u "$REDIS_URL_SOAK" del >/dev/null

start() { # port
  DATABASE_URL="$PG_URL/$DB" REDIS_URL="$REDIS_URL_SOAK" \
    "$BIN" serve --demo --listen "127.0.0.1:$1" >>"$WORK/replica-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.2; done
  echo "replica on $1 did not start"; cat "$WORK/replica-$1.log"; exit 1
}

start 18801
start 18802
VICTIM=${PIDS[1]}

SOAK_TARGETS="http://127.0.0.1:18801/graphql,http://127.0.0.1:18802/graphql" \
SOAK_DATABASE_URL="$PG_URL/$DB" SOAK_CLIENTS="$CLIENTS" SOAK_SECONDS="$SECS" SOAK_KEY=shm_demo_admin \
  cargo test -q -p tests --test it -- --ignored --exact soak::soak_against_running_replicas --nocapture \
  >"$WORK/driver.log" 2>&1 &
DRIVER=$!

sleep $(( SECS / 3 ))
kill -9 "$VICTIM"
echo "killed the replica on 18802 at $(( SECS / 3 )) s"
sleep $(( SECS / 6 ))
start 18802
echo "restarted it at $(( SECS / 2 )) s"

status=0
wait "$DRIVER" || status=$?
grep -v '^\s*$' "$WORK/driver.log" | grep -v '^running\|^test \|^$' || true
echo "panics in the replicas' logs: $(cat "$WORK"/replica-*.log | grep -c 'panicked' || true)"
echo "server-wide deadlocks so far: $(psql "$PG_URL/postgres" -Atc "SELECT deadlocks FROM pg_stat_database WHERE datname = '$DB'")"
exit "$status"
