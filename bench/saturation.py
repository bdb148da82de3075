#!/usr/bin/env python3
"""While clients send the heaviest quotes, do health and availability answer?

Builds an adversarial network through the open mutations (80 warehouses, each
holding 8 of 100 skus in small amounts, so no few warehouses cover an order
and the search cannot prove its plan quickly), then runs CLIENTS threads that
each send, in a loop, a quote of all 100 skus with its explanation. Meanwhile
one probe measures /healthz and one measures availability of 10 skus, each
sequentially, for SECS seconds; prints p50 / p99 / max of both and how many
quotes were answered.

    bench/saturation.py http://127.0.0.1:18799 [SECS] [CLIENTS]
"""
import json
import os
import sys
import threading
import time
import urllib.request

BASE = sys.argv[1]
SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 20
CLIENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 8
SKUS = [f"S{i:03}" for i in range(100)]


def post(query, variables=None, timeout=120):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(BASE + "/graphql", body, {"Content-Type": "application/json",
                                                           "Authorization": "Bearer " + os.environ["SHIPMIX_KEY"]})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def seed():
    for i in range(80):
        w = {"code": f"W{i:02}", "name": f"W{i:02}", "latitude": 30.0 + (i % 10), "longitude": -100.0 + i // 10,
             "baseCost": "5", "costPerKm": "0.001"}
        post("mutation($i: UpsertWarehouseInput!) { upsertWarehouse(input: $i) { userErrors { message } } }", {"i": w})
    products = [{"sku": s, "name": s, "unitPrice": "10"} for s in SKUS]
    post("mutation($p: [ProductInput!]!) { upsertProducts(input: $p) { userErrors { message } } }", {"p": products})
    x, levels = 7, {}
    for i in range(80):
        for _ in range(8):
            x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
            levels[(f"W{i:02}", SKUS[(x >> 33) % 100])] = 1 + x % 5
    rows = [{"warehouseCode": w, "sku": s, "onHand": q} for (w, s), q in levels.items()]
    post("mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { userErrors { message } } }", {"l": rows})


HEAVY = "query($i: QuoteInput!) { quoteFulfillment(input: $i) { shipmentCount optimal explanation } }"
HEAVY_INPUT = {"i": {"lines": [{"sku": s, "quantity": 3} for s in SKUS],
                     "destination": {"latitude": 40.7, "longitude": -74.0}}}
stop = time.time() + SECS
quotes = {"answered": 0, "refused": 0, "failed": 0}
lock = threading.Lock()


def heavy():
    while time.time() < stop:
        try:
            r = post(HEAVY, HEAVY_INPUT, timeout=SECS + 60)
            kind = "refused" if r.get("errors") else "answered"
        except Exception:
            kind = "failed"
        with lock:
            quotes[kind] += 1


def probe(name, call, out):
    while time.time() < stop:
        started = time.perf_counter()
        try:
            call()
            out.append((time.perf_counter() - started) * 1000)
        except Exception:
            out.append(float("inf"))
        time.sleep(0.02)


def healthz():
    with urllib.request.urlopen(BASE + "/healthz", timeout=SECS + 60) as r:
        r.read()


def availability():
    post("{ availability(skus: %s) { sku totalAvailable } }" % json.dumps(SKUS[:10]), timeout=SECS + 60)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


seed()
post(HEAVY, HEAVY_INPUT, timeout=600)  # warm: the first quote also fills the cache
stop = time.time() + SECS
health, avail = [], []
threads = [threading.Thread(target=heavy) for _ in range(CLIENTS)]
threads += [threading.Thread(target=probe, args=("healthz", healthz, health)),
            threading.Thread(target=probe, args=("availability", availability, avail))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{CLIENTS} clients sending 100-line quotes with explanations for {SECS:.0f} s: quotes {quotes}")
for name, xs in (("/healthz", health), ("availability (10 skus)", avail)):
    print(f"{name:24} n={len(xs):5}  p50 {pct(xs, .5):8.1f} ms  p99 {pct(xs, .99):8.1f} ms  max {max(xs):8.1f} ms")
