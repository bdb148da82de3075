//! The stock cache: read through, invalidated on writes, and never the
//! reason a request fails.

use std::time::Duration;

use domain::Sku;
use infra::cache::CacheSettings;
use serde_json::json;

use crate::support::{Lane, TestApp, cache_for, lanes, spawn_app_with};

async fn seed_one(app: &TestApp) {
    app.seed(&[("W1", 40.7, -74.0, "5")], &[("TENT", "99.00")], &[("W1", "TENT", 5)]).await;
}

async fn total(app: &TestApp) -> i64 {
    let data = app.ok(r#"{ availability(skus: ["TENT"]) { totalAvailable } }"#, json!({})).await;
    data["availability"][0]["totalAvailable"].as_i64().unwrap()
}

#[tokio::test]
async fn reads_fill_the_cache_and_every_stock_write_invalidates_it() {
    for lane in lanes() {
        let app = spawn_app_with(lane, cache_for(lane)).await;
        seed_one(&app).await;
        let tent = Sku::new("TENT").unwrap();
        assert_eq!(total(&app).await, 5);
        let cached = app.cache.get_many(std::slice::from_ref(&tent)).await;
        assert_eq!(cached[0].as_ref().map(|s| s.total_available()), Some(5), "[{lane:?}] the read was cached");

        // A feed invalidates.
        app.ok(r#"mutation { setStockLevels(input: [{warehouseCode: "W1", sku: "TENT", onHand: 9}]) { userErrors { code } } }"#, json!({})).await;
        assert!(app.cache.get_many(std::slice::from_ref(&tent)).await[0].is_none());
        assert_eq!(total(&app).await, 9);

        // So does an order.
        let placed = app
            .ok(
                r#"mutation { placeOrder(input: {lines: [{sku: "TENT", quantity: 2}], destination: {latitude: 40.7, longitude: -74.0}, customerReference: "c", idempotencyKey: "k"}) { userErrors { code } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(placed["placeOrder"]["userErrors"], json!([]));
        assert_eq!(total(&app).await, 7, "[{lane:?}] no stale availability after an order");

        // And a warehouse change drops everything.
        app.ok(
            r#"mutation { upsertWarehouse(input: {code: "W1", name: "W1", latitude: 40.7, longitude: -74.0, baseCost: "5", costPerKm: "0.002", active: false}) { userErrors { code } } }"#,
            json!({}),
        )
        .await;
        assert_eq!(total(&app).await, 0);
    }
}

#[tokio::test]
async fn a_dead_redis_degrades_to_the_database_without_failing_or_overselling() {
    // Nothing listens on port 1: every Redis call fails fast.
    let settings = CacheSettings {
        redis_url: Some("redis://127.0.0.1:1".to_owned()),
        redis_timeout: Duration::from_millis(100),
        ..cache_for(Lane::Sqlite)
    };
    for lane in lanes() {
        let app = spawn_app_with(lane, settings.clone()).await;
        assert!(app.cache.is_redis());
        seed_one(&app).await;
        assert_eq!(total(&app).await, 5);
        let mut placed = 0;
        for i in 0..4 {
            let answer = app
                .ok(
                    "mutation($k: String!) { placeOrder(input: {lines: [{sku: \"TENT\", quantity: 2}], destination: {latitude: 40.7, longitude: -74.0}, customerReference: \"c\", idempotencyKey: $k, backorderConsent: true}) { userErrors { code } order { shipments { lines { quantity } } } } }",
                    json!({ "k": format!("dead-{i}") }),
                )
                .await;
            assert_eq!(answer["placeOrder"]["userErrors"], json!([]));
            placed += answer["placeOrder"]["order"]["shipments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["lines"][0]["quantity"].as_i64().unwrap())
                .sum::<i64>();
        }
        assert_eq!(placed, 5, "[{lane:?}] exactly the stock, never more");
        assert_eq!(total(&app).await, 0);
    }
}
