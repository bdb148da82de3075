//! What cannot ship at once: confirming and cancelling backorders, and
//! arriving stock allocated to the queue oldest first.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::{TestApp, lanes, seeded};

const PLACE: &str = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code message } order { id status backorders { id sku quantity status } shipments { warehouse { code } status lines { sku quantity } } } } }";
const CHANGE: &str = "backorder { id sku quantity status } order { status shipments { warehouse { code } status lines { sku quantity } } backorders { sku quantity status } events { kind payload } } userErrors { code message }";

async fn place(app: &TestApp, lines: Value, key: &str, policy: &str, consent: bool) -> Value {
    let input = json!({ "lines": lines, "destination": { "latitude": 40.71, "longitude": -74.0 }, "customerReference": key,
                        "idempotencyKey": key, "policy": policy, "backorderConsent": consent });
    let data = app.ok(PLACE, json!({ "i": input })).await;
    assert_eq!(data["placeOrder"]["userErrors"], json!([]), "{data}");
    data["placeOrder"]["order"].clone()
}

async fn confirm(app: &TestApp, id: &Value) -> Value {
    let q = format!("mutation($id: ID!) {{ confirmBackorder(id: $id) {{ {CHANGE} }} }}");
    app.ok(&q, json!({ "id": id })).await["confirmBackorder"].clone()
}

async fn cancel(app: &TestApp, id: &Value) -> Value {
    let q = format!("mutation($id: ID!) {{ cancelBackorder(id: $id) {{ {CHANGE} }} }}");
    app.ok(&q, json!({ "id": id })).await["cancelBackorder"].clone()
}

async fn restock(app: &TestApp, warehouse: &str, sku: &str, on_hand: i64) {
    let data = app
        .ok(
            "mutation($w: String!, $s: String!, $n: Int!) { setStockLevels(input: [{warehouseCode: $w, sku: $s, onHand: $n}]) { userErrors { message } } }",
            json!({ "w": warehouse, "s": sku, "n": on_hand }),
        )
        .await;
    assert_eq!(data["setStockLevels"]["userErrors"], json!([]));
}

async fn order(app: &TestApp, id: &Value) -> Value {
    app.ok(
        "query($id: ID!) { order(id: $id) { status shipments { warehouse { code } status lines { sku quantity } } backorders { sku quantity status } events { kind } } }",
        json!({ "id": id }),
    )
    .await["order"]
        .clone()
}

#[tokio::test]
async fn a_backordered_line_is_confirmed_restocked_and_allocated() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // TENT 2 (NYC 2), STOVE 1, LAMP 15 of 11: four lamps wait.
        let placed = place(&app, json!([{ "sku": "TENT", "quantity": 2 }, { "sku": "STOVE", "quantity": 1 }, { "sku": "LAMP", "quantity": 15 }]), "story", "SHIP_AVAILABLE", false).await;
        assert_eq!(placed["status"], "BACKORDERED");
        let backorder = &placed["backorders"][0];
        assert_eq!(
            (backorder["sku"].as_str(), backorder["quantity"].as_i64(), backorder["status"].as_str()),
            (Some("LAMP"), Some(4), Some("AWAITING_CONFIRMATION"))
        );

        // Unconfirmed backorders do not take arriving stock.
        restock(&app, "CHI", "LAMP", 3).await;
        assert_eq!(order(&app, &placed["id"]).await["backorders"][0]["status"], "AWAITING_CONFIRMATION");

        // Confirming allocates what is there now: 3 of 4, from CHI.
        let confirmed = confirm(&app, &backorder["id"]).await;
        assert_eq!(confirmed["userErrors"], json!([]));
        let backorders = &confirmed["order"]["backorders"];
        assert_eq!(
            backorders,
            &json!([{ "sku": "LAMP", "quantity": 1, "status": "CONFIRMED" }, { "sku": "LAMP", "quantity": 3, "status": "ALLOCATED" }])
        );
        assert_eq!(confirmed["order"]["status"], "BACKORDERED");

        // The last lamp arrives at NYC, where the order already has a
        // package: it joins that package instead of a new one.
        restock(&app, "NYC", "LAMP", 11).await;
        let done = order(&app, &placed["id"]).await;
        assert_eq!(done["status"], "AWAITING_SHIPMENT");
        assert!(done["backorders"].as_array().unwrap().iter().all(|b| b["status"] == "ALLOCATED"));
        let lamps: i64 = done["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["lines"].as_array().unwrap().iter())
            .filter(|l| l["sku"] == "LAMP")
            .map(|l| l["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(lamps, 15);
        let nyc = done["shipments"].as_array().unwrap().iter().filter(|s| s["warehouse"]["code"] == "NYC").count();
        assert_eq!(nyc, 1, "{done}");
        let kinds: Vec<&str> = done["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "BACKORDER_ALLOCATED").count(), 2);
        assert!(kinds.contains(&"BACKORDER_CONFIRMED"));

        // Nothing is left over for new orders, and nothing was oversold.
        let levels = app
            .ok(r#"{ availability(skus: ["LAMP"]) { totalAvailable locations { onHand reserved } } }"#, json!({}))
            .await;
        assert_eq!(levels["availability"][0]["totalAvailable"], 0);
        for l in levels["availability"][0]["locations"].as_array().unwrap() {
            assert!(l["reserved"].as_i64() <= l["onHand"].as_i64(), "{l}");
        }

        // Every package leaves: the order is shipped, and the lamps are off
        // the shelves.
        for (n, (id, status)) in shipment_ids(&app, &placed["id"]).await.into_iter().enumerate() {
            assert_eq!(status, "RELEASED");
            let shipped = app.ok(SHIP, json!({ "id": id, "t": format!("1Z{n}") })).await;
            assert_eq!(shipped["markShipmentShipped"]["userErrors"], json!([]));
        }
        let shipped = order(&app, &placed["id"]).await;
        assert_eq!(shipped["status"], "SHIPPED");
        let levels = app.ok(r#"{ availability(skus: ["LAMP"]) { locations { onHand reserved } } }"#, json!({})).await;
        let (on_hand, reserved): (i64, i64) = levels["availability"][0]["locations"]
            .as_array()
            .unwrap()
            .iter()
            .fold((0, 0), |(h, r), l| (h + l["onHand"].as_i64().unwrap(), r + l["reserved"].as_i64().unwrap()));
        assert_eq!((on_hand, reserved), (0, 0), "11 + 3 + 1 lamps stocked, 15 shipped");
    }
}

#[tokio::test]
async fn arriving_stock_serves_the_oldest_confirmation_first() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // RARE has no stock anywhere: both orders wait entirely.
        let first = place(&app, json!([{ "sku": "RARE", "quantity": 2 }]), "first", "SHIP_AVAILABLE", true).await;
        let second = place(&app, json!([{ "sku": "RARE", "quantity": 2 }]), "second", "SHIP_AVAILABLE", true).await;
        let queue = app.ok(r#"{ backorders(sku: "RARE", status: CONFIRMED) { quantity } }"#, json!({})).await;
        assert_eq!(queue["backorders"].as_array().unwrap().len(), 2);

        restock(&app, "RNO", "RARE", 3).await;
        let a = order(&app, &first["id"]).await;
        let b = order(&app, &second["id"]).await;
        assert_eq!(a["backorders"], json!([{ "sku": "RARE", "quantity": 2, "status": "ALLOCATED" }]));
        assert_eq!(a["status"], "AWAITING_SHIPMENT");
        assert_eq!(
            b["backorders"],
            json!([{ "sku": "RARE", "quantity": 1, "status": "CONFIRMED" }, { "sku": "RARE", "quantity": 1, "status": "ALLOCATED" }])
        );
        assert_eq!(b["shipments"][0]["status"], "RELEASED");
    }
}

#[tokio::test]
async fn ship_complete_orders_are_released_when_the_last_backorder_is_allocated_or_cancelled() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let held = place(
            &app,
            json!([{ "sku": "TENT", "quantity": 1 }, { "sku": "RARE", "quantity": 1 }]),
            "held",
            "SHIP_COMPLETE",
            true,
        )
        .await;
        assert!(held["shipments"].as_array().unwrap().iter().all(|s| s["status"] == "PENDING"));
        restock(&app, "NYC", "RARE", 1).await;
        let done = order(&app, &held["id"]).await;
        assert!(done["shipments"].as_array().unwrap().iter().all(|s| s["status"] == "RELEASED"), "{done}");
        assert_eq!(done["shipments"].as_array().unwrap().len(), 1, "the rare unit joined the NYC package");

        let other = place(
            &app,
            json!([{ "sku": "STOVE", "quantity": 1 }, { "sku": "RARE", "quantity": 5 }]),
            "other",
            "SHIP_COMPLETE",
            false,
        )
        .await;
        let cancelled = cancel(&app, &other["backorders"][0]["id"]).await;
        assert_eq!(cancelled["backorder"]["status"], "CANCELLED");
        assert_eq!(cancelled["order"]["status"], "AWAITING_SHIPMENT");
        assert!(cancelled["order"]["shipments"].as_array().unwrap().iter().all(|s| s["status"] == "RELEASED"));
    }
}

#[tokio::test]
async fn backorders_reject_what_makes_no_sense() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let placed = place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), "x", "SHIP_AVAILABLE", false).await;
        let id = placed["backorders"][0]["id"].clone();
        let cancelled = cancel(&app, &id).await;
        assert_eq!(cancelled["order"]["status"], "CANCELLED");
        for (answer, code, message) in [
            (confirm(&app, &id).await, "INVALID_TRANSITION", "a backorder that is cancelled cannot be confirmed"),
            (cancel(&app, &id).await, "INVALID_TRANSITION", "a backorder that is cancelled cannot be cancelled"),
            (confirm(&app, &json!("bko_00000000deadbeef")).await, "UNKNOWN_BACKORDER", "unknown backorder"),
            (confirm(&app, &json!("abc")).await, "INVALID_INPUT", "\"abc\" is not a backorder id"),
        ] {
            assert_eq!(answer["userErrors"][0]["code"], code, "{answer}");
            assert_eq!(answer["userErrors"][0]["message"], message);
            assert_eq!(answer["backorder"], json!(null));
        }
        let after = order(&app, &placed["id"]).await;
        assert_eq!(after["backorders"][0]["status"], "CANCELLED", "rejected calls change nothing");
    }
}

const SHIP: &str = "mutation($id: ID!, $t: String!) { markShipmentShipped(id: $id, trackingNumber: $t) { shipment { status trackingNumber } order { status } userErrors { code message field } } }";
const CANCEL_ORDER: &str = "mutation($id: ID!) { cancelOrder(id: $id, reason: \"customer changed mind\") { order { status shipments { status } backorders { status } events { kind } } userErrors { code message } } }";

async fn shipment_ids(app: &TestApp, order_id: &Value) -> Vec<(Value, String)> {
    let data =
        app.ok("query($id: ID!) { order(id: $id) { shipments { id status } } }", json!({ "id": order_id })).await;
    data["order"]["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].clone(), s["status"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn shipping_every_package_completes_the_order_and_takes_units_off_hand() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let placed = place(
            &app,
            json!([{ "sku": "TENT", "quantity": 2 }, { "sku": "STOVE", "quantity": 4 }]),
            "ship",
            "SHIP_AVAILABLE",
            true,
        )
        .await;
        let shipments = shipment_ids(&app, &placed["id"]).await;
        assert_eq!(shipments.len(), 2);
        let first = app.ok(SHIP, json!({ "id": shipments[0].0, "t": "1Z999" })).await;
        assert_eq!(first["markShipmentShipped"]["shipment"], json!({ "status": "SHIPPED", "trackingNumber": "1Z999" }));
        assert_eq!(first["markShipmentShipped"]["order"]["status"], "PARTIALLY_SHIPPED");
        let again = app.ok(SHIP, json!({ "id": shipments[0].0, "t": "1Z999" })).await;
        assert_eq!(again["markShipmentShipped"]["userErrors"][0]["code"], "INVALID_TRANSITION");
        let last = app.ok(SHIP, json!({ "id": shipments[1].0, "t": "1Z1000" })).await;
        assert_eq!(last["markShipmentShipped"]["order"]["status"], "SHIPPED");
        let levels = app
            .ok(r#"{ availability(skus: ["STOVE"]) { locations { warehouse { code } onHand reserved } } }"#, json!({}))
            .await;
        let locations = levels["availability"][0]["locations"].as_array().unwrap();
        let on_hand: i64 = locations.iter().map(|l| l["onHand"].as_i64().unwrap()).sum();
        let reserved: i64 = locations.iter().map(|l| l["reserved"].as_i64().unwrap()).sum();
        assert_eq!((on_hand, reserved), (11 - 4, 0));
        let cancel = app.ok(CANCEL_ORDER, json!({ "id": placed["id"] })).await;
        assert_eq!(
            cancel["cancelOrder"]["userErrors"][0]["code"], "INVALID_TRANSITION",
            "shipped units cannot be cancelled"
        );
    }
}

#[tokio::test]
async fn cancelling_an_order_frees_its_units_for_the_next_in_queue() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // The first order takes every tent; the second waits for two.
        let holder = place(&app, json!([{ "sku": "TENT", "quantity": 7 }]), "holder", "SHIP_AVAILABLE", true).await;
        let waiting = place(&app, json!([{ "sku": "TENT", "quantity": 2 }]), "waiting", "SHIP_AVAILABLE", true).await;
        assert_eq!(waiting["backorders"][0]["status"], "CONFIRMED");

        let cancelled = app.ok(CANCEL_ORDER, json!({ "id": holder["id"] })).await;
        let order = &cancelled["cancelOrder"]["order"];
        assert_eq!(order["status"], "CANCELLED");
        assert!(order["shipments"].as_array().unwrap().iter().all(|s| s["status"] == "CANCELLED"));
        let kinds: Vec<&str> =
            order["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"ORDER_CANCELLED") && kinds.contains(&"SHIPMENT_CANCELLED"), "{kinds:?}");

        let served = super::backorders::order(&app, &waiting["id"]).await;
        assert_eq!(served["backorders"], json!([{ "sku": "TENT", "quantity": 2, "status": "ALLOCATED" }]));
        assert_eq!(served["status"], "AWAITING_SHIPMENT");
        let left = app.ok(r#"{ availability(skus: ["TENT"]) { totalAvailable } }"#, json!({})).await;
        assert_eq!(left["availability"][0]["totalAvailable"], 5, "the rest is back on sale");

        let twice = app.ok(CANCEL_ORDER, json!({ "id": holder["id"] })).await;
        assert_eq!(twice["cancelOrder"]["userErrors"][0]["message"], "the order has nothing left to cancel");
    }
}

#[tokio::test]
async fn partner_and_cancellation_calls_reject_what_makes_no_sense() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let held = place(
            &app,
            json!([{ "sku": "TENT", "quantity": 1 }, { "sku": "RARE", "quantity": 1 }]),
            "held",
            "SHIP_COMPLETE",
            false,
        )
        .await;
        let shipments = shipment_ids(&app, &held["id"]).await;
        assert_eq!(shipments[0].1, "PENDING");
        for (id, tracking, code, message) in [
            (
                shipments[0].0.clone(),
                "T1",
                "INVALID_TRANSITION",
                "the shipment is held until the order is complete and cannot be marked shipped".to_owned(),
            ),
            (json!("shp_00000000deadbeef"), "T1", "UNKNOWN_SHIPMENT", "unknown shipment".to_owned()),
            (shipments[0].0.clone(), " ", "INVALID_INPUT", "trackingNumber must be 1 to 100 characters".to_owned()),
            (json!("x"), "T1", "INVALID_INPUT", "\"x\" is not a shipment id".to_owned()),
        ] {
            let answer = app.ok(SHIP, json!({ "id": id, "t": tracking })).await;
            assert_eq!(answer["markShipmentShipped"]["userErrors"][0]["code"], code, "{answer}");
            assert_eq!(answer["markShipmentShipped"]["userErrors"][0]["message"], message.as_str());
        }
        let unknown = app.ok(CANCEL_ORDER, json!({ "id": "ord_00000000deadbeef" })).await;
        assert_eq!(unknown["cancelOrder"]["userErrors"][0]["message"], "unknown order");
        assert_eq!(shipment_ids(&app, &held["id"]).await[0].1, "PENDING", "nothing changed");
    }
}

const RECEIVE: &str = "mutation($w: String!, $s: String!, $q: Int!) { receiveStock(input: {warehouseCode: $w, sku: $s, quantity: $q}) { availability { totalAvailable locations { warehouse { code } onHand reserved } } userErrors { code message field } } }";
const ADJUST: &str = "mutation($w: String!, $s: String!, $d: Int!, $r: String!) { adjustStock(input: {warehouseCode: $w, sku: $s, delta: $d, reason: $r}) { availability { totalAvailable } userErrors { code message } } }";

#[tokio::test]
async fn received_units_serve_the_queue_before_going_on_sale() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let waiting = place(&app, json!([{ "sku": "RARE", "quantity": 3 }]), "rx", "SHIP_AVAILABLE", true).await;
        let received = app.ok(RECEIVE, json!({ "w": "CHI", "s": "RARE", "q": 5 })).await;
        assert_eq!(received["receiveStock"]["userErrors"], json!([]));
        assert_eq!(received["receiveStock"]["availability"]["totalAvailable"], 2, "3 of 5 went to the backorder");
        assert_eq!(
            received["receiveStock"]["availability"]["locations"],
            json!([{ "warehouse": { "code": "CHI" }, "onHand": 5, "reserved": 3 }])
        );
        let served = super::backorders::order(&app, &waiting["id"]).await;
        assert_eq!(served["backorders"][0]["status"], "ALLOCATED");

        // Adjusting down to the reserved units is fine, below them is not.
        let down = app.ok(ADJUST, json!({ "w": "CHI", "s": "RARE", "d": -2, "r": "damaged" })).await;
        assert_eq!(down["adjustStock"]["availability"]["totalAvailable"], 0);
        let below = app.ok(ADJUST, json!({ "w": "CHI", "s": "RARE", "d": -1, "r": "damaged" })).await;
        assert_eq!(below["adjustStock"]["userErrors"][0]["code"], "INVALID_TRANSITION");
        assert_eq!(
            below["adjustStock"]["userErrors"][0]["message"],
            "RARE at CHI: onHand 3 -1 would fall below the 3 reserved units; report a short pick instead"
        );
        for (query, vars, code) in [
            (RECEIVE, json!({ "w": "CHI", "s": "RARE", "q": 0 }), "BAD_QUANTITY"),
            (RECEIVE, json!({ "w": "NOPE", "s": "RARE", "q": 1 }), "UNKNOWN_WAREHOUSE"),
            (RECEIVE, json!({ "w": "CHI", "s": "NOPE", "q": 1 }), "UNKNOWN_SKU"),
            (ADJUST, json!({ "w": "CHI", "s": "RARE", "d": 0, "r": "x" }), "BAD_QUANTITY"),
            (ADJUST, json!({ "w": "CHI", "s": "RARE", "d": i32::MIN, "r": "x" }), "BAD_QUANTITY"),
            (RECEIVE, json!({ "w": "CHI", "s": "RARE", "q": 1_000_000_001 }), "BAD_QUANTITY"),
            (ADJUST, json!({ "w": "CHI", "s": "RARE", "d": 1, "r": " " }), "INVALID_INPUT"),
        ] {
            let answer = app.ok(query, vars).await;
            let payload = answer.as_object().unwrap().values().next().unwrap();
            assert_eq!(payload["userErrors"][0]["code"], code, "{answer}");
        }
        let level = app.ok(r#"{ availability(skus: ["RARE"]) { locations { onHand reserved } } }"#, json!({})).await;
        assert_eq!(
            level["availability"][0]["locations"],
            json!([{ "onHand": 3, "reserved": 3 }]),
            "rejected calls change nothing"
        );
    }
}

const RECEIPT: &str = "mutation($w: String!, $s: String!, $q: Int!, $d: Date!) { recordInboundReceipt(input: {warehouseCode: $w, sku: $s, quantity: $q, expectedOn: $d}) { receipt { sku quantity expectedOn } userErrors { code message } } }";

fn in_days(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).format("%Y-%m-%d").to_string()
}

async fn eta(app: &TestApp, order_id: &Value) -> Value {
    app.ok("query($id: ID!) { order(id: $id) { backorders { estimatedAvailableDate } } }", json!({ "id": order_id }))
        .await["order"]["backorders"][0]["estimatedAvailableDate"]
        .clone()
}

#[tokio::test]
async fn inbound_receipts_move_backorder_estimates_in_queue_order() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // RARE: lead time 14 days (the catalog default), no stock.
        let first = place(&app, json!([{ "sku": "RARE", "quantity": 4 }]), "eta1", "SHIP_AVAILABLE", true).await;
        let second = place(&app, json!([{ "sku": "RARE", "quantity": 8 }]), "eta2", "SHIP_AVAILABLE", true).await;
        assert_eq!(eta(&app, &first["id"]).await, json!(in_days(14)));

        let recorded = app.ok(RECEIPT, json!({ "w": "CHI", "s": "RARE", "q": 10, "d": in_days(3) })).await;
        assert_eq!(
            recorded["recordInboundReceipt"]["receipt"],
            json!({ "sku": "RARE", "quantity": 10, "expectedOn": in_days(3) })
        );
        // Ten units cover the first order's four, not the second's eight
        // after them; Chicago to New York is two days on the road.
        assert_eq!(eta(&app, &first["id"]).await, json!(in_days(3 + 2)));
        assert_eq!(eta(&app, &second["id"]).await, json!(in_days(14)));
        // Reno is five days from New York.
        app.ok(RECEIPT, json!({ "w": "RNO", "s": "RARE", "q": 2, "d": in_days(6) })).await;
        assert_eq!(eta(&app, &second["id"]).await, json!(in_days(6 + 5)));

        // A new backorder joins the end of the queue: 12 units are ahead of
        // it, so it waits for the receipt that brings the 13th to 15th.
        app.ok(RECEIPT, json!({ "w": "CHI", "s": "RARE", "q": 5, "d": in_days(9) })).await;
        let third = place(&app, json!([{ "sku": "RARE", "quantity": 3 }]), "eta3", "SHIP_AVAILABLE", true).await;
        assert_eq!(eta(&app, &third["id"]).await, json!(in_days(9 + 2)));

        let events = app
            .ok("query($id: ID!) { order(id: $id) { events { kind payload } } }", json!({ "id": first["id"] }))
            .await;
        let changed: Vec<&Value> = events["order"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "BACKORDER_ETA_CHANGED")
            .collect();
        assert_eq!(changed.len(), 1, "{events}");

        for (vars, code) in [
            (json!({ "w": "CHI", "s": "RARE", "q": 0, "d": in_days(3) }), "BAD_QUANTITY"),
            (json!({ "w": "CHI", "s": "RARE", "q": 1, "d": in_days(-1) }), "INVALID_INPUT"),
            (json!({ "w": "XXX", "s": "RARE", "q": 1, "d": in_days(1) }), "UNKNOWN_WAREHOUSE"),
        ] {
            let answer = app.ok(RECEIPT, vars).await;
            assert_eq!(answer["recordInboundReceipt"]["userErrors"][0]["code"], code, "{answer}");
        }
    }
}

const COMPENSATE: &str = "mutation($i: IssueCompensationInput!) { issueCompensation(input: $i) { order { totals { merchandise shipping compensation total } compensations { amount reason automatic } events { kind } } userErrors { code message } } }";

#[tokio::test]
async fn compensation_is_exact_money_and_the_totals_add_up() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let placed = place(
            &app,
            json!([{ "sku": "TENT", "quantity": 2 }, { "sku": "RARE", "quantity": 1 }]),
            "comp",
            "SHIP_AVAILABLE",
            true,
        )
        .await;
        let id = placed["id"].clone();
        let data = app
            .ok(
                "query($id: ID!) { order(id: $id) { totals { merchandise shipping compensation total } } }",
                json!({ "id": id }),
            )
            .await;
        let totals = &data["order"]["totals"];
        assert_eq!(totals["merchandise"], "403.00", "2 × 199.00 + 1 × 5.00");
        assert_eq!(totals["compensation"], "0.00");
        let shipping: rust_decimal::Decimal = totals["shipping"].as_str().unwrap().parse().unwrap();

        let answer = app
            .ok(COMPENSATE, json!({ "i": { "orderId": id, "percentage": "10", "reason": "rare item delayed" } }))
            .await;
        let order = &answer["issueCompensation"]["order"];
        assert_eq!(answer["issueCompensation"]["userErrors"], json!([]));
        let expected = ((rust_decimal::Decimal::from(403) + shipping) / rust_decimal::Decimal::from(10)).round_dp(2);
        assert_eq!(
            order["compensations"],
            json!([{ "amount": format!("{expected:.2}"), "reason": "rare item delayed", "automatic": false }])
        );
        let total: rust_decimal::Decimal = order["totals"]["total"].as_str().unwrap().parse().unwrap();
        assert_eq!(total, rust_decimal::Decimal::from(403) + shipping - expected);
        assert!(order["events"].as_array().unwrap().iter().any(|e| e["kind"] == "ORDER_COMPENSATED"));

        for (input, message) in [
            (
                json!({ "orderId": id, "amount": "5", "percentage": "5", "reason": "x" }),
                "give exactly one of amount and percentage",
            ),
            (json!({ "orderId": id, "amount": "100000", "reason": "x" }), "credits would exceed the order total"),
            (
                json!({ "orderId": id, "percentage": "0", "reason": "x" }),
                "a compensation percentage must be above 0 and at most 100, got 0",
            ),
            (
                json!({ "orderId": id, "amount": "0", "reason": "x" }),
                "a compensation amount must be positive, got 0.00",
            ),
            (json!({ "orderId": id, "amount": "5", "reason": " " }), "reason must be 1 to 500 characters"),
            (json!({ "orderId": "ord_00000000deadbeef", "amount": "5", "reason": "x" }), "unknown order"),
        ] {
            let answer = app.ok(COMPENSATE, json!({ "i": input })).await;
            let error = answer["issueCompensation"]["userErrors"][0]["message"].as_str().unwrap().to_owned();
            assert!(error.starts_with(message), "{error}");
        }
        let negative = app.graphql(COMPENSATE, json!({ "i": { "orderId": id, "amount": "-5", "reason": "x" } })).await;
        assert!(
            negative["errors"][0]["message"].as_str().unwrap().contains("money must not be negative"),
            "{negative}"
        );
        let after =
            app.ok("query($id: ID!) { order(id: $id) { compensations { amount } } }", json!({ "id": id })).await;
        assert_eq!(after["order"]["compensations"].as_array().unwrap().len(), 1, "rejected grants change nothing");
    }
}

#[tokio::test]
async fn a_higher_priority_order_jumps_the_backorder_queue() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let early = place(&app, json!([{ "sku": "RARE", "quantity": 2 }]), "early", "SHIP_AVAILABLE", true).await;
        let input = json!({ "lines": [{ "sku": "RARE", "quantity": 2 }], "destination": { "latitude": 40.71, "longitude": -74.0 },
                            "customerReference": "vip", "idempotencyKey": "vip", "backorderConsent": true, "priority": 5 });
        let vip = app.ok(PLACE, json!({ "i": input })).await["placeOrder"]["order"].clone();
        let late = place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), "late", "SHIP_AVAILABLE", true).await;
        let unconfirmed =
            place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), "maybe", "SHIP_AVAILABLE", false).await;
        let queue = app
            .ok(r#"{ backorders(sku: "RARE") { orderId queuePosition status promisedAvailableDate estimatedAvailableDate confirmedAt } }"#, json!({}))
            .await;
        let positions: Vec<(&Value, &Value)> =
            queue["backorders"].as_array().unwrap().iter().map(|b| (&b["orderId"], &b["queuePosition"])).collect();
        assert_eq!(
            positions,
            [
                (&vip["id"], &json!(1)),
                (&early["id"], &json!(2)),
                (&late["id"], &json!(3)),
                (&unconfirmed["id"], &Value::Null)
            ],
            "the queue lists the priority order first; an unconfirmed backorder is in no queue"
        );
        for b in queue["backorders"].as_array().unwrap() {
            assert_eq!(b["promisedAvailableDate"], b["estimatedAvailableDate"], "nothing slipped yet");
            assert_eq!(b["confirmedAt"].is_null(), b["status"] == "AWAITING_CONFIRMATION");
        }
        restock(&app, "NYC", "RARE", 2).await;
        assert_eq!(order(&app, &vip["id"]).await["backorders"][0]["status"], "ALLOCATED");
        assert_eq!(order(&app, &early["id"]).await["backorders"][0]["status"], "CONFIRMED");
    }
}

/// A queue longer than one read of its head: arriving units serve it in
/// queue order across the batches, a priority account first.
#[tokio::test]
async fn arrivals_serve_a_long_queue_in_order_across_batches() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // Nobody holds RARE: every order waits, confirmed.
        let mut ids = Vec::new();
        for n in 0..150 {
            ids.push(
                place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), &format!("long-{n}"), "SHIP_AVAILABLE", true)
                    .await["id"]
                    .clone(),
            );
        }
        let input = json!({ "lines": [{ "sku": "RARE", "quantity": 1 }], "destination": { "latitude": 40.71, "longitude": -74.0 },
                            "customerReference": "vip", "idempotencyKey": "vip", "backorderConsent": true, "priority": 5 });
        let vip = app.ok(PLACE, json!({ "i": input })).await["placeOrder"]["order"]["id"].clone();
        let positions =
            app.ok("{ backorders(status: CONFIRMED, first: 3) { orderId queuePosition } }", json!({})).await;
        let first: Vec<(Value, Value)> = positions["backorders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["orderId"].clone(), b["queuePosition"].clone()))
            .collect();
        assert_eq!(
            first,
            vec![(vip.clone(), json!(1)), (ids[0].clone(), json!(2)), (ids[1].clone(), json!(3))],
            "[{lane:?}]"
        );

        // A page ranks its rows; an order's own backorder counts the rows
        // ahead of it: both say the same, deep into the queue.
        let page = app.ok("{ backorders(first: 100) { orderId queuePosition } }", json!({})).await;
        let page = page["backorders"].as_array().unwrap();
        for (n, b) in page.iter().enumerate() {
            assert_eq!(b["queuePosition"], n + 1, "[{lane:?}] {b}");
        }
        for b in [&page[1], &page[57], &page[99]] {
            let counted = app
                .ok(
                    "query($id: ID!) { order(id: $id) { backorders { queuePosition } } }",
                    json!({ "id": b["orderId"] }),
                )
                .await;
            assert_eq!(counted["order"]["backorders"][0]["queuePosition"], b["queuePosition"], "[{lane:?}]");
        }

        // 140 units for 151 waiting: the priority order and the 139 oldest.
        restock(&app, "CHI", "RARE", 140).await;
        assert_eq!(order(&app, &vip).await["status"], "AWAITING_SHIPMENT", "[{lane:?}]");
        for (n, id) in ids.iter().enumerate() {
            let expected = if n < 139 { "AWAITING_SHIPMENT" } else { "BACKORDERED" };
            assert_eq!(order(&app, id).await["status"], expected, "[{lane:?}] order {n}");
        }
        let left = app.ok("{ backorders(status: CONFIRMED, first: 20) { orderId queuePosition } }", json!({})).await;
        let waiting: Vec<Value> = left["backorders"].as_array().unwrap().iter().map(|b| b["orderId"].clone()).collect();
        assert_eq!(waiting, ids[139..].to_vec(), "[{lane:?}] the newest wait, in order");
        assert_eq!(left["backorders"][0]["queuePosition"], 1, "[{lane:?}]");
        // Those who left took their counts with them: an order's position
        // is its rank among the ones still waiting.
        for (n, id) in ids[139..].iter().enumerate() {
            let counted = app
                .ok("query($id: ID!) { order(id: $id) { backorders { queuePosition } } }", json!({ "id": id }))
                .await;
            assert_eq!(counted["order"]["backorders"][0]["queuePosition"], n + 1, "[{lane:?}] order {n}");
        }

        // The tree the writers kept is the one a recount from the
        // backorders builds.
        let db = infra::db::connect(&app.database).await.unwrap();
        let kept = queue_counts(&db).await;
        assert!(!kept.is_empty(), "[{lane:?}] a queue waits, so its tree has nodes");
        app.store.recount_queues().await.unwrap();
        assert_eq!(queue_counts(&db).await, kept, "[{lane:?}]");
        db.execute_unprepared("DELETE FROM queue_counts").await.unwrap();
        app.store.recount_queues().await.unwrap();
        assert_eq!(queue_counts(&db).await, kept, "[{lane:?}] rebuilt from nothing");
    }
}

async fn queue_counts(db: &sea_orm::DatabaseConnection) -> Vec<(i64, i64, i64)> {
    use sea_orm::Statement;
    let sql = "SELECT product_id, node, entries FROM queue_counts ORDER BY product_id, node";
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.unwrap();
    rows.iter()
        .map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap(), r.try_get_by_index(2).unwrap()))
        .collect()
}

/// A feed that counts fewer units than are reserved is the warehouse's
/// truth: the newest reservations there lose their units, which ship from
/// elsewhere or wait, and each order touched is told.
#[tokio::test]
async fn a_short_feed_takes_units_from_the_newest_reservations_first() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // NYC holds 10 lamps, RNO 1: both orders ship from NYC.
        let older = place(&app, json!([{ "sku": "LAMP", "quantity": 3 }]), "older", "SHIP_AVAILABLE", true).await;
        let newer = place(&app, json!([{ "sku": "LAMP", "quantity": 2 }]), "newer", "SHIP_AVAILABLE", true).await;
        let nyc = |data: &Value| -> (i64, i64) {
            let l = data["availability"][0]["locations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["warehouse"]["code"] == "NYC")
                .unwrap()
                .clone();
            (l["onHand"].as_i64().unwrap(), l["reserved"].as_i64().unwrap())
        };
        const LEVELS: &str = r#"{ availability(skus: ["LAMP"]) { locations { warehouse { code } onHand reserved } } }"#;
        assert_eq!(nyc(&app.ok(LEVELS, json!({})).await), (10, 5), "[{lane:?}]");

        // 4 counted where 5 are reserved: the newer order's unit moves to RNO.
        restock(&app, "NYC", "LAMP", 4).await;
        assert_eq!(nyc(&app.ok(LEVELS, json!({})).await), (4, 4), "[{lane:?}]");
        let moved = order(&app, &newer["id"]).await;
        let codes: Vec<&str> = moved["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] != "CANCELLED")
            .map(|s| s["warehouse"]["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["NYC", "RNO"], "[{lane:?}] {moved}");
        assert!(moved["events"].as_array().unwrap().iter().any(|e| e["kind"] == "SHORT_PICK_REPORTED"), "[{lane:?}]");
        let kept = order(&app, &older["id"]).await;
        assert!(
            kept["events"].as_array().unwrap().iter().all(|e| e["kind"] != "SHORT_PICK_REPORTED"),
            "[{lane:?}] {kept}"
        );

        // Nothing left at NYC and nothing on sale elsewhere: both now wait.
        restock(&app, "NYC", "LAMP", 0).await;
        assert_eq!(nyc(&app.ok(LEVELS, json!({})).await), (0, 0), "[{lane:?}]");
        let older = order(&app, &older["id"]).await;
        assert_eq!(older["backorders"], json!([{ "sku": "LAMP", "quantity": 3, "status": "CONFIRMED" }]), "[{lane:?}]");
        assert_eq!(older["status"], "BACKORDERED");
        let newer = order(&app, &newer["id"]).await;
        assert_eq!(newer["backorders"], json!([{ "sku": "LAMP", "quantity": 1, "status": "CONFIRMED" }]), "[{lane:?}]");
    }
}

/// The supplier's date moves with the day, and with it the estimate of
/// every backorder no receipt reaches. The first request of a day that
/// re-estimates a long queue dates at most a batch of it and leaves the
/// rest to the worker, which dates every waiting backorder, once, with one
/// event each: no request pays for the length of the queue.
#[tokio::test]
async fn a_new_day_dates_a_long_queue_in_batches_off_the_request_path() {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use sea_orm::Statement;

    for lane in lanes() {
        let clock = infra::clock::ManualClock::now();
        let app = crate::support::seeded_timed(lane, Default::default(), clock.clone()).await;
        let db = infra::db::connect(&app.database).await.unwrap();
        let mut first = Value::Null;
        for n in 0..300 {
            let order =
                place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), &format!("tail-{n}"), "SHIP_AVAILABLE", true)
                    .await;
            if n == 0 {
                first = order["backorders"][0]["id"].clone();
            }
        }
        let dates = || async {
            let sql = "SELECT estimated_available, count(*) FROM backorders WHERE status = 'CONFIRMED' GROUP BY estimated_available";
            let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            rows.iter()
                .map(|r| (r.try_get_by_index::<i32>(0).unwrap(), r.try_get_by_index::<i64>(1).unwrap()))
                .collect::<BTreeMap<i32, i64>>()
        };
        let before = dates().await;
        assert_eq!(before.len(), 1, "[{lane:?}] one supplier date: {before:?}");
        let yesterday = *before.keys().next().unwrap();

        clock.advance(Duration::from_secs(86_400));
        // A cancellation re-estimates the queue behind it.
        assert_eq!(cancel(&app, &first).await["userErrors"], json!([]));
        let after = dates().await;
        assert_eq!(after, BTreeMap::from([(yesterday, 299 - 256), (yesterday + 1, 256)]), "[{lane:?}]");

        let report = app.store.run_maintenance(&domain::policy::FulfillmentPolicy::default(), 200).await.unwrap();
        assert!(report.queues_dated >= 1, "[{lane:?}] {report:?}");
        assert_eq!(dates().await, BTreeMap::from([(yesterday + 1, 299)]), "[{lane:?}]");
        let moved = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) FROM order_events WHERE kind = 'BACKORDER_ETA_CHANGED'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(moved, 299, "[{lane:?}] one event per backorder whose date moved");
        let again = app.store.run_maintenance(&domain::policy::FulfillmentPolicy::default(), 200).await.unwrap();
        assert_eq!(again.queues_dated, 0, "[{lane:?}] a queue is dated once a day");
    }
}
