//! Quotes and orders over GraphQL: plans, reservations, backorders,
//! idempotency and plan tokens.

use serde_json::{Value, json};

use crate::support::{TestApp, lanes, seeded};

const QUOTE: &str = "query($i: QuoteInput!) { quoteFulfillment(input: $i) {
    policy shipmentCount shippingCost unitsNow unitsBackordered optimal lowerBound planToken explanation
    shipments { warehouse { code } lines { sku quantity } cost distanceKm estimatedDeliveryDate held }
    backordered { sku quantity estimatedAvailableDate }
    policyOptions { policy shipmentCount shippingCost unitsNow unitsBackordered firstDeliveryDate completeDeliveryDate }
} }";

const PLACE: &str = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) {
    replayed
    userErrors { code message field }
    freshPlan { shipmentCount planToken shipments { warehouse { code } lines { sku quantity } } }
    order { id status customerReference policy backorderConsent shippingCost
        lines { lineNumber sku quantity unitPrice }
        shipments { warehouse { code } status cost lines { sku quantity } }
        backorders { sku quantity status }
        events { kind payload } }
} }";

fn nyc() -> Value {
    json!({ "latitude": 40.71, "longitude": -74.0 })
}

fn order(lines: Value, key: &str) -> Value {
    json!({ "lines": lines, "destination": nyc(), "customerReference": "cust-1", "idempotencyKey": key })
}

async fn place(app: &TestApp, input: Value) -> Value {
    app.ok(PLACE, json!({ "i": input })).await["placeOrder"].clone()
}

async fn available(app: &TestApp, sku: &str) -> i64 {
    let data =
        app.ok("query($s: [String!]!) { availability(skus: $s) { totalAvailable } }", json!({ "s": [sku] })).await;
    data["availability"][0]["totalAvailable"].as_i64().unwrap()
}

#[tokio::test]
async fn a_quote_ships_everything_in_the_fewest_packages_and_offers_both_policies() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // TENT at NYC (2) and CHI (5); STOVE at CHI and RNO: CHI alone covers both.
        let data = app.ok(QUOTE, json!({ "i": { "lines": [{ "sku": "TENT", "quantity": 2 }, { "sku": "STOVE", "quantity": 1 }], "destination": nyc() } })).await;
        let plan = &data["quoteFulfillment"];
        assert_eq!(plan["shipmentCount"], 1);
        assert_eq!(plan["shipments"][0]["warehouse"]["code"], "CHI");
        assert_eq!(
            plan["shipments"][0]["lines"],
            json!([{ "sku": "TENT", "quantity": 2 }, { "sku": "STOVE", "quantity": 1 }])
        );
        assert_eq!(plan["optimal"], true);
        assert_eq!(plan["lowerBound"], 1);
        assert_eq!(plan["policy"], "SHIP_AVAILABLE");
        assert_eq!(plan["shipments"][0]["held"], false);
        // 4.50 + 0.002 × 1,142 km = 6.78
        assert_eq!(plan["shippingCost"], "6.78");
        assert!(plan["shipments"][0]["distanceKm"].as_str().unwrap().starts_with("114"), "{plan}");
        assert!(plan["planToken"].as_str().unwrap().starts_with("v1."));
        assert!(plan["explanation"].as_str().unwrap().starts_with("1 shipment for 6.78."), "{plan}");
        let options = plan["policyOptions"].as_array().unwrap();
        assert_eq!(options.len(), 2);
        assert_eq!(options[0]["policy"], "SHIP_AVAILABLE");
        assert_eq!(options[1]["policy"], "SHIP_COMPLETE");

        // More lamps than anyone has: 11 of 12 now, the rest backordered.
        let data = app.ok(QUOTE, json!({ "i": { "lines": [{ "sku": "LAMP", "quantity": 12 }], "destination": nyc(), "policy": "SHIP_COMPLETE" } })).await;
        let plan = &data["quoteFulfillment"];
        assert_eq!((plan["unitsNow"].as_u64(), plan["unitsBackordered"].as_u64()), (Some(11), Some(1)));
        assert_eq!(plan["backordered"][0]["sku"], "LAMP");
        assert_eq!(plan["shipments"][0]["held"], true);
        let options = plan["policyOptions"].as_array().unwrap();
        // Shipping what is there now arrives before the complete delivery.
        assert!(options[0]["firstDeliveryDate"].as_str() < options[1]["firstDeliveryDate"].as_str(), "{options:?}");
        assert_eq!(options[0]["completeDeliveryDate"], options[1]["completeDeliveryDate"]);

        let capped = app.ok(QUOTE, json!({ "i": { "lines": [{ "sku": "LAMP", "quantity": 11 }], "destination": nyc(), "maxShipments": 1 } })).await;
        assert_eq!(capped["quoteFulfillment"]["shipments"][0]["warehouse"]["code"], "NYC");
        assert_eq!(capped["quoteFulfillment"]["unitsBackordered"], 1);
    }
}

#[tokio::test]
async fn bad_quotes_get_typed_errors() {
    for lane in lanes() {
        let app = seeded(lane).await;
        for (input, code, message) in [
            (
                json!({ "lines": [{ "sku": "TENT", "quantity": 0 }], "destination": nyc() }),
                "BAD_QUANTITY",
                "invalid quantity 0: must be a whole number of units from 1 to 1000000",
            ),
            (
                json!({ "lines": [{ "sku": "TENT", "quantity": 1 }], "destination": { "latitude": 95, "longitude": 0 } }),
                "BAD_COORDINATES",
                "latitude 95 is outside [-90, 90]",
            ),
            (
                json!({ "lines": [{ "sku": "GHOST", "quantity": 1 }], "destination": nyc() }),
                "UNKNOWN_SKU",
                "unknown sku GHOST",
            ),
            (json!({ "lines": [], "destination": nyc() }), "INVALID_INPUT", "an order needs at least one line"),
            (
                json!({ "lines": [{ "sku": "TENT", "quantity": 1 }], "destination": nyc(), "maxShipments": 0 }),
                "INVALID_INPUT",
                "invalid maxShipments 0: must be at least 1",
            ),
        ] {
            let answer = app.graphql(QUOTE, json!({ "i": input })).await;
            assert_eq!(answer["errors"][0]["extensions"]["code"], code, "{answer}");
            assert_eq!(answer["errors"][0]["message"], message);
        }
    }
}

#[tokio::test]
async fn placing_reserves_stock_backorders_the_rest_and_records_events() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let placed = place(
            &app,
            order(
                json!([{ "sku": "TENT", "quantity": 8, "unitPrice": "180.00" }, { "sku": "STOVE", "quantity": 1 }]),
                "k-1",
            ),
        )
        .await;
        assert_eq!(placed["userErrors"], json!([]));
        let placed_order = &placed["order"];
        assert_eq!(placed_order["status"], "BACKORDERED");
        assert_eq!(
            placed_order["lines"],
            json!([
                { "lineNumber": 1, "sku": "TENT", "quantity": 8, "unitPrice": "180.00" },
                { "lineNumber": 2, "sku": "STOVE", "quantity": 1, "unitPrice": "49.50" },
            ])
        );
        let shipped: i64 = placed_order["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["lines"].as_array().unwrap().iter())
            .filter(|l| l["sku"] == "TENT")
            .map(|l| l["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(shipped, 7);
        assert_eq!(
            placed_order["backorders"],
            json!([{ "sku": "TENT", "quantity": 1, "status": "AWAITING_CONFIRMATION" }])
        );
        assert!(placed_order["shipments"].as_array().unwrap().iter().all(|s| s["status"] == "RELEASED"));
        let kinds: Vec<&str> =
            placed_order["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["ORDER_PLACED", "ORDER_SPLIT", "SHIPMENT_RELEASED", "SHIPMENT_RELEASED", "LINE_BACKORDERED"]
        );
        assert_eq!(placed_order["events"][0]["payload"], json!({ "lines": 2, "unitsNow": 8, "unitsOrdered": 9 }));

        // Reserved units are no longer available to anyone else.
        assert_eq!(available(&app, "TENT").await, 0);
        let data = app.ok(r#"{ availability(skus: ["TENT"]) { locations { reserved } } }"#, json!({})).await;
        assert_eq!(data["availability"][0]["locations"], json!([{ "reserved": 5 }, { "reserved": 2 }]));

        // Consent puts backorders straight into the queue; SHIP_COMPLETE holds.
        let mut input = order(json!([{ "sku": "LAMP", "quantity": 12 }]), "k-2");
        input["backorderConsent"] = json!(true);
        input["policy"] = json!("SHIP_COMPLETE");
        let held = place(&app, input).await;
        assert_eq!(held["order"]["backorders"][0]["status"], "CONFIRMED");
        assert!(held["order"]["shipments"].as_array().unwrap().iter().all(|s| s["status"] == "PENDING"));
        assert_eq!(held["order"]["policy"], "SHIP_COMPLETE");
        assert_eq!(held["order"]["backorderConsent"], true);

        let listed = app.ok(r#"{ orders(status: BACKORDERED) { edges { node { customerReference } } } bySku: orders(sku: "STOVE") { edges { node { id } } } byWarehouse: orders(warehouseCode: "RNO") { edges { node { id } } } }"#, json!({})).await;
        assert_eq!(listed["orders"]["edges"].as_array().unwrap().len(), 2);
        assert_eq!(listed["bySku"]["edges"], json!([{ "node": { "id": placed["order"]["id"] } }]));
        assert_eq!(listed["byWarehouse"]["edges"], json!([{ "node": { "id": held["order"]["id"] } }]));
        let one = app.ok("query($id: ID!) { order(id: $id) { id } }", json!({ "id": placed["order"]["id"] })).await;
        assert_eq!(one["order"]["id"], placed["order"]["id"]);
        let none = app.ok(r#"{ order(id: "ord_00000000deadbeef") { id } }"#, json!({})).await;
        assert_eq!(none["order"], json!(null));
        let bad = app.graphql(r#"{ order(id: "abc") { id } }"#, json!({})).await;
        assert_eq!(bad["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    }
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_order_and_a_different_payload_is_refused() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let input = order(json!([{ "sku": "STOVE", "quantity": 2 }]), "same-key");
        let first = place(&app, input.clone()).await;
        let again = place(&app, input.clone()).await;
        assert_eq!(first["replayed"], false);
        assert_eq!(again["replayed"], true);
        assert_eq!(first["order"]["id"], again["order"]["id"]);
        assert_eq!(available(&app, "STOVE").await, 9, "reserved once");

        let mut other = input.clone();
        other["lines"][0]["quantity"] = json!(3);
        let refused = place(&app, other).await;
        assert_eq!(refused["order"], json!(null));
        assert_eq!(refused["userErrors"][0]["code"], "IDEMPOTENCY_CONFLICT");
        assert_eq!(
            refused["userErrors"][0]["message"],
            "idempotency key \"same-key\" was already used with a different request"
        );
        assert_eq!(available(&app, "STOVE").await, 9);
    }
}

#[tokio::test]
async fn a_plan_token_commits_exactly_the_quoted_plan_or_answers_stale_plan() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let lines = json!([{ "sku": "TENT", "quantity": 2 }]);
        let quote = app.ok(QUOTE, json!({ "i": { "lines": lines, "destination": nyc() } })).await;
        let token = quote["quoteFulfillment"]["planToken"].clone();
        assert_eq!(quote["quoteFulfillment"]["shipments"][0]["warehouse"]["code"], "NYC");

        let mut input = order(lines.clone(), "tok-1");
        input["planToken"] = token.clone();
        let placed = place(&app, input).await;
        assert_eq!(placed["userErrors"], json!([]));
        assert_eq!(placed["order"]["shipments"][0]["warehouse"]["code"], "NYC");

        // The first order took NYC's tents: the same token is now stale, and
        // the answer carries what the order would get instead.
        let mut again = order(lines.clone(), "tok-2");
        again["planToken"] = token;
        let stale = place(&app, again).await;
        assert_eq!(stale["order"], json!(null));
        assert_eq!(stale["userErrors"][0]["code"], "STALE_PLAN");
        assert_eq!(stale["userErrors"][0]["message"], "the stock this plan relied on has changed");
        assert_eq!(stale["freshPlan"]["shipments"][0]["warehouse"]["code"], "CHI");
        assert_eq!(available(&app, "TENT").await, 5, "nothing reserved for a stale plan");

        // The fresh token works.
        let mut retry = order(lines.clone(), "tok-3");
        retry["planToken"] = stale["freshPlan"]["planToken"].clone();
        assert_eq!(place(&app, retry).await["order"]["shipments"][0]["warehouse"]["code"], "CHI");

        for (token, message) in [
            (json!("nonsense"), "the plan token is malformed"),
            (
                json!("v1.99999999999999.00000000000000000000000000000000.00000000000000000000000000000000"),
                "the plan token was issued for a different request",
            ),
        ] {
            let mut input = order(lines.clone(), "tok-bad");
            input["planToken"] = token;
            let answer = place(&app, input).await;
            assert_eq!(answer["userErrors"][0]["code"], "INVALID_PLAN_TOKEN");
            assert_eq!(answer["userErrors"][0]["message"], message);
        }
    }
}

#[tokio::test]
async fn bad_orders_change_nothing() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let upsert = "mutation { upsertProducts(input: [{sku: \"RARE\", name: \"Rare\", unitPrice: \"5\", backorderable: false}]) { userErrors { message } } }";
        app.ok(upsert, json!({})).await;
        for (input, code, message) in [
            (
                order(json!([{ "sku": "RARE", "quantity": 1 }]), "x1"),
                "NOT_BACKORDERABLE",
                "not enough stock of products that cannot be backordered: RARE (short 1)",
            ),
            (
                order(json!([{ "sku": "TENT", "quantity": -1 }]), "x2"),
                "BAD_QUANTITY",
                "invalid quantity -1: must be a whole number of units from 1 to 1000000",
            ),
            (order(json!([{ "sku": "NOPE", "quantity": 1 }]), "x3"), "UNKNOWN_SKU", "unknown sku NOPE"),
            (
                order(json!([{ "sku": "TENT", "quantity": 1 }]), " "),
                "INVALID_INPUT",
                "idempotencyKey must be 1 to 200 characters",
            ),
            (
                {
                    let mut o = order(json!([{ "sku": "TENT", "quantity": 1 }]), "x5");
                    o["destination"]["longitude"] = json!(181);
                    o
                },
                "BAD_COORDINATES",
                "longitude 181 is outside [-180, 180]",
            ),
        ] {
            let answer = place(&app, input).await;
            assert_eq!(answer["userErrors"][0]["code"], code, "{answer}");
            assert_eq!(answer["userErrors"][0]["message"], message);
            assert_eq!(answer["order"], json!(null));
        }
        assert_eq!(available(&app, "TENT").await, 7);
        let orders = app.ok("{ orders { edges { node { id } } } }", json!({})).await;
        assert_eq!(orders["orders"]["edges"], json!([]));
    }
}

#[tokio::test]
async fn an_expired_plan_token_answers_stale_plan_with_a_fresh_one() {
    let settings = api::state::GatewaySettings { plan_token_ttl: std::time::Duration::ZERO, ..Default::default() };
    let app = crate::support::spawn_configured(
        crate::support::Lane::Sqlite,
        crate::support::cache_for(crate::support::Lane::Sqlite),
        settings,
    )
    .await;
    app.seed(&[("NYC", 40.7, -74.0, "5")], &[("TENT", "199.00")], &[("NYC", "TENT", 2)]).await;
    let lines = json!([{ "sku": "TENT", "quantity": 1 }]);
    let quote = app.ok(QUOTE, json!({ "i": { "lines": lines, "destination": nyc() } })).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut input = order(lines, "expired");
    input["planToken"] = quote["quoteFulfillment"]["planToken"].clone();
    let answer = place(&app, input).await;
    assert_eq!(answer["userErrors"][0]["code"], "STALE_PLAN");
    assert_eq!(answer["userErrors"][0]["message"], "the plan token has expired");
    assert_eq!(answer["freshPlan"]["shipmentCount"], 1);
    assert_eq!(available(&app, "TENT").await, 2, "nothing reserved");
}
