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
