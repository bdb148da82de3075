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

/// Polls `read` until it answers `want` or two seconds pass.
async fn eventually(app: &TestApp, want: i64) -> i64 {
    let mut seen = total(app).await;
    for _ in 0..100 {
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = total(app).await;
    }
    seen
}

#[tokio::test]
async fn each_replica_keeps_a_near_copy_that_other_replicas_writes_invalidate() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipped: the near cache needs Redis (TEST_REDIS_URL is not set)");
        return;
    };
    let a =
        spawn_app_with(Lane::Sqlite, CacheSettings { redis_url: Some(redis_url.clone()), ..cache_for(Lane::Sqlite) })
            .await;
    let b = crate::support::spawn_replica(&a).await;
    seed_one(&a).await;
    let tent = Sku::new("TENT").unwrap();
    assert_eq!(total(&a).await, 5);
    for _ in 0..250 {
        if a.cache.near_cache_live() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.cache.near_cache_live(), "the invalidation channel comes up");
    assert_eq!(total(&a).await, 5);
    // A's copy is near: Redis can lose the entry without A noticing...
    let keys = a.cache.key(&tent);
    let del = std::process::Command::new("redis-cli").args(["-u", &redis_url, "DEL", &keys]).output().unwrap();
    assert!(del.status.success());
    assert_eq!(a.cache.get_many(std::slice::from_ref(&tent)).await[0].as_ref().map(|s| s.total_available()), Some(5));
    // ...but a write on another replica reaches it at once.
    b.ok(r#"mutation { setStockLevels(input: [{warehouseCode: "W1", sku: "TENT", onHand: 9}]) { userErrors { code } } }"#, json!({})).await;
    assert_eq!(eventually(&a, 9).await, 9, "B's write is seen on A");

    // The channel drops: A forgets its copy and reads through Redis until
    // it is back, so a write it could not hear about is not missed.
    let kill = std::process::Command::new("redis-cli")
        .args(["-u", &redis_url, "CLIENT", "KILL", "TYPE", "pubsub"])
        .output()
        .unwrap();
    assert!(kill.status.success());
    for _ in 0..100 {
        if !a.cache.near_cache_live() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.ok(r#"mutation { setStockLevels(input: [{warehouseCode: "W1", sku: "TENT", onHand: 4}]) { userErrors { code } } }"#, json!({})).await;
    assert_eq!(eventually(&a, 4).await, 4);
}
