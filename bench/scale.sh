#!/usr/bin/env bash
# Big tables, long queues: what every operation costs as the database grows.
# A release `serve` on each lane (SQLite, then Postgres + Redis) starts from
# the demo network with three hot skus out of stock (SKU00002-4) and every
# other sku plentiful; placeOrder through the API grows it to each size in
# turn (two orders in five also want a hot sku and backorder it, seven in
# eight of those confirmed by consent, one in eight at a higher priority), then
# every operation is measured: median latency of sequential requests (curl)
# and throughput with 8 connections (wrk, bench/scale.lua).
# Mutations act on ids read from the database, each id once.
#
#   bench/scale.sh [sizes...]     # default: 5000 20000 100000 (orders)
#   LANES="postgres" bench/scale.sh 100000
#
# Needs wrk (apt-get install wrk), sqlite3 and psql; PG_URL and REDIS_URL
# as below.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-5000 20000 100000}")
read -r -a SIZES <<<"${SIZES[*]}"
read -r -a LANES <<<"${LANES:-sqlite postgres}"
SECS="${SECS:-5}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL_BENCH="${REDIS_URL:-redis://127.0.0.1:6379}"
PORT=18797
URL="http://127.0.0.1:$PORT/graphql"
cargo build --release -q -p api
BIN=target/release/shipmix
WORK="$(mktemp -d)"
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
HOT=(SKU00002 SKU00003 SKU00004)

start() { # lane [--demo]
  case "$LANE" in
    sqlite) "$BIN" serve "$@" --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >>"$WORK/server.log" 2>&1 & ;;
    postgres) DATABASE_URL="$PG_URL/shipmix_scale" REDIS_URL="$REDIS_URL_BENCH" \
        "$BIN" serve "$@" --listen "127.0.0.1:$PORT" >>"$WORK/server.log" 2>&1 & ;;
  esac
  SERVER=$!
  for _ in $(seq 150); do curl -sf "127.0.0.1:$PORT/readyz" >/dev/null && return; sleep 0.2; done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }

sql() {
  case "$LANE" in
    sqlite) sqlite3 -cmd ".timeout 10000" "$WORK/data/shipmix.sqlite" "$1" ;;
    postgres) psql "$PG_URL/shipmix_scale" -qAtc "$1" ;;
  esac
}

fresh() {
  rm -rf "$WORK/data"
  if [ "$LANE" = postgres ]; then
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS shipmix_scale WITH (FORCE)" -c "CREATE DATABASE shipmix_scale" >/dev/null
    redis-cli -u "$REDIS_URL_BENCH" --scan --pattern 'shipmix:*' | xargs -r redis-cli -u "$REDIS_URL_BENCH" del >/dev/null
  fi
  start --demo
  stop
  local hot; hot="'${HOT[0]}', '${HOT[1]}', '${HOT[2]}'"
  sql "UPDATE stock_levels SET on_hand = 0 WHERE product_id IN (SELECT id FROM products WHERE sku IN ($hot));
       UPDATE stock_levels SET on_hand = 100000000 WHERE product_id NOT IN (SELECT id FROM products WHERE sku IN ($hot));
       UPDATE products SET backorderable = true WHERE sku IN ($hot)"
  start
}

grow_to() { # orders
  while :; do
    local have; have=$(sql "SELECT count(*) FROM orders")
    (( have < $1 )) || break
    local secs=$(( ($1 - have) / 300 + 1 )); (( secs > 20 )) && secs=20
    OPERATION=grow wrk -t2 -c8 -d"${secs}s" -s bench/scale.lua "$URL" >/dev/null
  done
  sql "ANALYZE" >/dev/null
}

gql() { # json-escaped query text -> request body
  printf '{"query":"%s"}' "$1"
}

latency() { # name runs body-with-@ID@ [ids-file]
  local name=$1 runs=$2 body=$3 ids=${4:-} times=() i=0 failed=0 first=
  while (( i < runs )); do
    local b=$body
    if [ -n "$ids" ]; then
      local id; id=$(sed -n "$(( i + 1 ))p" "$ids"); [ -n "$id" ] || break
      b=${body//@ID@/$id}
    fi
    b=${b//@N@/$RANDOM$i}
    times+=("$(curl -s -o "$WORK/answer" -w '%{time_total}' -H 'content-type: application/json' -H "authorization: Bearer ${SHIPMIX_KEY:-shm_demo_admin}" -d "$b" "$URL")")
    if grep -qF -e '"errors"' -e '"userErrors":[{' "$WORK/answer"; then
      failed=$(( failed + 1 )); [ -n "$first" ] || first=$(head -c 200 "$WORK/answer")
    fi
    i=$(( i + 1 ))
  done
  (( ${#times[@]} > 0 )) || { printf '  %-44s (no ids)\n' "$name"; return; }
  printf '%s\n' "${times[@]}" | sort -n | awk -v name="$name" -v failed="$failed" -v first="$first" \
    '{ t[NR] = $1 * 1000 } END { printf "  %-44s median %8.1f ms  max %8.1f ms  (n=%d, failed %d) %s\n", name, t[int((NR + 1) / 2)], t[NR], NR, failed, first }'
}

throughput() { # name body-with-@ID@ [ids-file]
  local name=$1 body=$2 ids=${3:-} line
  if [ "$body" = grow ]; then
    line=$(OPERATION=grow wrk -t2 -c8 -d"${SECS}s" -s bench/scale.lua "$URL" 2>&1 | grep -E "^RESULT|first failure")
  elif [ -n "$ids" ]; then
    line=$(OPERATION=ids IDS="$ids" BODY="$body" THREADS=2 wrk -t2 -c8 -d"${SECS}s" -s bench/scale.lua "$URL" 2>&1 | grep -E "^RESULT|first failure")
  else
    line=$(OPERATION=body BODY="$body" BODIES="${BODIES:-}" wrk -t2 -c8 -d"${SECS}s" -s bench/scale.lua "$URL" 2>&1 | grep -E "^RESULT|first failure")
  fi
  printf '  %-44s %s\n' "$name" "$line"
}

ids() { # file kind query: the rows' public ids, as clients know them
  local where
  case "$LANE" in
    sqlite) where=(--data-dir "$WORK/data") ;;
    postgres) where=(--database-url "$PG_URL/shipmix_scale") ;;
  esac
  sql "$3" | "$BIN" ids --kind "$2" "${where[@]}" >"$1"
}

mid_queue_order() { # the body of order(id) for an order half way down the longest queue
  # Read when it is asked for, after the receipts and cancellations before
  # it, so that the order still waits and has a position.
  local longest; longest=$(sql "SELECT sku FROM backorders WHERE status = 'CONFIRMED' GROUP BY sku ORDER BY count(*) DESC LIMIT 1")
  ids "$WORK/middle" ORDER "SELECT order_id FROM backorders WHERE sku = '$longest' AND status = 'CONFIRMED' ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM backorders WHERE sku = '$longest' AND status = 'CONFIRMED')"
  gql "{ order(id: \\\"$(head -1 "$WORK/middle")\\\") { status backorders { queuePosition estimatedAvailableDate } } }"
}

measure() {
  local hot1=${HOT[0]} w
  w=$(sql "SELECT w.code FROM warehouses w JOIN stock_levels s ON s.warehouse_id = w.id JOIN products p ON p.id = s.product_id WHERE p.sku = '$hot1' AND w.active ORDER BY w.code LIMIT 1")
  local queues; queues=$(sql "SELECT sku || ' ' || count(*) FROM backorders WHERE status = 'CONFIRMED' GROUP BY sku ORDER BY sku" | tr '\n' ' ')
  echo "## $LANE, $(sql "SELECT count(*) FROM orders") orders, $(sql "SELECT count(*) FROM backorders WHERE status = 'CONFIRMED'") confirmed backorders ($queues)"
  # Disjoint pools: orders with even ids are cancelled whole, the others
  # lose a line's unit or have a backorder confirmed.
  local oldest="SELECT id FROM orders WHERE status = 'BACKORDERED' AND id % 2 = 0 ORDER BY id"
  local hot_lines="SELECT order_line_id FROM backorders WHERE status = 'CONFIRMED' AND quantity = 1 AND order_id % 2 = 1 ORDER BY id DESC"
  local awaiting="SELECT id FROM backorders WHERE status = 'AWAITING_CONFIRMATION' AND order_id % 2 = 1 ORDER BY id DESC"
  ids "$WORK/cancel" ORDER "$oldest LIMIT 2000"
  ids "$WORK/lines" LINE "$hot_lines LIMIT 2000"
  ids "$WORK/confirm" BACKORDER "$awaiting LIMIT 2000"
  local skus='\"SKU00007\",\"SKU00014\",\"SKU00021\",\"SKU00028\",\"SKU00035\",\"SKU00042\",\"SKU00049\",\"SKU00056\",\"SKU00063\",\"SKU00070\"'
  local availability; availability=$(gql "{ availability(skus: [$skus]) { sku totalAvailable locations { warehouse { code } available } } }")
  local quote; quote=$(gql "{ quoteFulfillment(input: {lines: [{sku: \\\"SKU00007\\\", quantity: 2}, {sku: \\\"SKU00014\\\", quantity: 1}, {sku: \\\"SKU00042\\\", quantity: 1}], destination: {latitude: 40.71, longitude: -74.0}}) { shipmentCount shippingCost optimal } }")
  local place; place=$(gql "mutation { placeOrder(input: {lines: [{sku: \\\"SKU00007\\\", quantity: 1}], destination: {latitude: 41.9, longitude: -87.6}, customerReference: \\\"scale\\\", idempotencyKey: \\\"lat-@N@\\\"}) { userErrors { code } } }")
  local recv1; recv1=$(gql "mutation { receiveStock(input: {warehouseCode: \\\"$w\\\", sku: \\\"$hot1\\\", quantity: 1}) { userErrors { code } } }")
  local cancel; cancel=$(gql "mutation { cancelOrder(id: \\\"@ID@\\\") { userErrors { code } } }")
  local line; line=$(gql "mutation { cancelOrderLine(input: {lineId: \\\"@ID@\\\", quantity: 1}) { userErrors { code } } }")
  local confirm; confirm=$(gql "mutation { confirmBackorder(id: \\\"@ID@\\\") { userErrors { code } } }")
  local page; page=$(gql "{ backorders(status: CONFIRMED, first: 50) { id queuePosition estimatedAvailableDate } }")
  local sku_page; sku_page=$(gql "{ backorders(sku: \\\"$hot1\\\", status: CONFIRMED, first: 50) { id queuePosition estimatedAvailableDate } }")
  local orders; orders=$(gql "{ orders(first: 20, status: BACKORDERED) { nodes { id status lines { sku quantity } backorders { queuePosition estimatedAvailableDate } } } }")

  echo "latency (sequential)"
  latency "availability of 10 skus" 20 "$availability"
  latency "quote of 3 lines" 20 "$quote"
  latency "placeOrder" 20 "$place"
  latency "receiveStock of 1 unit ($hot1)" 20 "$recv1"
  for s in "${HOT[@]:1}"; do
    local ws; ws=$(sql "SELECT w.code FROM warehouses w JOIN stock_levels l ON l.warehouse_id = w.id JOIN products p ON p.id = l.product_id WHERE p.sku = '$s' AND w.active ORDER BY w.code LIMIT 1")
    latency "receiveStock of 500 units ($s)" 1 "$(gql "mutation { receiveStock(input: {warehouseCode: \\\"$ws\\\", sku: \\\"$s\\\", quantity: 500}) { userErrors { code } } }")"
  done
  latency "cancelOrder (oldest backordered)" 20 "$cancel" "$WORK/cancel"
  latency "cancelOrderLine (1 unit, newest)" 20 "$line" "$WORK/lines"
  latency "confirmBackorder" 20 "$confirm" "$WORK/confirm"
  latency "backorders(CONFIRMED, first: 50) + positions" 20 "$page"
  latency "backorders(sku, CONFIRMED, first: 50)" 20 "$sku_page"
  latency "orders(first: 20, BACKORDERED)" 20 "$orders"
  latency "order(id) with queuePosition (mid-queue)" 20 "$(mid_queue_order)"

  echo "throughput (8 connections, ${SECS} s or until the ids run out)"
  tail -n +21 "$WORK/cancel" >"$WORK/cancel.t"; tail -n +21 "$WORK/lines" >"$WORK/lines.t"; tail -n +21 "$WORK/confirm" >"$WORK/confirm.t"
  throughput "availability of 10 skus" "$availability"
  throughput "quote of 3 lines" "$quote"
  throughput "placeOrder (the growth mix)" grow
  # One unit to each hot sku in turn, so no queue runs dry.
  local receipts=""
  for s in "${HOT[@]}"; do
    local ws; ws=$(sql "SELECT w.code FROM warehouses w JOIN stock_levels l ON l.warehouse_id = w.id JOIN products p ON p.id = l.product_id WHERE p.sku = '$s' AND w.active ORDER BY w.code LIMIT 1")
    receipts+="$(gql "mutation { receiveStock(input: {warehouseCode: \\\"$ws\\\", sku: \\\"$s\\\", quantity: 1}) { userErrors { code } } }")"$'\n'
  done
  BODIES="$receipts" throughput "receiveStock of 1 unit (hot skus in turn)" "$recv1"
  throughput "cancelOrder" "$cancel" "$WORK/cancel.t"
  throughput "cancelOrderLine" "$line" "$WORK/lines.t"
  throughput "confirmBackorder" "$confirm" "$WORK/confirm.t"
  throughput "backorders(CONFIRMED, first: 50)" "$page"
  throughput "orders(first: 20, BACKORDERED)" "$orders"
  throughput "order(id) with queuePosition" "$(mid_queue_order)"
  echo "  oversold levels: $(sql 'SELECT count(*) FROM stock_levels WHERE reserved > on_hand OR reserved < 0'), peak RSS $(grep VmHWM /proc/$SERVER/status | awk '{print $2, $3}')"
}

for LANE in "${LANES[@]}"; do
  fresh
  for size in "${SIZES[@]}"; do
    grow_to "$size"
    measure
  done
  stop
done
