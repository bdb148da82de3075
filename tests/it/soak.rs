//! Many writers at once, as a busy deployment runs: two replicas on one
//! database, clients mixing every mutation (placements with and without
//! consent, both policies and priorities, same-key replays, confirmations,
//! cancellations of backorders, lines and orders, receipts, adjustments,
//! feeds in and out of sequence, expected receipts, shipping, short picks,
//! proposals, answers, direct substitutions, credits) on the same few orders
//! and ten hot skus with 0–3 units per level, while the backorder worker
//! runs on both replicas. Afterwards the database itself is checked:
//! - no level is negative or reserves more than it holds, and reserved is
//!   exactly what open packages hold;
//! - every line balances; no confirmed backorder waits while its sku is on
//!   sale;
//! - every order's stored status is the one its rows derive; no
//!   `SHIP_COMPLETE` order ships early or holds packages with nothing left
//!   to wait for; at most one open package per order and warehouse;
//! - every idempotency key placed one order, every acknowledged order
//!   exists, and a replayed key answered with the order it placed first;
//! - no request failed internally, no stock arrival was answered
//!   `CONTENTION`, and the database detected no deadlock.
//!
//! In the suite it runs on the Postgres lane, where writers really run side
//! by side (SQLite has one writer at a time): two in-process replicas, 8
//! clients, 60 s, seeded. `bench/soak.sh` runs the same driver
//! (`soak_against_running_replicas`, ignored in the suite) against real
//! `shipmix serve` processes for longer, killing one and restarting it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::support::{Lane, lanes, spawn_configured, spawn_replica_with};

/// What the clients share: where to send requests, the network, and the
/// orders anyone placed (so that clients change each other's orders).
struct Driver {
    http: reqwest::Client,
    targets: Vec<String>,
    warehouses: Vec<String>,
    skus: Vec<String>,
    orders: Mutex<Vec<String>>,
    /// Feed sequences: mostly rising, sometimes one from the past.
    sequence: AtomicI64,
}

/// A small deterministic generator, so a seed replays the same scripts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// A placement a client sent: its input and the order it got, if it heard.
struct Placement {
    input: Value,
    order: Option<String>,
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    codes: BTreeMap<(&'static str, String), usize>,
    /// Requests whose answer never came (a replica killed under them).
    lost: usize,
    internal: Vec<String>,
    placements: Vec<Placement>,
    replay_mismatches: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (op, mut l) in other.latencies {
            self.latencies.entry(op).or_default().append(&mut l);
        }
        for (key, n) in other.codes {
            *self.codes.entry(key).or_default() += n;
        }
        self.lost += other.lost;
        self.internal.extend(other.internal);
        self.placements.extend(other.placements);
        self.replay_mismatches.extend(other.replay_mismatches);
    }
}

/// Operations whose refusal would lose what a warehouse reported.
const ARRIVALS: [&str; 4] = ["receiveStock", "adjustStock+", "setStockLevels", "recordInboundReceipt"];

impl Driver {
    /// Sends one operation; `None` when it failed (recorded in `tally`).
    async fn call(
        &self,
        rng: &mut Rng,
        tally: &mut Tally,
        op: &'static str,
        query: &str,
        variables: Value,
    ) -> Option<Value> {
        let target = &self.targets[rng.below(self.targets.len())];
        let started = Instant::now();
        let sent = self.http.post(target).json(&json!({ "query": query, "variables": variables })).send().await;
        let body: Option<Value> = match sent {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        tally.latencies.entry(op).or_default().push(started.elapsed());
        let Some(body) = body else {
            tally.lost += 1;
            return None;
        };
        if body.get("errors").is_some() {
            tally.internal.push(format!("{op}: {body}"));
            return None;
        }
        let payload = body["data"].as_object()?.values().next()?.clone();
        for e in payload["userErrors"].as_array().into_iter().flatten() {
            *tally.codes.entry((op, e["code"].as_str().unwrap_or("?").to_owned())).or_default() += 1;
        }
        Some(payload)
    }

    fn hot(&self, rng: &mut Rng) -> String {
        self.skus[rng.below(self.skus.len())].clone()
    }

    fn warehouse(&self, rng: &mut Rng) -> String {
        self.warehouses[rng.below(self.warehouses.len())].clone()
    }

    fn feed_sequence(&self, rng: &mut Rng) -> i64 {
        let next = self.sequence.fetch_add(1, Ordering::Relaxed);
        if rng.chance(20) { next - 50 } else { next }
    }

    async fn place(&self, rng: &mut Rng, tally: &mut Tally, key: String) {
        let mut skus = self.skus.clone();
        let count = 1 + rng.below(3);
        let lines: Vec<Value> = (0..count)
            .map(|_| {
                let sku = skus.swap_remove(rng.below(skus.len()));
                json!({ "sku": sku, "quantity": 1 + rng.below(3) })
            })
            .collect();
        let input = json!({
            "lines": lines,
            "destination": { "latitude": 39.0 + rng.below(6) as f64, "longitude": -120.0 + rng.below(46) as f64 },
            "policy": if rng.chance(30) { "SHIP_COMPLETE" } else { "SHIP_AVAILABLE" },
            "customerReference": format!("soak {key}"),
            "idempotencyKey": key,
            "backorderConsent": rng.chance(60),
            "priority": rng.below(2),
        });
        let payload = self.call(rng, tally, "placeOrder", PLACE, json!({ "i": input })).await;
        let order = payload.and_then(|p| p["order"]["id"].as_str().map(str::to_owned));
        if let Some(id) = &order {
            self.orders.lock().unwrap().push(id.clone());
        }
        tally.placements.push(Placement { input, order });
    }

    /// Sends an earlier placement again, as a storefront that lost the
    /// answer would: it must get the order that key placed.
    async fn replay(&self, rng: &mut Rng, tally: &mut Tally) {
        let Some(n) = (!tally.placements.is_empty()).then(|| rng.below(tally.placements.len())) else { return };
        let input = tally.placements[n].input.clone();
        let payload = self.call(rng, tally, "placeOrder (replay)", PLACE, json!({ "i": input })).await;
        let got = payload.as_ref().and_then(|p| p["order"]["id"].as_str().map(str::to_owned));
        let placement = &mut tally.placements[n];
        match (&placement.order, got) {
            (Some(first), Some(again)) if *first != again => {
                let key = &placement.input["idempotencyKey"];
                tally.replay_mismatches.push(format!("{key}: first {first}, then {again}"));
            }
            (None, Some(again)) => placement.order = Some(again),
            _ => {}
        }
    }

    async fn on_an_order(&self, rng: &mut Rng, tally: &mut Tally) {
        let id = {
            let orders = self.orders.lock().unwrap();
            // The newest orders are where the action is (they still wait);
            // older ones have packages to ship.
            let window = if rng.chance(50) { 40 } else { orders.len() };
            let recent = &orders[orders.len().saturating_sub(window)..];
            match rng.pick(recent) {
                Some(id) => id.clone(),
                None => return,
            }
        };
        let Some(order) = self.call(rng, tally, "order", READ_ORDER, json!({ "id": id })).await else { return };
        let order = &order;
        let list = |name: &str| order[name].as_array().cloned().unwrap_or_default();
        let with_status = |name: &str, statuses: &[&str]| -> Vec<Value> {
            list(name).into_iter().filter(|x| statuses.contains(&x["status"].as_str().unwrap_or(""))).collect()
        };
        let waiting = with_status("backorders", &["AWAITING_CONFIRMATION", "CONFIRMED"]);
        match rng.below(100) {
            0..14 => {
                if let Some(b) = rng.pick(&with_status("backorders", &["AWAITING_CONFIRMATION"])) {
                    self.call(rng, tally, "confirmBackorder", CONFIRM, json!({ "b": b["id"] })).await;
                }
            }
            14..20 => {
                if let Some(b) = rng.pick(&waiting) {
                    self.call(rng, tally, "cancelBackorder", CANCEL_BACKORDER, json!({ "b": b["id"] })).await;
                }
            }
            20..29 => {
                if let Some(line) = rng.pick(&list("lines")) {
                    let quantity = if rng.chance(70) { json!(1) } else { Value::Null };
                    self.call(rng, tally, "cancelOrderLine", CANCEL_LINE, json!({ "l": line["id"], "q": quantity }))
                        .await;
                }
            }
            29..32 => {
                self.call(rng, tally, "cancelOrder", CANCEL_ORDER, json!({ "o": id })).await;
            }
            32..52 => {
                if let Some(s) = rng.pick(&with_status("shipments", &["RELEASED"])) {
                    let tracking = format!("TRK{}", rng.next());
                    self.call(rng, tally, "markShipmentShipped", SHIP, json!({ "s": s["id"], "t": tracking })).await;
                }
            }
            52..62 => {
                if let Some(s) = rng.pick(&with_status("shipments", &["PENDING", "RELEASED"])) {
                    let sku = &s["lines"][0]["sku"];
                    self.call(rng, tally, "reportShortPick", SHORT_PICK, json!({ "s": s["id"], "k": sku })).await;
                }
            }
            62..80 => {
                let skus: Vec<String> = waiting.iter().filter_map(|b| b["sku"].as_str().map(str::to_owned)).collect();
                let Some(sku) = rng.pick(&skus).cloned() else { return };
                let Some(line) = list("lines").into_iter().find(|l| l["sku"] == sku.as_str()) else { return };
                let substitute = self.skus.iter().filter(|s| **s != sku).nth(rng.below(self.skus.len() - 1));
                let (op, query) =
                    if rng.chance(50) { ("proposeSubstitution", PROPOSE) } else { ("substituteLine", SUBSTITUTE) };
                let quantity = if rng.chance(50) { json!(1) } else { Value::Null };
                self.call(rng, tally, op, query, json!({ "l": line["id"], "k": substitute, "q": quantity })).await;
            }
            80..94 => {
                if let Some(p) = rng.pick(&with_status("substitutions", &["PROPOSED"])) {
                    let accept = rng.chance(70);
                    self.call(rng, tally, "respondToSubstitution", RESPOND, json!({ "p": p["id"], "a": accept })).await;
                }
            }
            _ => {
                self.call(rng, tally, "issueCompensation", COMPENSATE, json!({ "o": id })).await;
            }
        }
    }

    async fn on_the_stock(&self, rng: &mut Rng, tally: &mut Tally) {
        match rng.below(100) {
            0..35 => {
                let v = json!({ "w": self.warehouse(rng), "s": self.hot(rng), "q": 1 + rng.below(3) });
                self.call(rng, tally, "receiveStock", RECEIVE, v).await;
            }
            35..60 => {
                let delta = [-2, -1, 1, 2, 3][rng.below(5)];
                let op = if delta > 0 { "adjustStock+" } else { "adjustStock-" };
                let v = json!({ "w": self.warehouse(rng), "s": self.hot(rng), "d": delta });
                self.call(rng, tally, op, ADJUST, v).await;
            }
            60..88 => {
                let mut levels: Vec<Value> = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    let (w, s) = (self.warehouse(rng), self.hot(rng));
                    if levels.iter().any(|l| l["warehouseCode"] == w.as_str() && l["sku"] == s.as_str()) {
                        continue;
                    }
                    let sequence = self.feed_sequence(rng);
                    levels.push(json!({ "warehouseCode": w, "sku": s, "onHand": rng.below(4), "sequence": sequence }));
                }
                self.call(rng, tally, "setStockLevels", FEED, json!({ "l": levels })).await;
            }
            _ => {
                let day = chrono::Utc::now().date_naive() + chrono::Days::new(1 + rng.below(14) as u64);
                let v = json!({ "w": self.warehouse(rng), "s": self.hot(rng), "q": 1 + rng.below(4), "d": day.to_string() });
                self.call(rng, tally, "recordInboundReceipt", RECEIPT, v).await;
            }
        }
    }
}

const PLACE: &str =
    "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { replayed order { id } userErrors { code message } } }";
const READ_ORDER: &str = "query($id: ID!) { order(id: $id) { id lines { id sku } shipments { id status lines { sku quantity } } backorders { id sku status } substitutions { id status } } }";
const CONFIRM: &str = "mutation($b: ID!) { confirmBackorder(id: $b) { userErrors { code } } }";
const CANCEL_BACKORDER: &str = "mutation($b: ID!) { cancelBackorder(id: $b) { userErrors { code } } }";
const CANCEL_LINE: &str = "mutation($l: ID!, $q: Int) { cancelOrderLine(input: {lineId: $l, quantity: $q, reason: \"soak\"}) { userErrors { code } } }";
const CANCEL_ORDER: &str = "mutation($o: ID!) { cancelOrder(id: $o, reason: \"soak\") { userErrors { code } } }";
const SHIP: &str =
    "mutation($s: ID!, $t: String!) { markShipmentShipped(id: $s, trackingNumber: $t) { userErrors { code } } }";
const SHORT_PICK: &str = "mutation($s: ID!, $k: String!) { reportShortPick(input: {shipmentId: $s, sku: $k, quantity: 1, reason: \"soak\"}) { userErrors { code } } }";
const PROPOSE: &str = "mutation($l: ID!, $k: String!, $q: Int) { proposeSubstitution(input: {lineId: $l, substituteSku: $k, quantity: $q, note: \"soak\"}) { userErrors { code } } }";
const SUBSTITUTE: &str = "mutation($l: ID!, $k: String!, $q: Int) { substituteLine(input: {lineId: $l, substituteSku: $k, quantity: $q, note: \"soak\"}) { userErrors { code } } }";
const RESPOND: &str =
    "mutation($p: ID!, $a: Boolean!) { respondToSubstitution(id: $p, accept: $a) { userErrors { code } } }";
const COMPENSATE: &str = "mutation($o: ID!) { issueCompensation(input: {orderId: $o, amount: \"0.50\", reason: \"soak\"}) { userErrors { code } } }";
const RECEIVE: &str = "mutation($w: String!, $s: String!, $q: Int!) { receiveStock(input: {warehouseCode: $w, sku: $s, quantity: $q}) { userErrors { code } } }";
const ADJUST: &str = "mutation($w: String!, $s: String!, $d: Int!) { adjustStock(input: {warehouseCode: $w, sku: $s, delta: $d, reason: \"soak\"}) { userErrors { code } } }";
const FEED: &str = "mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { userErrors { code } } }";
const RECEIPT: &str = "mutation($w: String!, $s: String!, $q: Int!, $d: Date!) { recordInboundReceipt(input: {warehouseCode: $w, sku: $s, quantity: $q, expectedOn: $d}) { userErrors { code } } }";

/// One client: a seeded mix of every mutation until `until`.
async fn client(driver: Arc<Driver>, seed: u64, until: Instant) -> Tally {
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut placed = 0;
    while Instant::now() < until {
        match rng.below(100) {
            0..24 => {
                placed += 1;
                driver.place(&mut rng, &mut tally, format!("soak-{seed}-{placed}")).await;
            }
            24..28 => driver.replay(&mut rng, &mut tally).await,
            28..50 => driver.on_the_stock(&mut rng, &mut tally).await,
            _ => driver.on_an_order(&mut rng, &mut tally).await,
        }
    }
    tally
}

/// How a run is set up.
pub(crate) struct Soak {
    pub(crate) clients: usize,
    pub(crate) duration: Duration,
    pub(crate) seed: u64,
}

/// Sets the hot levels to 0–3 units, runs the clients against `targets`,
/// and returns what they saw.
async fn drive(
    targets: Vec<String>,
    key: &str,
    warehouses: Vec<String>,
    skus: Vec<String>,
    soak: &Soak,
) -> (Tally, Duration) {
    // Idle connections are dropped before the server's keep-alive (5 s)
    // closes them, so a request never goes out on a connection the server
    // is closing at that moment (which would be lost without a reply).
    let http = reqwest::Client::builder()
        .default_headers(crate::support::bearer(key))
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let levels: Vec<Value> = warehouses
        .iter()
        .enumerate()
        .flat_map(|(w, code)| {
            skus.iter().enumerate().map(move |(s, sku)| {
                json!({ "warehouseCode": code, "sku": sku, "onHand": (w + s) % 4, "safetyStock": 0, "sequence": now_ms })
            })
        })
        .collect();
    let body = json!({ "query": FEED, "variables": { "l": levels } });
    let set: Value = http.post(&targets[0]).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(set["data"]["setStockLevels"]["userErrors"], json!([]), "{set}");
    let driver = Arc::new(Driver {
        http,
        targets,
        warehouses,
        skus,
        orders: Mutex::new(Vec::new()),
        sequence: AtomicI64::new(now_ms + 1),
    });
    let started = Instant::now();
    let until = started + soak.duration;
    let tasks: Vec<_> = (0..soak.clients)
        .map(|c| tokio::spawn(client(driver.clone(), soak.seed.wrapping_mul(1_000).wrapping_add(c as u64), until)))
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.unwrap());
    }
    (tally, started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Requests, throughput and latency per operation, and the refusals met.
fn report(tally: &mut Tally, elapsed: Duration) -> String {
    let mut out = "| operation | requests | req/s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n".to_owned();
    let mut all = Vec::new();
    for (op, latencies) in &mut tally.latencies {
        latencies.sort();
        all.extend_from_slice(latencies);
        let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
        out += &format!(
            "| {op} | {} | {:.1} | {:.0} | {:.0} | {:.0} |\n",
            latencies.len(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 0.99)),
            ms(*latencies.last().unwrap()),
        );
    }
    all.sort();
    if !all.is_empty() {
        out += &format!(
            "| all | {} | {:.1} | {:.0} | {:.0} | {:.0} |\n",
            all.len(),
            all.len() as f64 / elapsed.as_secs_f64(),
            percentile(&all, 0.5).as_secs_f64() * 1_000.0,
            percentile(&all, 0.99).as_secs_f64() * 1_000.0,
            all.last().unwrap().as_secs_f64() * 1_000.0,
        );
    }
    out += "\nrefusals (typed user errors):\n";
    for ((op, code), n) in &tally.codes {
        out += &format!("  {op}: {code} × {n}\n");
    }
    out += &format!("answers lost (replica killed under them): {}\n", tally.lost);
    out
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap()
        .expect("one row");
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn deadlocks(db: &DatabaseConnection) -> i64 {
    scalar(db, "SELECT CAST(deadlocks AS BIGINT) FROM pg_stat_database WHERE datname = current_database()").await
}

/// Everything that must hold after a run, checked in the database.
async fn verify(store: &infra::store::Store, db: &DatabaseConnection, tally: &Tally, deadlocks_before: i64) {
    assert!(
        tally.internal.is_empty(),
        "requests failed internally: {:#?}",
        &tally.internal[..tally.internal.len().min(5)]
    );
    assert!(
        tally.replay_mismatches.is_empty(),
        "replayed keys answered with other orders: {:?}",
        tally.replay_mismatches
    );
    for ((op, code), n) in &tally.codes {
        assert!(!(ARRIVALS.contains(op) && code == "CONTENTION"), "{op} answered CONTENTION {n} times");
    }
    let state = crate::lifecycle_properties::state(store, db).await;
    crate::lifecycle_properties::check(&state, None, "the soak").unwrap_or_else(|e| panic!("{e}"));
    let orders = scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM orders").await;
    let keys = scalar(db, "SELECT CAST(COUNT(DISTINCT order_id) AS BIGINT) FROM idempotency_keys").await;
    assert_eq!(orders, keys, "every order was placed by exactly one idempotency key");
    let secrets = infra::secrets::Secrets::load(store).await.unwrap();
    let acknowledged: Vec<String> = tally
        .placements
        .iter()
        .filter_map(|p| p.order.as_deref())
        .map(|id| secrets.row_id(infra::secrets::IdKind::Order, id).unwrap().unwrap().to_string())
        .collect();
    if !acknowledged.is_empty() {
        let listed = acknowledged.join(", ");
        let found = scalar(db, &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE id IN ({listed})")).await;
        assert_eq!(found as usize, acknowledged.len(), "every acknowledged order exists");
    }
    // Postgres publishes its statistics with a short delay.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(deadlocks(db).await, deadlocks_before, "the database detected deadlocks during the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mutation_at_once_on_two_replicas_keeps_every_invariant() {
    let Some(lane) = lanes().into_iter().find(|&l| l == Lane::Postgres) else {
        eprintln!("skipped: the soak needs the Postgres lane (TEST_DATABASE_URL)");
        return;
    };
    let soak = Soak { clients: 8, duration: Duration::from_secs(60), seed: 13 };
    // The worker runs on both replicas and has work: unconfirmed backorders
    // expire, old ones go overdue, slipped estimates are credited.
    let gateway = api::state::GatewaySettings {
        policy: domain::policy::FulfillmentPolicy {
            unconfirmed_expiry_ms: Some(8_000),
            max_backorder_ms: Some(20_000),
            delay_compensation: Some(domain::policy::DelayCompensation {
                threshold_days: 0,
                percent: "5".parse().unwrap(),
            }),
            ..Default::default()
        },
        maintenance_interval: Duration::from_millis(500),
        ..Default::default()
    };
    let first = spawn_configured(lane, crate::support::cache_for(lane), gateway.clone()).await;
    let warehouses = ["NYC", "CHI", "RNO", "ATL"];
    let skus: Vec<String> = (0..10).map(|i| format!("HOT{i}")).collect();
    let products: Vec<(&str, &str)> = skus.iter().map(|s| (s.as_str(), "10.00")).collect();
    first
        .seed(
            &[
                ("NYC", 40.7, -74.0, "5"),
                ("CHI", 41.9, -87.6, "4.5"),
                ("RNO", 39.5, -119.8, "6"),
                ("ATL", 33.7, -84.4, "5"),
            ],
            &products,
            &[("NYC", "HOT0", 1)],
        )
        .await;
    let second = spawn_replica_with(&first, gateway).await;
    let db = infra::db::connect(&first.database).await.unwrap();
    let before = deadlocks(&db).await;
    let targets = vec![first.graphql_url(), second.graphql_url()];
    let (mut tally, elapsed) =
        drive(targets, &first.admin_key, warehouses.map(str::to_owned).to_vec(), skus, &soak).await;
    eprintln!("{}", report(&mut tally, elapsed));
    assert_eq!(tally.lost, 0, "no replica was stopped, so every request is answered");
    let requests: usize = tally.latencies.values().map(Vec::len).sum();
    assert!(requests > 500, "the soak did little: {requests} requests");
    // Stop both replicas and their workers, so that the checks read rows
    // nobody is changing any more.
    drop((first, second));
    tokio::time::sleep(Duration::from_millis(500)).await;
    verify(&infra::store::Store::new(db.clone()), &db, &tally, before).await;
}

/// The driver against replicas that are already running (`bench/soak.sh`):
/// `SOAK_TARGETS` (comma-separated GraphQL URLs), `SOAK_DATABASE_URL`,
/// `SOAK_KEY` (an admin key), and optionally `SOAK_CLIENTS`,
/// `SOAK_SECONDS`, `SOAK_SEED`. The hot skus are the first ten products.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "drives external replicas; run by bench/soak.sh"]
async fn soak_against_running_replicas() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let number = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let targets: Vec<String> = var("SOAK_TARGETS").split(',').map(str::to_owned).collect();
    let soak = Soak {
        clients: number("SOAK_CLIENTS", 16) as usize,
        duration: Duration::from_secs(number("SOAK_SECONDS", 300)),
        seed: number("SOAK_SEED", 13),
    };
    let key = var("SOAK_KEY");
    let http = crate::support::client_with(&key);
    let network: Value = http
        .post(&targets[0])
        .json(&json!({ "query": "{ warehouses(first: 100) { edges { node { code active } } } products(first: 10) { edges { node { sku } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let codes = |v: &Value, field: &str| -> Vec<String> {
        v.as_array().unwrap().iter().map(|e| e["node"][field].as_str().unwrap().to_owned()).collect()
    };
    let warehouses = codes(&network["data"]["warehouses"]["edges"], "code");
    let skus = codes(&network["data"]["products"]["edges"], "sku");
    let settings = infra::db::DatabaseSettings { url: var("SOAK_DATABASE_URL"), max_connections: 2 };
    let db = infra::db::connect(&settings).await.unwrap();
    let store = infra::store::Store::new(db.clone());
    let before = deadlocks(&db).await;
    let (mut tally, elapsed) = drive(targets.clone(), &key, warehouses, skus, &soak).await;
    // Answers lost to a killed replica: the storefront sends them again.
    let mut rng = Rng(soak.seed);
    for n in 0..tally.placements.len() {
        if tally.placements[n].order.is_none() {
            let input = tally.placements[n].input.clone();
            let driver_http = crate::support::client_with(&key);
            let body = json!({ "query": PLACE, "variables": { "i": input } });
            let target = &targets[rng.below(targets.len())];
            let answer: Value = driver_http.post(target).json(&body).send().await.unwrap().json().await.unwrap();
            tally.placements[n].order = answer["data"]["placeOrder"]["order"]["id"].as_str().map(str::to_owned);
        }
    }
    println!("{}", report(&mut tally, elapsed));
    verify(&store, &db, &tally, before).await;
    println!("every invariant holds");
}
