//! No overselling under concurrent load: two gateway replicas on one
//! database, 64 clients ordering the same five hot skus, more demand than
//! stock. Afterwards every unit is accounted for exactly once.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::support::{lanes, spawn_app, spawn_replica};

const HOT: [&str; 5] = ["HOT1", "HOT2", "HOT3", "HOT4", "HOT5"];
const CLIENTS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_on_two_replicas_never_oversell() {
    for lane in lanes() {
        let first = spawn_app(lane).await;
        let products: Vec<(&str, &str)> = HOT.iter().map(|s| (*s, "10.00")).collect();
        let mut stock = Vec::new();
        for (w, code) in ["W1", "W2", "W3"].iter().enumerate() {
            for (s, sku) in HOT.iter().enumerate() {
                stock.push((*code, *sku, ((w + s) % 3 + 2) as i64));
            }
        }
        first
            .seed(&[("W1", 40.7, -74.0, "5"), ("W2", 41.9, -87.6, "5"), ("W3", 34.0, -118.2, "5")], &products, &stock)
            .await;
        let total_stock: i64 = stock.iter().map(|s| s.2).sum();
        let second = spawn_replica(&first).await;

        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            let app = if client % 2 == 0 { first.graphql_url() } else { second.graphql_url() };
            let http = first.client.clone();
            let lines: Vec<Value> = (0..3)
                .map(|k| json!({ "sku": HOT[(client + k) % HOT.len()], "quantity": 1 + (client + k) % 2 }))
                .collect();
            tasks.push(tokio::spawn(async move {
                let body = json!({
                    "query": "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code message } order { id } } }",
                    "variables": { "i": {
                        "lines": lines,
                        "destination": { "latitude": 39.0, "longitude": -95.0 },
                        "customerReference": format!("client-{client}"),
                        "idempotencyKey": format!("load-{client}"),
                        "backorderConsent": true,
                    } }
                });
                let response: Value = http.post(app).json(&body).send().await.unwrap().json().await.unwrap();
                (lines, response)
            }));
        }
        let mut ordered: HashMap<String, i64> = HashMap::new();
        for task in tasks {
            let (lines, response) = task.await.unwrap();
            assert!(response.get("errors").is_none(), "[{lane:?}] {response}");
            let payload = &response["data"]["placeOrder"];
            assert_eq!(payload["userErrors"], json!([]), "[{lane:?}] {payload}");
            assert!(payload["order"]["id"].is_string());
            for line in lines {
                *ordered.entry(line["sku"].as_str().unwrap().to_owned()).or_default() +=
                    line["quantity"].as_i64().unwrap();
            }
        }
        let demand: i64 = ordered.values().sum();
        assert!(demand > total_stock, "the test must oversubscribe: {demand} vs {total_stock}");

        // Every order: per line, units in shipments + units backordered = ordered.
        let orders = first
            .ok("{ orders(first: 100) { edges { node { lines { sku quantity } shipments { lines { sku quantity } } backorders { sku quantity } } } } }", json!({}))
            .await;
        let edges = orders["orders"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), CLIENTS);
        let mut shipped: HashMap<String, i64> = HashMap::new();
        for edge in edges {
            let node = &edge["node"];
            for line in node["lines"].as_array().unwrap() {
                let sku = line["sku"].as_str().unwrap();
                let count = |list: &Value| -> i64 {
                    list.as_array()
                        .unwrap()
                        .iter()
                        .filter(|l| l["sku"] == sku)
                        .map(|l| l["quantity"].as_i64().unwrap())
                        .sum()
                };
                let in_shipments: i64 = node["shipments"].as_array().unwrap().iter().map(|s| count(&s["lines"])).sum();
                let backordered = count(&node["backorders"]);
                assert_eq!(in_shipments + backordered, line["quantity"].as_i64().unwrap(), "{node}");
                *shipped.entry(sku.to_owned()).or_default() += in_shipments;
            }
        }
        // Straight from the database: reserved units equal shipped units.
        let reserved_total = first.store.reserved_total().await.unwrap();
        assert_eq!(reserved_total, shipped.values().sum::<i64>(), "[{lane:?}]");
        // Levels: reserved equals what shipments hold, never more than on hand.
        let levels = first
            .ok(
                "query($s: [String!]!) { availability(skus: $s) { sku locations { onHand reserved available } } }",
                json!({ "s": HOT }),
            )
            .await;
        for sku in levels["availability"].as_array().unwrap() {
            let name = sku["sku"].as_str().unwrap();
            let mut reserved = 0;
            for location in sku["locations"].as_array().unwrap() {
                let (on_hand, held) = (location["onHand"].as_i64().unwrap(), location["reserved"].as_i64().unwrap());
                assert!(held <= on_hand, "[{lane:?}] oversold {name}: {location}");
                reserved += held;
            }
            assert_eq!(reserved, shipped.get(name).copied().unwrap_or(0), "[{lane:?}] {name}");
            // Demand exceeds stock for every hot sku, so all of it is taken.
            let on_hand: i64 = sku["locations"].as_array().unwrap().iter().map(|l| l["onHand"].as_i64().unwrap()).sum();
            assert_eq!(reserved, on_hand.min(ordered[name]), "[{lane:?}] {name}");
        }
    }
}

/// A small deterministic generator, so each client's script is fixed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

const STEPS: usize = 12;
const LIFECYCLE_CLIENTS: usize = 24;

/// One client's script: place orders, then change them and the stock while
/// everyone else does the same. Returns the user error codes it met.
async fn lifecycle_client(http: reqwest::Client, url: String, client: usize) -> Vec<String> {
    let mut seed = client as u64 + 1;
    let mut codes = Vec::new();
    let mut orders: Vec<String> = Vec::new();
    let call = |query: &'static str, variables: Value| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = json!({ "query": query, "variables": variables });
            let response: Value = http.post(url).json(&body).send().await.unwrap().json().await.unwrap();
            assert!(response.get("errors").is_none(), "{query}: {response}");
            response["data"].as_object().unwrap().values().next().unwrap().clone()
        }
    };
    for step in 0..STEPS {
        let sku = HOT[next(&mut seed) as usize % 3];
        let mut payload = Value::Null;
        match if orders.is_empty() { 0 } else { next(&mut seed) % 6 } {
            0 => {
                let lines = json!([{ "sku": sku, "quantity": 1 + next(&mut seed) % 3 }, { "sku": HOT[(client + step) % 3], "quantity": 1 }]);
                payload = call(
                    "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code } order { id } } }",
                    json!({ "i": { "lines": lines, "destination": { "latitude": 39.0, "longitude": -95.0 },
                                   "customerReference": format!("c{client}"), "idempotencyKey": format!("c{client}-{step}"),
                                   "backorderConsent": next(&mut seed).is_multiple_of(2), "priority": (next(&mut seed) % 2) as i32 } }),
                )
                .await;
                if let Some(id) = payload["order"]["id"].as_str() {
                    orders.push(id.to_owned());
                }
            }
            1 => {
                let warehouse = ["W1", "W2", "W3"][next(&mut seed) as usize % 3];
                payload = call(
                    "mutation($w: String!, $s: String!, $q: Int!) { receiveStock(input: {warehouseCode: $w, sku: $s, quantity: $q}) { userErrors { code } } }",
                    json!({ "w": warehouse, "s": sku, "q": 1 + next(&mut seed) % 3 }),
                )
                .await;
            }
            kind => {
                let id = &orders[next(&mut seed) as usize % orders.len()];
                let order = call(
                    "query($id: ID!) { order(id: $id) { lines { id } shipments { id status lines { sku } } backorders { id status } } }",
                    json!({ "id": id }),
                )
                .await;
                let pick = |list: &Value, n: u64| {
                    list.as_array().filter(|a| !a.is_empty()).map(|a| a[n as usize % a.len()].clone())
                };
                let n = next(&mut seed);
                match kind {
                    2 => {
                        if let Some(line) = pick(&order["lines"], n) {
                            payload = call(
                            "mutation($l: ID!) { cancelOrderLine(input: {lineId: $l, quantity: 1}) { userErrors { code } } }",
                            json!({ "l": line["id"] }),
                        )
                        .await;
                        }
                    }
                    3 => {
                        if let Some(shipment) = pick(&order["shipments"], n).filter(|s| s["lines"][0].is_object()) {
                            payload = call(
                            "mutation($s: ID!, $k: String!) { reportShortPick(input: {shipmentId: $s, sku: $k, quantity: 1, reason: \"load\"}) { userErrors { code } } }",
                            json!({ "s": shipment["id"], "k": shipment["lines"][0]["sku"] }),
                        )
                        .await;
                        }
                    }
                    4 => {
                        if let Some(shipment) = pick(&order["shipments"], n) {
                            payload = call(
                            "mutation($s: ID!) { markShipmentShipped(id: $s, trackingNumber: \"LOAD\") { userErrors { code } } }",
                            json!({ "s": shipment["id"] }),
                        )
                        .await;
                        }
                    }
                    _ => {
                        if let Some(backorder) = pick(&order["backorders"], n) {
                            payload = call(
                                "mutation($b: ID!) { confirmBackorder(id: $b) { userErrors { code } } }",
                                json!({ "b": backorder["id"] }),
                            )
                            .await;
                        }
                    }
                }
            }
        }
        if let Some(errors) = payload["userErrors"].as_array() {
            codes.extend(errors.iter().map(|e| e["code"].as_str().unwrap().to_owned()));
        }
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lifecycle_changes_on_two_replicas_keep_every_unit_accounted_for() {
    for lane in lanes() {
        let first = spawn_app(lane).await;
        let products: Vec<(&str, &str)> = HOT[..3].iter().map(|s| (*s, "10.00")).collect();
        let stock: Vec<(&str, &str, i64)> =
            ["W1", "W2", "W3"].iter().flat_map(|w| HOT[..3].iter().map(move |s| (*w, *s, 3))).collect();
        first
            .seed(&[("W1", 40.7, -74.0, "5"), ("W2", 41.9, -87.6, "5"), ("W3", 34.0, -118.2, "5")], &products, &stock)
            .await;
        let second = spawn_replica(&first).await;
        let tasks: Vec<_> = (0..LIFECYCLE_CLIENTS)
            .map(|client| {
                let url = if client % 2 == 0 { first.graphql_url() } else { second.graphql_url() };
                tokio::spawn(lifecycle_client(first.client.clone(), url, client))
            })
            .collect();
        let mut codes: HashMap<String, usize> = HashMap::new();
        for task in tasks {
            for code in task.await.unwrap() {
                *codes.entry(code).or_default() += 1;
            }
        }
        // Refusals are typed and expected (a shipped package, nothing left
        // to cancel); nothing internal.
        for code in codes.keys() {
            assert!(
                ["INVALID_TRANSITION", "INVALID_INPUT", "ALREADY_SHIPPED", "CONTENTION"].contains(&code.as_str()),
                "[{lane:?}] {codes:?}"
            );
        }
        let db = infra::db::connect(&first.database).await.unwrap();
        let state = crate::lifecycle_properties::state(&first.store, &db).await;
        crate::lifecycle_properties::check(&state, None, "the load").unwrap_or_else(|e| panic!("[{lane:?}] {e}"));
        assert!(state.lines.len() > LIFECYCLE_CLIENTS, "[{lane:?}] the clients placed orders");
    }
}
