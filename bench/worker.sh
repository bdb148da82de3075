#!/usr/bin/env bash
# Backorder worker throughput: places N orders whose lines wait for
# confirmation (half of them confirmed), ages every backorder by two days in
# the database while the gateway is down, then restarts it with a one-hour
# confirmation window and a one-day maximum backorder duration and times how
# long its worker takes to expire the unconfirmed ones and flag the
# confirmed ones overdue. Runs on SQLite, then on Postgres (PG_URL).
#
#   bench/worker.sh [orders]
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS="${1:-4000}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
PORT=18791
cargo build --release -q -p api
BIN=target/release/shipmix
WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # lane flags...
  local lane=$1; shift
  case "$lane" in
    sqlite) "$BIN" serve --demo --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" "$@" >>"$WORK/server.log" 2>&1 & ;;
    postgres) DATABASE_URL="$PG_URL/shipmix_worker" "$BIN" serve --demo --listen "127.0.0.1:$PORT" "$@" >>"$WORK/server.log" 2>&1 & ;;
  esac
  SERVER=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/readyz" >/dev/null && return; sleep 0.2; done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}

stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }

sql() { # lane query
  case "$1" in
    sqlite) sqlite3 "$WORK/data/shipmix.sqlite" "$2" ;;
    postgres) psql "$PG_URL/shipmix_worker" -Atc "$2" ;;
  esac
}

place() { # every order backorders SKU00011 (the first few take its stock)
  python3 - "$PORT" "$ORDERS" <<'EOF'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
port, orders = sys.argv[1], int(sys.argv[2])
def call(query):
    body = json.dumps({"query": query}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer shm_demo_admin"})
    return json.load(urllib.request.urlopen(request))["data"]
def one(n):
    placed = call('mutation { placeOrder(input: {lines: [{sku: "SKU00011", quantity: 3}], '
                  'destination: {latitude: 40.71, longitude: -74.0}, customerReference: "w%d", '
                  'idempotencyKey: "worker-%d"}) { order { backorders { id } } userErrors { code } } }' % (n, n))
    backorders = placed["placeOrder"]["order"]["backorders"]
    if n % 2 == 0 and backorders:
        call('mutation { confirmBackorder(id: "%s") { userErrors { code } } }' % backorders[0]["id"])
with ThreadPoolExecutor(16) as pool:
    list(pool.map(one, range(orders)))
EOF
}

for lane in sqlite postgres; do
  if [ "$lane" = postgres ]; then
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS shipmix_worker WITH (FORCE)" -c "CREATE DATABASE shipmix_worker" >/dev/null
  fi
  start "$lane"
  place
  stop
  sql "$lane" "UPDATE backorders SET created_at_ms = created_at_ms - 172800000" >/dev/null
  awaiting=$(sql "$lane" "SELECT count(*) FROM backorders WHERE status = 'AWAITING_CONFIRMATION'")
  confirmed=$(sql "$lane" "SELECT count(*) FROM backorders WHERE status = 'CONFIRMED'")
  begin=$(date +%s.%N)
  start "$lane" --confirmation-window-hours 1 --max-backorder-days 1 --maintenance-interval 1
  while :; do
    left=$(sql "$lane" "SELECT count(*) FROM backorders WHERE (status = 'AWAITING_CONFIRMATION') OR (status = 'CONFIRMED' AND overdue_at_ms IS NULL)")
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  stop
  expired=$(sql "$lane" "SELECT count(*) FROM order_events WHERE kind = 'BACKORDER_EXPIRED'")
  overdue=$(sql "$lane" "SELECT count(*) FROM order_events WHERE kind = 'BACKORDER_OVERDUE'")
  echo "$lane: $awaiting unconfirmed expired ($expired events), $confirmed confirmed flagged overdue ($overdue events)" \
       "in $(python3 -c "print(f'{$end - $begin:.2f}')") s from start (startup included)"
done
