//! `shipmix migrate`, `import` and `serve` flags, run in-process.

use serde_json::json;

use crate::support::{Lane, Scratch, TestApp, example, lanes, shipmix, spawn_app};

#[test]
fn migrate_creates_the_embedded_database_and_is_repeatable() {
    let scratch = Scratch::new();
    let dir = scratch.path("data");
    let dir = dir.to_str().unwrap();
    for _ in 0..2 {
        let run = shipmix(&["migrate", "--data-dir", dir]);
        assert_eq!((run.code, run.stdout.as_str()), (0, "migrations applied\n"), "{}", run.stderr);
    }
    assert!(std::path::Path::new(dir).join("shipmix.sqlite").exists());
}

#[test]
fn a_database_url_that_is_neither_postgres_nor_sqlite_is_bad_input() {
    for command in ["migrate", "serve", "recount-queues"] {
        let run = shipmix(&[command, "--database-url", "mysql://localhost/x"]);
        assert_eq!(run.code, 2);
        assert_eq!(
            run.stderr,
            "error: DATABASE_URL must start with postgres:// or sqlite:, got \"mysql://localhost/x\"\n"
        );
    }
}

#[test]
fn import_loads_a_network_file_and_rejects_a_bad_one_untouched() {
    let scratch = Scratch::new();
    let dir = scratch.path("data").display().to_string();
    let run = shipmix(&["import", "--network", &example("network.json"), "--data-dir", &dir]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "imported 8 warehouses, 22 stock levels (6 new products)\n");
    // Importing again updates in place.
    let run = shipmix(&["import", "--network", &example("network.json"), "--data-dir", &dir]);
    assert_eq!(run.stdout, "imported 8 warehouses, 22 stock levels (0 new products)\n");
    // Every product has a queue, empty or not, to count again.
    let run = shipmix(&["recount-queues", "--data-dir", &dir]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "recounted 6 queues\n"), "{}", run.stderr);

    let bad =
        scratch.file("bad.json", r#"{"warehouses": [], "stock": [{"warehouse": "X", "sku": "A", "available": 1}]}"#);
    let run = shipmix(&["import", "--network", bad.to_str().unwrap(), "--data-dir", &dir]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.ends_with("bad.json: stock[0]: unknown warehouse \"X\"\n"), "{}", run.stderr);
}

#[test]
fn import_keeps_levels_of_zero() {
    let scratch = Scratch::new();
    let dir = scratch.path("data").display().to_string();
    let network = scratch.file(
        "zeros.json",
        r#"{"warehouses": [{"code": "W1", "latitude": 40.0, "longitude": -75.0, "baseCost": 1, "costPerKm": 0.001}],
            "stock": [{"warehouse": "W1", "sku": "EMPTY", "available": 0}, {"warehouse": "W1", "sku": "FULL", "available": 3}]}"#,
    );
    let run = shipmix(&["import", "--network", network.to_str().unwrap(), "--data-dir", &dir]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "imported 1 warehouses, 2 stock levels (2 new products)\n");
    let too_many = scratch.file(
        "huge.json",
        r#"{"warehouses": [{"code": "W1", "latitude": 40.0, "longitude": -75.0, "baseCost": 1, "costPerKm": 0.001}],
            "stock": [{"warehouse": "W1", "sku": "FULL", "available": 1000000001}]}"#,
    );
    let run = shipmix(&["import", "--network", too_many.to_str().unwrap(), "--data-dir", &dir]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.ends_with("stock[0].available: must be a whole number from 0 to 1000000000, got 1000000001\n"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn the_demo_network_loads_once_and_quotes() {
    let app = spawn_app(Lane::Sqlite).await;
    assert!(api::demo::load(&app.store).await.unwrap(), "an empty database gets the demo network");
    assert!(!api::demo::load(&app.store).await.unwrap(), "a database with a network is left alone");
    let data = app.ok("{ warehouses(first: 100) { edges { node { code partnerCode } } } products(first: 100) { pageInfo { hasNextPage } } }", json!({})).await;
    assert_eq!(data["warehouses"]["edges"].as_array().unwrap().len(), api::demo::WAREHOUSES);
    assert_eq!(data["products"]["pageInfo"]["hasNextPage"], true);
    let product = app.ok(r#"{ product(sku: "SKU00001") { name unitPrice substitutes { sku } } }"#, json!({})).await;
    assert_eq!(product["product"]["substitutes"], json!([{ "sku": "SKU00002" }, { "sku": "SKU00003" }]));
    let quote = app
        .ok(
            r#"{ quoteFulfillment(input: {lines: [{sku: "SKU00001", quantity: 1}, {sku: "SKU00002", quantity: 1}], destination: {latitude: 40.71, longitude: -74.0}}) { shipmentCount optimal } }"#,
            json!({}),
        )
        .await;
    assert_eq!(quote["quoteFulfillment"], json!({ "shipmentCount": 1, "optimal": true }));
}

/// Starts `serve --demo` (without serving) on the test app's database.
async fn start_with_demo(app: &TestApp) {
    let settings = api::server::ServeSettings {
        listen: "127.0.0.1:0".to_owned(),
        database: app.database.clone(),
        cache: infra::cache::CacheSettings::default(),
        migrate: true,
        demo: true,
        http: api::server::HttpLimits { workers: 1, ..Default::default() },
        gateway: api::state::GatewaySettings::default(),
    };
    drop(api::server::Application::build(&settings).await.expect("serve --demo starts"));
}

/// Everything a restart could disturb: every level, every order with its
/// packages and backorders.
async fn everything(app: &TestApp) -> serde_json::Value {
    let skus: Vec<String> = (0..api::demo::PRODUCTS).map(|r| domain::synth::sku_code(r).to_string()).collect();
    let stock = app
        .ok(
            "query($s: [String!]!) { availability(skus: $s) { sku locations { warehouse { code } onHand reserved safetyStock feedSequence } } }",
            json!({ "s": skus }),
        )
        .await;
    let orders = app
        .ok(
            "{ orders(first: 50) { edges { node { id status shipments { status warehouse { code } lines { sku quantity } } backorders { sku quantity status } } } } }",
            json!({}),
        )
        .await;
    json!({ "stock": stock, "orders": orders })
}

#[tokio::test]
async fn restarting_with_demo_on_a_database_in_use_changes_nothing() {
    for lane in lanes() {
        let app = spawn_app(lane).await;
        start_with_demo(&app).await;
        // A feed moves a level off its seed, and an order reserves and
        // backorders units of it.
        let sku = domain::synth::sku_code(1).to_string();
        let located = app
            .ok(
                "query($s: [String!]!) { availability(skus: $s) { locations { warehouse { code } } } }",
                json!({ "s": [sku] }),
            )
            .await;
        let code = located["availability"][0]["locations"][0]["warehouse"]["code"].as_str().unwrap().to_owned();
        let feed = app
            .ok(
                "mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { userErrors { message } } }",
                json!({ "l": [{ "warehouseCode": code, "sku": sku, "onHand": 3, "sequence": 7 }] }),
            )
            .await;
        assert_eq!(feed["setStockLevels"]["userErrors"], json!([]), "[{lane:?}]");
        let placed = app
            .ok(
                "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { message } order { status } } }",
                json!({ "i": {
                    "lines": [{ "sku": sku, "quantity": 100_000 }],
                    "destination": { "latitude": 40.7, "longitude": -74.0 },
                    "customerReference": "restart", "idempotencyKey": "restart-1", "backorderConsent": true,
                } }),
            )
            .await;
        assert_eq!(placed["placeOrder"]["userErrors"], json!([]), "[{lane:?}]");
        assert_eq!(placed["placeOrder"]["order"]["status"], "BACKORDERED", "[{lane:?}]");
        let before = everything(&app).await;

        start_with_demo(&app).await;
        assert_eq!(everything(&app).await, before, "[{lane:?}] a restart with --demo changed the data");
    }
}

#[test]
fn serve_refuses_a_malformed_redis_url_at_startup() {
    let scratch = Scratch::new();
    let dir = scratch.path("data").display().to_string();
    let run = shipmix(&["serve", "--data-dir", &dir, "--listen", "127.0.0.1:0", "--redis-url", "not-a-url"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("error: configuring the stock cache: "), "{}", run.stderr);
    assert_eq!(run.stdout, "", "it never started listening");
}

#[test]
fn serve_refuses_a_policy_that_makes_no_sense() {
    let scratch = Scratch::new();
    let dir = scratch.path("data").display().to_string();
    for (flags, message) in [
        (
            &["--delay-compensation-percent", "120"][..],
            "the delay compensation percentage must be above 0 and at most 100, got 120",
        ),
        (&["--partial-shipment-charge=-1"][..], "the charge per extra package must not be negative, got -1.00"),
        (&["--max-backorder-days", "0"][..], "the maximum backorder duration must be positive"),
        (&["--confirmation-window-hours", "0"][..], "the confirmation window must be positive"),
    ] {
        let mut args = vec!["serve", "--data-dir", &dir, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        let run = shipmix(&args);
        assert_eq!(run.code, 2, "{flags:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{flags:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "it never started listening");
    }
}

#[test]
fn serve_refuses_rate_limits_it_cannot_read() {
    let scratch = Scratch::new();
    let dir = scratch.path("data").display().to_string();
    for (limit, message) in [
        ("STOREFRONT", "is not ROLE=SIZE/PER_SECOND"),
        ("ROOT=10/1", "unknown role \"ROOT\""),
        ("AGENT=10", "is not ROLE=SIZE/PER_SECOND"),
        ("AGENT=0/5", "whole numbers from 1 to 10^12"),
        ("AGENT=ten/5", "whole numbers from 1 to 10^12"),
    ] {
        let run = shipmix(&["serve", "--data-dir", &dir, "--listen", "127.0.0.1:0", "--rate-limit", limit]);
        assert_eq!(run.code, 2, "{limit}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{limit}: {}", run.stderr);
        assert_eq!(run.stdout, "", "it never started listening");
    }
}
