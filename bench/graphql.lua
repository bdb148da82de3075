-- wrk script: POSTs one GraphQL operation, chosen by the OPERATION
-- environment variable (availability | quote | place). placeOrder gets a
-- fresh idempotency key per request (thread id + counter), so every request
-- places a new order.
local operation = os.getenv("OPERATION") or "availability"

local skus = {}
for i = 1, 10 do skus[i] = string.format('"SKU%05d"', i * 7) end

local bodies = {
  availability = '{"query":"query($s: [String!]!) { availability(skus: $s) { sku totalAvailable locations { warehouse { code } available } } }","variables":{"s":[' .. table.concat(skus, ",") .. ']}}',
  quote = '{"query":"query($i: QuoteInput!) { quoteFulfillment(input: $i) { shipmentCount shippingCost optimal planToken shipments { warehouse { code } lines { sku quantity } } } }","variables":{"i":{"lines":[{"sku":"SKU00001","quantity":2},{"sku":"SKU00014","quantity":1},{"sku":"SKU00042","quantity":1}],"destination":{"latitude":40.71,"longitude":-74.0}}}}',
}

local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  -- The demo's admin key unless another is given.
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SHIPMIX_KEY") or "shm_demo_admin")
end

function request()
  if operation == "place" then
    counter = counter + 1
    -- Demo products whose rank is a multiple of 11 cannot be backordered;
    -- skip them so every request places an order.
    local rank = (counter * 13) % 300
    if rank % 11 == 0 then rank = rank + 1 end
    local sku = string.format("SKU%05d", rank + 1)
    local body = '{"query":"mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code } order { id } } }","variables":{"i":{"lines":[{"sku":"' .. sku .. '","quantity":1},{"sku":"SKU00002","quantity":1}],"destination":{"latitude":41.9,"longitude":-87.6},"customerReference":"load","backorderConsent":true,"idempotencyKey":"load-' .. tid .. '-' .. counter .. '-' .. os.time() .. '"}}}'
    return wrk.format(nil, nil, nil, body)
  end
  return wrk.format(nil, nil, nil, bodies[operation])
end

local errors = 0
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') or string.find(body, '"code"') then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d non2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, (summary.errors.status or 0)))
end
