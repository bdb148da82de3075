#!/usr/bin/env bash
# Backorder queues: what receiveStock, the queue page with positions and
# order(id) with its queue position cost as one sku's queue grows. A release
# `serve --demo` on Postgres; the queue of one sku is grown with SQL (orders,
# lines and confirmed backorders written directly, as placements would, and
# the queue's rank tree recounted), to
# each size in turn, and every operation is timed 20 times with curl
# (median and max, ms). Needs psql and a Postgres server (PG_URL).
#
#   bench/queue.sh [sizes...]       # default: 0 2000 10000 50000
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-0 2000 10000 50000}")
read -r -a SIZES <<<"${SIZES[*]}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
DB=shipmix_queue
PORT=18795
cargo build --release -q -p api
BIN=target/release/shipmix
WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
DATABASE_URL="$PG_URL/$DB" "$BIN" serve --demo --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
sql() { psql "$PG_URL/$DB" -qAtc "$1"; }
SKU=SKU00002
PRODUCT=$(sql "SELECT id FROM products WHERE sku = '$SKU'")
WAREHOUSE=$(sql "SELECT code FROM warehouses ORDER BY code LIMIT 1")
# Nothing of the sku on hand: everything ordered waits.
sql "UPDATE stock_levels SET on_hand = 0, reserved = 0 WHERE product_id = $PRODUCT"

grow_to() { # total confirmed backorders wanted
  local have; have=$(sql "SELECT count(*) FROM backorders WHERE product_id = $PRODUCT AND status = 'CONFIRMED'")
  local more=$(( $1 - have )); (( more > 0 )) || return 0
  sql "
    WITH o AS (
      INSERT INTO orders (customer_reference, status, policy, latitude, longitude, backorder_consent, priority,
                          shipping_cost_micros, created_at_ms, updated_at_ms, partial_shipment_charge_micros)
      SELECT 'queue-' || g, 'BACKORDERED', 'SHIP_AVAILABLE', 40.7, -74.0, true, (g % 10 = 0)::int,
             0, 1700000000000 + g, 1700000000000 + g, 0
      FROM generate_series(1, $more) g RETURNING id, created_at_ms, priority),
    l AS (
      INSERT INTO order_lines (order_id, line_no, product_id, sku, quantity, unit_price_micros)
      SELECT id, 1, $PRODUCT, '$SKU', 1, 10000000 FROM o RETURNING id, order_id)
    INSERT INTO backorders (order_id, order_line_id, product_id, sku, quantity, status, estimated_available,
                            promised_available, confirmed_at_ms, created_at_ms, updated_at_ms, priority)
    SELECT l.order_id, l.id, $PRODUCT, '$SKU', 1, 'CONFIRMED', 30000, 30000, o.created_at_ms, o.created_at_ms,
           o.created_at_ms, o.priority
    FROM l JOIN o ON o.id = l.order_id"
  # Written around the gateway: the queue's rank tree is counted afresh.
  "$BIN" recount-queues --database-url "$PG_URL/$DB" >/dev/null
  sql "ANALYZE"
}

time_it() { # name body
  local times=()
  for _ in $(seq 20); do
    times+=("$(curl -s -o /dev/null -w '%{time_total}' -H 'content-type: application/json' -H "authorization: Bearer ${SHIPMIX_KEY:-shm_demo_admin}" -d "$2" "127.0.0.1:$PORT/graphql")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v name="$1" '{ t[NR] = $1 * 1000 } END { printf "  %-36s median %7.1f ms   max %7.1f ms\n", name, t[int((NR + 1) / 2)], t[NR] }'
}

for size in "${SIZES[@]}"; do
  grow_to "$size"
  waiting=$(sql "SELECT count(*) FROM backorders WHERE product_id = $PRODUCT AND status = 'CONFIRMED'")
  middle=$(sql "SELECT id FROM backorders WHERE product_id = $PRODUCT AND status = 'CONFIRMED' ORDER BY id OFFSET $(( waiting / 2 )) LIMIT 1")
  middle_order=$(sql "SELECT order_id FROM backorders WHERE id = ${middle:-0}" || true)
  [ -z "${middle_order:-}" ] || middle_order=$("$BIN" ids --kind ORDER --database-url "$PG_URL/$DB" "$middle_order")
  echo "## $waiting confirmed backorders of $SKU"
  time_it "receiveStock of 1 unit" "{\"query\":\"mutation { receiveStock(input: {warehouseCode: \\\"$WAREHOUSE\\\", sku: \\\"$SKU\\\", quantity: 1}) { userErrors { code } } }\"}"
  time_it "queue page of 50 with positions" "{\"query\":\"{ backorders(sku: \\\"$SKU\\\", status: CONFIRMED, first: 50) { id queuePosition } }\"}"
  if [ -n "${middle_order:-}" ]; then
    time_it "order(id) with queuePosition" "{\"query\":\"{ order(id: \\\"$middle_order\\\") { backorders { queuePosition estimatedAvailableDate } } }\"}"
  fi
done
