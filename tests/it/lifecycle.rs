//! After placement: cancelling lines, substitutions, short picks, the
//! backorder worker and the deployment's policy, over GraphQL on every lane.

use std::time::Duration;

use domain::Money;
use domain::policy::{DelayCompensation, FulfillmentPolicy, PartialShipmentCharge};
use infra::store::MaintenanceReport;
use serde_json::{Value, json};

use infra::clock::ManualClock;

use crate::support::{TestApp, lanes, seeded, seeded_timed, seeded_with, spawn_replica_with};

const PLACE: &str =
    "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code message } order { id } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { status
    lines { id lineNumber sku quantity unitPrice shipped allocated backordered cancelled substituted replacesLineNumber replacedByLineNumbers }
    shipments { id warehouse { code } status lines { sku quantity } }
    backorders { id sku quantity status estimatedAvailableDate }
    substitutions { id originalSku substituteSku quantity status priceDifference }
    totals { merchandise shipping partialShipmentCharge compensation total }
    compensations { amount automatic reason }
    events { kind payload } } }";

async fn place_with(app: &TestApp, lines: Value, key: &str, consent: bool, priority: i32) -> Value {
    let input = json!({ "lines": lines, "destination": { "latitude": 40.71, "longitude": -74.0 }, "customerReference": key,
                        "idempotencyKey": key, "policy": "SHIP_AVAILABLE", "backorderConsent": consent, "priority": priority });
    let data = app.ok(PLACE, json!({ "i": input })).await;
    assert_eq!(data["placeOrder"]["userErrors"], json!([]), "{data}");
    data["placeOrder"]["order"]["id"].clone()
}

async fn place(app: &TestApp, lines: Value, key: &str, consent: bool) -> Value {
    place_with(app, lines, key, consent, 0).await
}

async fn order(app: &TestApp, id: &Value) -> Value {
    app.ok(ORDER, json!({ "id": id })).await["order"].clone()
}

fn line<'a>(order: &'a Value, sku: &str) -> &'a Value {
    order["lines"].as_array().unwrap().iter().find(|l| l["sku"] == sku).unwrap_or_else(|| panic!("no {sku} in {order}"))
}

async fn ship(app: &TestApp, shipment: &Value) {
    let shipped = app
        .ok(
            "mutation($id: ID!) { markShipmentShipped(id: $id, trackingNumber: \"1Z1\") { userErrors { code } } }",
            json!({ "id": shipment }),
        )
        .await;
    assert_eq!(shipped["markShipmentShipped"]["userErrors"], json!([]));
}

fn count(order: &Value, kind: &str) -> usize {
    order["events"].as_array().unwrap().iter().filter(|e| e["kind"] == kind).count()
}

/// Every unit of every line is in exactly one place.
fn assert_balanced(order: &Value) {
    for l in order["lines"].as_array().unwrap() {
        let parts: i64 = ["shipped", "allocated", "backordered", "cancelled", "substituted"]
            .iter()
            .map(|k| l[*k].as_i64().unwrap())
            .sum();
        assert_eq!(parts, l["quantity"].as_i64().unwrap(), "{l}");
    }
}

async fn levels(app: &TestApp, sku: &str) -> Value {
    let q = "query($s: String!) { availability(skus: [$s]) { totalAvailable locations { warehouse { code } onHand reserved } } }";
    app.ok(q, json!({ "s": sku })).await["availability"][0].clone()
}

const CANCEL_LINE: &str = "mutation($i: CancelOrderLineInput!) { cancelOrderLine(input: $i) { order { status } userErrors { code message } } }";

#[tokio::test]
async fn cancelling_part_of_a_line_takes_waiting_units_first_and_frees_stock_for_the_queue() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // LAMP: NYC 10 + RNO 1 ship now, 2 wait; then a second order waits for 3.
        let first = place(&app, json!([{ "sku": "LAMP", "quantity": 13 }]), "lamp-a", true).await;
        let second = place(&app, json!([{ "sku": "LAMP", "quantity": 3 }]), "lamp-b", true).await;
        let before = order(&app, &first).await;
        let lamp = line(&before, "LAMP");
        assert_eq!((lamp["allocated"].as_i64(), lamp["backordered"].as_i64()), (Some(11), Some(2)));

        // Four units: the two waiting, then two from the newest package
        // (RNO's single lamp, which empties it, and one from NYC).
        let cancelled = app
            .ok(CANCEL_LINE, json!({ "i": { "lineId": lamp["id"], "quantity": 4, "reason": "changed mind" } }))
            .await;
        assert_eq!(cancelled["cancelOrderLine"]["userErrors"], json!([]));
        let after = order(&app, &first).await;
        let lamp = line(&after, "LAMP");
        assert_eq!(
            [&lamp["allocated"], &lamp["backordered"], &lamp["cancelled"]].map(|v| v.as_i64().unwrap()),
            [9, 0, 4]
        );
        assert_balanced(&after);
        let statuses: Vec<(&str, &str)> = after["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["warehouse"]["code"].as_str().unwrap(), s["status"].as_str().unwrap()))
            .collect();
        assert_eq!(statuses, [("NYC", "RELEASED"), ("RNO", "CANCELLED")]);
        assert_eq!(count(&after, "LINE_CANCELLED"), 1);
        assert_eq!(count(&after, "BACKORDER_CANCELLED"), 1);
        assert_eq!(after["totals"]["merchandise"], "179.91", "9 lamps at 19.99 are still owed");

        // The two released lamps went to the next in the queue, not on sale.
        let next = order(&app, &second).await;
        let lamp = line(&next, "LAMP");
        assert_eq!((lamp["allocated"].as_i64(), lamp["backordered"].as_i64()), (Some(2), Some(1)), "{next}");
        assert_eq!(levels(&app, "LAMP").await["totalAvailable"], 0);

        // Shipped units cannot be cancelled; nothing left is a conflict.
        ship(&app, &after["shipments"][0]["id"]).await;
        let before = order(&app, &first).await;
        let lamp_id = line(&after, "LAMP")["id"].clone();
        let line_id = lamp_id.as_str().unwrap();
        for (input, code, message) in [
            (
                json!({ "lineId": line_id, "quantity": 1 }),
                "ALREADY_SHIPPED",
                "cannot cancel 1 units: line 1 (LAMP) has 0 of 13 units left to cancel (9 shipped, 4 cancelled, 0 substituted); shipped units cannot be cancelled",
            ),
            (
                json!({ "lineId": line_id }),
                "INVALID_TRANSITION",
                "cannot cancel 0 units: line 1 (LAMP) has 0 of 13 units left to cancel (9 shipped, 4 cancelled, 0 substituted)",
            ),
            (json!({ "lineId": line_id, "quantity": 0 }), "BAD_QUANTITY", "quantity must be positive, got 0"),
            (json!({ "lineId": "lin_00000000deadbeef" }), "UNKNOWN_ORDER_LINE", "unknown order line"),
            (json!({ "lineId": "x1" }), "INVALID_INPUT", "\"x1\" is not an order line id"),
            (json!({ "lineId": line_id, "reason": "  " }), "INVALID_INPUT", "reason must be 1 to 500 characters"),
        ] {
            let answer = app.ok(CANCEL_LINE, json!({ "i": input })).await;
            let errors = &answer["cancelOrderLine"]["userErrors"];
            assert_eq!((errors[0]["code"].as_str(), errors[0]["message"].as_str()), (Some(code), Some(message)));
        }
        let unchanged = order(&app, &first).await;
        assert_eq!(unchanged["lines"], before["lines"], "refused calls change nothing");
        assert_eq!(unchanged["events"], before["events"]);
        assert_eq!(line(&unchanged, "LAMP")["shipped"], 9);
        assert_eq!(line(&unchanged, "LAMP")["cancelled"], 4);
    }
}

#[tokio::test]
async fn cancelling_a_whole_line_of_a_ship_complete_order_releases_the_rest() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let input = json!({ "lines": [{ "sku": "TENT", "quantity": 1 }, { "sku": "RARE", "quantity": 2 }],
                            "destination": { "latitude": 40.71, "longitude": -74.0 }, "customerReference": "whole",
                            "idempotencyKey": "whole", "policy": "SHIP_COMPLETE", "backorderConsent": true });
        let id = app.ok(PLACE, json!({ "i": input })).await["placeOrder"]["order"]["id"].clone();
        let held = order(&app, &id).await;
        assert_eq!(held["shipments"][0]["status"], "PENDING");
        let rare = line(&held, "RARE")["id"].clone();
        let answer = app.ok(CANCEL_LINE, json!({ "i": { "lineId": rare } })).await;
        assert_eq!(answer["cancelOrderLine"]["order"]["status"], "AWAITING_SHIPMENT");
        let released = order(&app, &id).await;
        assert_eq!(released["shipments"][0]["status"], "RELEASED", "nothing left to wait for");
        assert_eq!(line(&released, "RARE")["cancelled"], 2);
        assert_eq!(released["totals"]["merchandise"], "199.00");
        assert_balanced(&released);
    }
}

const SUBSTITUTES: &str = r#"query($q: Int) { substitutes(sku: "RARE", destination: {latitude: 40.71, longitude: -74.0}, quantity: $q) { rank product { sku } totalAvailable plan { shipmentCount unitsNow shipments { warehouse { code } } } } }"#;
const PROPOSE: &str = "mutation($i: SubstituteLineInput!) { proposeSubstitution(input: $i) { substitution { id status quantity priceDifference originalSku substituteSku } userErrors { code message } } }";
const SUBSTITUTE: &str = "mutation($i: SubstituteLineInput!) { substituteLine(input: $i) { substitution { id status quantity priceDifference substituteLineId } userErrors { code message } } }";
const RESPOND: &str = "mutation($id: ID!, $a: Boolean!) { respondToSubstitution(id: $id, accept: $a) { substitution { status } order { status } userErrors { code message } } }";

#[tokio::test]
async fn a_backorder_is_substituted_by_proposal_or_directly_and_keeps_its_lineage() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let products =
            json!([{ "sku": "RARE", "name": "Rare lamp", "unitPrice": "5.00", "substitutes": ["LAMP", "STOVE"] }]);
        let upserted = app
            .ok(
                "mutation($p: [ProductInput!]!) { upsertProducts(input: $p) { userErrors { message } } }",
                json!({ "p": products }),
            )
            .await;
        assert_eq!(upserted["upsertProducts"]["userErrors"], json!([]));
        let id =
            place(&app, json!([{ "sku": "TENT", "quantity": 1 }, { "sku": "RARE", "quantity": 2 }]), "subst", true)
                .await;

        let options = app.ok(SUBSTITUTES, json!({ "q": 2 })).await;
        assert_eq!(
            options["substitutes"],
            json!([
                { "rank": 1, "product": { "sku": "LAMP" }, "totalAvailable": 11,
                  "plan": { "shipmentCount": 1, "unitsNow": 2, "shipments": [{ "warehouse": { "code": "NYC" } }] } },
                { "rank": 2, "product": { "sku": "STOVE" }, "totalAvailable": 11,
                  "plan": { "shipmentCount": 1, "unitsNow": 2, "shipments": [{ "warehouse": { "code": "CHI" } }] } },
            ])
        );

        // A proposal changes nothing until the shopper accepts it.
        let rare = line(&order(&app, &id).await, "RARE")["id"].clone();
        let proposed =
            app.ok(PROPOSE, json!({ "i": { "lineId": rare, "substituteSku": "LAMP", "quantity": 1 } })).await;
        let proposal = &proposed["proposeSubstitution"]["substitution"];
        assert_eq!(
            proposal,
            &json!({ "id": proposal["id"], "status": "PROPOSED", "quantity": 1, "priceDifference": "14.99",
                     "originalSku": "RARE", "substituteSku": "LAMP" })
        );
        assert_eq!(line(&order(&app, &id).await, "RARE")["backordered"], 2);

        let accepted = app.ok(RESPOND, json!({ "id": proposal["id"], "a": true })).await;
        assert_eq!(accepted["respondToSubstitution"]["substitution"]["status"], "ACCEPTED");
        let after = order(&app, &id).await;
        let original = line(&after, "RARE");
        assert_eq!((original["substituted"].as_i64(), original["backordered"].as_i64()), (Some(1), Some(1)));
        assert_eq!(original["replacedByLineNumbers"], json!([3]));
        let lamp = line(&after, "LAMP");
        assert_eq!(
            (lamp["lineNumber"].as_i64(), lamp["replacesLineNumber"].as_i64(), lamp["allocated"].as_i64()),
            (Some(3), Some(2), Some(1))
        );
        // The lamp joins the tent's package at NYC rather than opening one.
        assert_eq!(after["shipments"].as_array().unwrap().len(), 1, "{after}");
        assert_eq!(
            after["shipments"][0]["lines"],
            json!([{ "sku": "TENT", "quantity": 1 }, { "sku": "LAMP", "quantity": 1 }])
        );
        assert_eq!(after["totals"]["merchandise"], "223.99", "199.00 + 1 × 5.00 + 1 × 19.99");
        assert_eq!(count(&after, "LINE_SUBSTITUTED"), 1);

        // A proposal is answered once.
        let again = app.ok(RESPOND, json!({ "id": proposal["id"], "a": false })).await;
        let errors = &again["respondToSubstitution"]["userErrors"];
        assert_eq!(errors[0]["code"], "INVALID_TRANSITION");
        assert_eq!(errors[0]["message"], "the substitution was already answered (accepted)");

        // Declined: nothing moves.
        let second = app.ok(PROPOSE, json!({ "i": { "lineId": rare, "substituteSku": "STOVE" } })).await;
        let second_id = second["proposeSubstitution"]["substitution"]["id"].clone();
        let declined = app.ok(RESPOND, json!({ "id": second_id, "a": false })).await;
        assert_eq!(declined["respondToSubstitution"]["substitution"]["status"], "DECLINED");
        assert_eq!(line(&order(&app, &id).await, "RARE")["backordered"], 1);

        // An agent substitutes the last unit directly: a stove from Chicago.
        let direct = app
            .ok(SUBSTITUTE, json!({ "i": { "lineId": rare, "substituteSku": "STOVE", "note": "agreed by phone" } }))
            .await;
        let applied = &direct["substituteLine"]["substitution"];
        assert_eq!((applied["status"].as_str(), applied["priceDifference"].as_str()), (Some("APPLIED"), Some("44.50")));
        let done = order(&app, &id).await;
        assert_eq!(done["status"], "AWAITING_SHIPMENT");
        assert_eq!(line(&done, "RARE")["substituted"], 2);
        assert_eq!(done["totals"]["merchandise"], "268.49", "199.00 + 19.99 + 49.50");
        let statuses: Vec<&str> =
            done["substitutions"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["ACCEPTED", "DECLINED", "APPLIED"]);
        assert_eq!(levels(&app, "STOVE").await["totalAvailable"], 10);
        assert_balanced(&done);

        // Nonsense changes nothing.
        let tent = line(&done, "TENT")["id"].clone();
        for (query, input, code) in [
            (SUBSTITUTE, json!({ "lineId": rare, "substituteSku": "RARE" }), "INVALID_INPUT"),
            (SUBSTITUTE, json!({ "lineId": rare, "substituteSku": "NOPE" }), "UNKNOWN_SKU"),
            (SUBSTITUTE, json!({ "lineId": rare, "substituteSku": "LAMP" }), "INVALID_TRANSITION"),
            (PROPOSE, json!({ "lineId": tent, "substituteSku": "LAMP", "quantity": 1 }), "INVALID_TRANSITION"),
            (PROPOSE, json!({ "lineId": "lin_00000000deadbeef", "substituteSku": "LAMP" }), "UNKNOWN_ORDER_LINE"),
            (PROPOSE, json!({ "lineId": rare, "substituteSku": "LAMP", "quantity": -1 }), "BAD_QUANTITY"),
        ] {
            let answer = app.ok(query, json!({ "i": input })).await;
            let payload = answer.as_object().unwrap().values().next().unwrap();
            assert_eq!(payload["userErrors"][0]["code"], code, "{input} → {answer}");
        }
        let unknown = app.ok(RESPOND, json!({ "id": "sub_00000000deadbeef", "a": true })).await;
        assert_eq!(unknown["respondToSubstitution"]["userErrors"][0]["code"], "UNKNOWN_SUBSTITUTION");
        let unchanged = order(&app, &id).await;
        assert_eq!(unchanged["lines"], done["lines"]);
        assert_eq!(unchanged["substitutions"], done["substitutions"]);
    }
}

#[tokio::test]
async fn a_proposal_whose_units_arrived_meanwhile_cannot_be_accepted() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let id = place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), "arrived", true).await;
        let rare = line(&order(&app, &id).await, "RARE")["id"].clone();
        let proposed = app.ok(PROPOSE, json!({ "i": { "lineId": rare, "substituteSku": "LAMP" } })).await;
        let proposal = proposed["proposeSubstitution"]["substitution"]["id"].clone();
        app.ok(
            r#"mutation { receiveStock(input: {warehouseCode: "NYC", sku: "RARE", quantity: 1}) { userErrors { message } } }"#,
            json!({}),
        )
        .await;
        let before = order(&app, &id).await;
        assert_eq!(line(&before, "RARE")["allocated"], 1, "the rare lamp itself arrived");
        let accepted = app.ok(RESPOND, json!({ "id": proposal, "a": true })).await;
        assert_eq!(
            accepted["respondToSubstitution"]["userErrors"][0],
            json!({ "code": "INVALID_TRANSITION",
                    "message": "line 1 (RARE) has only 0 waiting units left to substitute, not 1" })
        );
        let after = order(&app, &id).await;
        assert_eq!(after, before, "nothing changed, the proposal is still open");
        assert_eq!(after["substitutions"][0]["status"], "PROPOSED");
    }
}

const SHORT_PICK: &str = "mutation($i: ReportShortPickInput!) { reportShortPick(input: $i) { resourced { warehouseCode quantity } backordered userErrors { code message } } }";

#[tokio::test]
async fn short_picks_move_to_another_warehouse_or_wait() {
    for lane in lanes() {
        let app = seeded(lane).await;
        // Two tents from NYC; one turns out damaged and Chicago has five.
        let tents = place(&app, json!([{ "sku": "TENT", "quantity": 2 }]), "short-a", false).await;
        let package = order(&app, &tents).await["shipments"][0]["id"].clone();
        let picked = app
            .ok(
                SHORT_PICK,
                json!({ "i": { "shipmentId": package, "sku": "TENT", "quantity": 1, "reason": "damaged" } }),
            )
            .await;
        assert_eq!(
            picked["reportShortPick"],
            json!({ "resourced": [{ "warehouseCode": "CHI", "quantity": 1 }], "backordered": 0, "userErrors": [] })
        );
        let moved = order(&app, &tents).await;
        let packages: Vec<(&str, &Value)> = moved["shipments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["warehouse"]["code"].as_str().unwrap(), &s["lines"][0]["quantity"]))
            .collect();
        assert_eq!(packages, [("NYC", &json!(1)), ("CHI", &json!(1))]);
        assert_eq!(count(&moved, "SHORT_PICK_REPORTED"), 1);
        assert_balanced(&moved);
        assert_eq!(
            levels(&app, "TENT").await["locations"],
            json!([
                { "warehouse": { "code": "CHI" }, "onHand": 5, "reserved": 1 },
                { "warehouse": { "code": "NYC" }, "onHand": 1, "reserved": 1 },
            ]),
            "the damaged tent left NYC's on-hand"
        );

        // Stoves: Chicago's three are the only ones; two are missing.
        app.ok(
            "mutation { setStockLevels(input: [{warehouseCode: \"RNO\", sku: \"STOVE\", onHand: 0}]) { userErrors { message } } }",
            json!({}),
        )
        .await;
        let stoves = place(&app, json!([{ "sku": "STOVE", "quantity": 3 }]), "short-b", false).await;
        let package = order(&app, &stoves).await["shipments"][0]["id"].clone();
        let picked = app
            .ok(
                SHORT_PICK,
                json!({ "i": { "shipmentId": package, "sku": "STOVE", "quantity": 2, "reason": "missing" } }),
            )
            .await;
        assert_eq!(picked["reportShortPick"], json!({ "resourced": [], "backordered": 2, "userErrors": [] }));
        let waiting = order(&app, &stoves).await;
        assert_eq!(waiting["status"], "BACKORDERED");
        assert_eq!(waiting["backorders"][0]["status"], "CONFIRMED", "the shopper bought them in stock");
        assert_eq!(line(&waiting, "STOVE")["backordered"], 2);
        assert_balanced(&waiting);

        for (input, code) in [
            (json!({ "shipmentId": package, "sku": "STOVE", "quantity": 2, "reason": "x" }), "INVALID_INPUT"),
            (json!({ "shipmentId": package, "sku": "LAMP", "quantity": 1, "reason": "x" }), "INVALID_INPUT"),
            (json!({ "shipmentId": package, "sku": "STOVE", "quantity": 0, "reason": "x" }), "BAD_QUANTITY"),
            (json!({ "shipmentId": package, "sku": "STOVE", "quantity": 1, "reason": "" }), "INVALID_INPUT"),
            (
                json!({ "shipmentId": "shp_00000000deadbeef", "sku": "STOVE", "quantity": 1, "reason": "x" }),
                "UNKNOWN_SHIPMENT",
            ),
        ] {
            let answer = app.ok(SHORT_PICK, json!({ "i": input })).await;
            assert_eq!(answer["reportShortPick"]["userErrors"][0]["code"], code, "{input} → {answer}");
        }
        let stoves_now = levels(&app, "STOVE").await;
        assert_eq!(order(&app, &stoves).await["lines"], waiting["lines"], "refused short picks change nothing");
        ship(&app, &package).await;
        let shipped = order(&app, &stoves).await;
        let late = app
            .ok(SHORT_PICK, json!({ "i": { "shipmentId": package, "sku": "STOVE", "quantity": 1, "reason": "x" } }))
            .await;
        assert_eq!(late["reportShortPick"]["userErrors"][0]["code"], "INVALID_TRANSITION");
        assert_eq!(order(&app, &stoves).await, shipped, "a refused short pick changes nothing");
        assert_eq!(line(&shipped, "STOVE")["shipped"], 1);
        let chi_before = &stoves_now["locations"][0];
        let chi_after = &levels(&app, "STOVE").await["locations"][0];
        assert_eq!(
            chi_after["onHand"].as_i64().unwrap(),
            chi_before["onHand"].as_i64().unwrap() - 1,
            "only shipping took the stove"
        );
    }
}

#[tokio::test]
async fn a_short_pick_holds_a_ship_complete_order_until_the_units_arrive() {
    for lane in lanes() {
        let app = seeded(lane).await;
        app.ok(
            r#"mutation { setStockLevels(input: [{warehouseCode: "RNO", sku: "STOVE", onHand: 0}, {warehouseCode: "CHI", sku: "STOVE", onHand: 1}]) { userErrors { message } } }"#,
            json!({}),
        )
        .await;
        let input = json!({ "lines": [{ "sku": "TENT", "quantity": 1 }, { "sku": "STOVE", "quantity": 1 }],
                            "destination": { "latitude": 40.71, "longitude": -74.0 }, "customerReference": "one-box",
                            "idempotencyKey": "one-box", "policy": "SHIP_COMPLETE", "backorderConsent": false });
        let id = app.ok(PLACE, json!({ "i": input })).await["placeOrder"]["order"]["id"].clone();
        let placed = order(&app, &id).await;
        assert_eq!(placed["shipments"][0]["status"], "RELEASED");
        let package = placed["shipments"][0]["id"].clone();

        let picked = app
            .ok(
                SHORT_PICK,
                json!({ "i": { "shipmentId": package, "sku": "STOVE", "quantity": 1, "reason": "dented" } }),
            )
            .await;
        assert_eq!(picked["reportShortPick"]["backordered"], 1);
        let held = order(&app, &id).await;
        assert_eq!(held["status"], "BACKORDERED");
        assert_eq!(held["shipments"][0]["status"], "PENDING", "one delivery was asked for: the tent waits");
        assert_eq!(held["shipments"][0]["lines"], json!([{ "sku": "TENT", "quantity": 1 }]));

        app.ok(
            r#"mutation { receiveStock(input: {warehouseCode: "CHI", sku: "STOVE", quantity: 2}) { userErrors { message } } }"#,
            json!({}),
        )
        .await;
        let released = order(&app, &id).await;
        assert_eq!(released["status"], "AWAITING_SHIPMENT");
        assert_eq!(released["shipments"].as_array().unwrap().len(), 1, "the stove joins the tent's box: {released}");
        assert_eq!(released["shipments"][0]["status"], "RELEASED");
        assert_balanced(&released);
    }
}

fn worker(policy: FulfillmentPolicy) -> api::state::GatewaySettings {
    api::state::GatewaySettings {
        policy: policy.validate().expect("a valid policy"),
        maintenance_interval: Duration::from_millis(40),
        ..Default::default()
    }
}

/// Polls an order until `done` holds (the worker runs on its own clock),
/// then reads it once more: one read of an order is several queries, and the
/// one that saw the worker's change may have followed one that did not.
async fn eventually(app: &TestApp, id: &Value, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if done(&order(app, id).await) {
            return order(app, id).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("order {id} never got there: {}", order(app, id).await);
}

const RECEIPT: &str = "mutation($d: Date!) { recordInboundReceipt(input: {warehouseCode: \"CHI\", sku: \"RARE\", quantity: 4, expectedOn: $d}) { userErrors { message } } }";

#[tokio::test]
async fn an_overdue_backorder_is_flagged_and_a_slipped_one_compensated_once_across_replicas() {
    for lane in lanes() {
        let policy = FulfillmentPolicy {
            max_backorder_ms: Some(60_000),
            delay_compensation: Some(DelayCompensation { threshold_days: 3, percent: "10".parse().unwrap() }),
            ..Default::default()
        };
        let clock = ManualClock::now();
        let app = seeded_timed(lane, worker(policy), clock.clone()).await;
        // A second gateway on the same database runs the same worker.
        let replica = spawn_replica_with(&app, worker(policy)).await;
        let in_three = (chrono::Utc::now().date_naive() + chrono::Duration::days(3)).to_string();
        app.ok(RECEIPT, json!({ "d": in_three })).await;
        // Four rare lamps arrive at Chicago in three days (two more to New
        // York): promised in five. Then a priority account takes them.
        let patient = place(&app, json!([{ "sku": "RARE", "quantity": 4 }]), "patient", true).await;
        let promised = order(&app, &patient).await["backorders"][0]["estimatedAvailableDate"].clone();
        let in_five = (chrono::Utc::now().date_naive() + chrono::Duration::days(5)).to_string();
        assert_eq!(promised, json!(in_five));
        let vip = place_with(&replica, json!([{ "sku": "RARE", "quantity": 4 }]), "vip", true, 10).await;

        // Slipped to the 14-day lead time: 9 days past the promise, more
        // than the 3-day threshold: 10% of 4 × 5.00.
        let credited = eventually(&app, &patient, |o| !o["compensations"].as_array().unwrap().is_empty()).await;
        assert_eq!(credited["compensations"][0]["amount"], "2.00");
        assert_eq!(credited["compensations"][0]["automatic"], true);
        assert_eq!(credited["totals"]["total"], "18.00", "20.00 of lamps less the credit");
        assert_eq!(count(&credited, "BACKORDER_OVERDUE"), 0, "a minute has not passed yet");

        clock.advance(Duration::from_secs(120));
        let overdue = eventually(&app, &patient, |o| count(o, "BACKORDER_OVERDUE") > 0).await;
        assert_eq!(overdue["backorders"][0]["status"], "CONFIRMED", "flagged, not cancelled");
        eventually(&app, &vip, |o| count(o, "BACKORDER_OVERDUE") > 0).await;
        // Several more passes of both workers change nothing.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let settled = order(&app, &patient).await;
        assert_eq!(settled["compensations"].as_array().unwrap().len(), 1, "{settled}");
        assert_eq!(count(&settled, "ORDER_COMPENSATED"), 1);
        assert_eq!(count(&settled, "BACKORDER_OVERDUE"), 1);
        let vip = order(&app, &vip).await;
        assert_eq!(vip["compensations"], json!([]), "its estimate never slipped");
        assert_eq!(count(&vip, "BACKORDER_OVERDUE"), 1);
        drop(replica);
    }
}

#[tokio::test]
async fn unconfirmed_backorders_expire_and_overdue_ones_are_cancelled_when_the_policy_says_so() {
    for lane in lanes() {
        // Both limits pass at once: an unconfirmed backorder expires (and is
        // not also reported overdue), a confirmed one is overdue and cancelled.
        let policy = FulfillmentPolicy {
            unconfirmed_expiry_ms: Some(60_000),
            max_backorder_ms: Some(60_000),
            cancel_overdue: true,
            ..Default::default()
        };
        let clock = ManualClock::now();
        let app = seeded_timed(lane, worker(policy), clock.clone()).await;
        let unconfirmed = place(&app, json!([{ "sku": "RARE", "quantity": 2 }]), "silent", false).await;
        let confirmed = place(&app, json!([{ "sku": "RARE", "quantity": 3 }]), "patient", true).await;
        // Worker passes before the limits change nothing.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(order(&app, &unconfirmed).await["backorders"][0]["status"], "AWAITING_CONFIRMATION");
        clock.advance(Duration::from_secs(61));

        let expired = eventually(&app, &unconfirmed, |o| o["backorders"][0]["status"] == "EXPIRED").await;
        assert_eq!(expired["status"], "CANCELLED");
        assert_eq!(count(&expired, "BACKORDER_EXPIRED"), 1);
        assert_eq!(count(&expired, "BACKORDER_OVERDUE"), 0);
        assert_eq!(line(&expired, "RARE")["cancelled"], 2);
        assert_balanced(&expired);
        let late = app
            .ok(
                "mutation($id: ID!) { confirmBackorder(id: $id) { userErrors { code message } } }",
                json!({ "id": expired["backorders"][0]["id"] }),
            )
            .await;
        assert_eq!(
            late["confirmBackorder"]["userErrors"][0],
            json!({ "code": "INVALID_TRANSITION", "message": "a backorder that is expired cannot be confirmed" })
        );

        let cancelled = eventually(&app, &confirmed, |o| o["backorders"][0]["status"] == "CANCELLED").await;
        assert_eq!(count(&cancelled, "BACKORDER_OVERDUE"), 1);
        let reason = cancelled["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "BACKORDER_CANCELLED")
            .map(|e| e["payload"]["reason"].clone());
        assert_eq!(reason, Some(json!("overdue")));
        assert_eq!(line(&cancelled, "RARE")["cancelled"], 3);
        assert_balanced(&cancelled);
    }
}

#[tokio::test]
async fn a_pass_expires_unconfirmed_backorders_rather_than_reporting_them_overdue() {
    for lane in lanes() {
        let clock = ManualClock::now();
        let app = seeded_timed(lane, Default::default(), clock.clone()).await;
        let first = place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), "late-a", false).await;
        let second = place(&app, json!([{ "sku": "RARE", "quantity": 1 }]), "late-b", false).await;
        let policy = FulfillmentPolicy {
            unconfirmed_expiry_ms: Some(60_000),
            max_backorder_ms: Some(60_000),
            ..Default::default()
        };
        // What the passes over backorders did (dating the queues for the day
        // is the worker's too, but not what this is about).
        let pass =
            || async { MaintenanceReport { queues_dated: 0, ..app.store.run_maintenance(&policy, 1).await.unwrap() } };
        assert!(pass().await.is_empty(), "nothing is due yet");
        clock.advance(Duration::from_secs(61));
        // One row per check and pass: the second backorder is past both
        // limits while the first expires, and must wait for its own expiry.
        let expired_one = MaintenanceReport { expired: 1, more: true, ..Default::default() };
        assert_eq!(pass().await, expired_one);
        assert_eq!(pass().await, expired_one);
        assert!(pass().await.is_empty());
        for id in [&first, &second] {
            let done = order(&app, id).await;
            assert_eq!((count(&done, "BACKORDER_EXPIRED"), count(&done, "BACKORDER_OVERDUE")), (1, 0), "{done}");
        }
    }
}

const POLICY: &str = "{ fulfillmentPolicy { partialShipmentCharge chargePerExtraPackage maxBackorderSeconds cancelOverdue confirmationWindowSeconds delayCompensation { thresholdDays percent } } }";

#[tokio::test]
async fn the_partial_shipment_charge_shows_in_quotes_and_on_orders() {
    for lane in lanes() {
        let absorbing = seeded(lane).await;
        assert_eq!(
            absorbing.ok(POLICY, json!({})).await["fulfillmentPolicy"],
            json!({ "partialShipmentCharge": "ABSORB", "chargePerExtraPackage": "0.00", "maxBackorderSeconds": null,
                    "cancelOverdue": false, "confirmationWindowSeconds": null, "delayCompensation": null })
        );
        drop(absorbing);

        let policy = FulfillmentPolicy {
            partial_shipment_charge: PartialShipmentCharge::PerExtraPackage(Money::new("4.95".parse().unwrap())),
            max_backorder_ms: Some(30 * 86_400_000),
            delay_compensation: Some(DelayCompensation { threshold_days: 3, percent: "10".parse().unwrap() }),
            ..Default::default()
        };
        let app = seeded_with(lane, worker(policy)).await;
        assert_eq!(
            app.ok(POLICY, json!({})).await["fulfillmentPolicy"],
            json!({ "partialShipmentCharge": "PER_EXTRA_PACKAGE", "chargePerExtraPackage": "4.95",
                    "maxBackorderSeconds": 2_592_000, "cancelOverdue": false, "confirmationWindowSeconds": null,
                    "delayCompensation": { "thresholdDays": 3, "percent": "10" } })
        );
        // Tent, stove and lamp: no warehouse has all three, so two packages.
        let lines = json!([{ "sku": "TENT", "quantity": 1 }, { "sku": "STOVE", "quantity": 1 }, { "sku": "LAMP", "quantity": 1 }]);
        let quote = app
            .ok(
                "query($l: [OrderLineInput!]!) { quoteFulfillment(input: {lines: $l, destination: {latitude: 40.71, longitude: -74.0}}) { shipmentCount partialShipmentCharge policyOptions { policy shipmentCount partialShipmentCharge } } }",
                json!({ "l": lines }),
            )
            .await;
        assert_eq!(quote["quoteFulfillment"]["shipmentCount"], 2);
        assert_eq!(quote["quoteFulfillment"]["partialShipmentCharge"], "4.95");
        for option in quote["quoteFulfillment"]["policyOptions"].as_array().unwrap() {
            assert_eq!(option["partialShipmentCharge"], "4.95", "{option}");
        }
        let id = place(&app, lines, "charged", false).await;
        let placed = order(&app, &id).await;
        let totals = &placed["totals"];
        assert_eq!(totals["partialShipmentCharge"], "4.95");
        let sum: rust_decimal::Decimal = ["merchandise", "shipping", "partialShipmentCharge"]
            .iter()
            .map(|k| totals[*k].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap())
            .sum();
        assert_eq!(totals["total"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap(), sum);
    }
}
