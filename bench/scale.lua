-- wrk script for bench/scale.sh. OPERATION picks what every request does:
--   grow      placeOrder: two in five orders also want a hot sku (out of
--             stock: it backorders, seven in eight confirmed by consent, one in
--             eight at a higher priority); the rest ship from stock
--   ids       BODY with "@ID@" replaced by the next id of the file IDS
--             (each thread takes its own stride, so no id is used twice;
--             a thread stops when its ids run out)
--   body      BODY as it is, every request; with BODIES (bodies separated
--             by newlines) one after the other instead
local operation = os.getenv("OPERATION") or "body"
local template = os.getenv("BODY") or ""
local hot = { "SKU00002", "SKU00003", "SKU00004" }

local ids = {}
local bodies = {}
-- tid and threads are globals of each thread's state (thread:set).
local created = 0
local all = {}
local counter = 0

function setup(thread)
  created = created + 1
  all[created] = thread
  thread:set("tid", created)
  thread:set("threads", tonumber(os.getenv("THREADS") or "2"))
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  -- The demo's admin key unless another is given.
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SHIPMIX_KEY") or "shm_demo_admin")
  if operation == "ids" then
    for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
  end
  for body in string.gmatch(os.getenv("BODIES") or "", "[^\n]+") do bodies[#bodies + 1] = body end
end

local function place()
  counter = counter + 1
  local n = tid * 1000003 + counter
  -- Stocked demo skus, skipping the hot ones and those that cannot be
  -- backordered (rank a multiple of 11).
  local rank = 4 + (n * 13) % 290
  if rank % 11 == 0 then rank = rank + 1 end
  local lines = '{"sku":"' .. string.format("SKU%05d", rank + 1) .. '","quantity":1}'
  if n % 5 < 2 then
    lines = lines .. ',{"sku":"' .. hot[math.floor(n / 5) % 3 + 1] .. '","quantity":1}'
  end
  local consent = (n % 20 ~= 6) and "true" or "false"
  local priority = (n % 20 == 5) and 1 or 0
  return '{"query":"mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code } } }","variables":{"i":{"lines":['
    .. lines .. '],"destination":{"latitude":41.9,"longitude":-87.6},"customerReference":"scale","backorderConsent":'
    .. consent .. ',"priority":' .. priority .. ',"idempotencyKey":"scale-' .. os.time() .. '-' .. tid .. '-' .. counter .. '"}}}'
end

function request()
  if operation == "grow" then
    return wrk.format(nil, nil, nil, place())
  end
  if operation == "ids" then
    local index = tid + counter * threads
    counter = counter + 1
    local id = ids[index]
    -- The pool is used up: the answers in flight end the thread.
    if id == nil then id = "0"; exhausted = true end
    return wrk.format(nil, nil, nil, (string.gsub(template, "@ID@", id)))
  end
  if #bodies > 0 then
    counter = counter + 1
    return wrk.format(nil, nil, nil, bodies[counter % #bodies + 1])
  end
  return wrk.format(nil, nil, nil, template)
end

failures = 0
exhausted = false
function response(status, headers, body)
  if exhausted then
    wrk.thread:stop()
    return
  end
  -- A failure is a transport error, a GraphQL error or a user error.
  if status ~= 200 or string.find(body, '"errors"', 1, true) or string.find(body, '"userErrors":[{', 1, true) then
    failures = failures + 1
    if failures == 1 then io.stderr:write("first failure: " .. string.sub(body, 1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(all) do failed = failed + (t:get("failures") or 0) end
  local rate = summary.requests / (summary.duration / 1e6)
  if operation == "ids" then
    -- wrk waits out its duration after a pool runs out: the rate of the
    -- busy connections is theirs over the mean latency (Little's law).
    rate = tonumber(os.getenv("CONNECTIONS") or "8") / (latency.mean / 1e6)
  end
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d failed=%d\n",
    rate,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests, failed))
end
