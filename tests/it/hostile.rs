//! What a hostile or careless client sends: every input field at and past
//! its range and length, stored values out of range, corrupt rows, slow
//! and oversized requests. Each refused call must answer a typed error,
//! leave every table as it was (a digest of every row before and after),
//! and leave the server answering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::support::{Lane, TestApp, cache_for, lanes, seeded, spawn_limited, test_limits};

const PLACE: &str = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id lines { id } shipments { id } backorders { id } } userErrors { code message field } } }";

fn order_input(lines: Value, key: &str) -> Value {
    json!({ "lines": lines, "destination": { "latitude": 40.71, "longitude": -74.0, "countryCode": "US", "postalCode": "10001" },
            "customerReference": key, "idempotencyKey": key, "backorderConsent": true })
}

/// Ids of one placed order: its own, its first line's, its first package's
/// and its first backorder's.
struct Placed {
    order: String,
    line: String,
    shipment: String,
    backorder: String,
}

async fn place(app: &TestApp) -> Placed {
    let data = app.ok(PLACE, json!({ "i": order_input(json!([{ "sku": "TENT", "quantity": 9 }]), "hostile-1") })).await;
    let order = &data["placeOrder"]["order"];
    assert_eq!(data["placeOrder"]["userErrors"], json!([]), "{data}");
    let id = |v: &Value| v.as_str().expect("an id").to_owned();
    Placed {
        order: id(&order["id"]),
        line: id(&order["lines"][0]["id"]),
        shipment: id(&order["shipments"][0]["id"]),
        backorder: id(&order["backorders"][0]["id"]),
    }
}

/// The error code a call answered: a payload's first user error, or a
/// GraphQL error's `extensions.code`.
fn code_of(body: &Value) -> (String, Value) {
    if let Some(error) = body["errors"].get(0) {
        return (error["extensions"]["code"].as_str().unwrap_or("").to_owned(), error["path"].clone());
    }
    let payload = body["data"].as_object().and_then(|d| d.values().next()).cloned().unwrap_or(Value::Null);
    let error = &payload["userErrors"][0];
    (error["code"].as_str().unwrap_or("none").to_owned(), error["field"].clone())
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// Every field of every operation, at or past the edge of its range.
fn cases(p: &Placed) -> Vec<(&'static str, &'static str, Value, &'static str)> {
    const PRODUCTS: &str = "mutation($p: [ProductInput!]!) { upsertProducts(input: $p) { userErrors { code field } } }";
    const WAREHOUSE: &str =
        "mutation($i: UpsertWarehouseInput!) { upsertWarehouse(input: $i) { userErrors { code field } } }";
    const LEVELS: &str =
        "mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { userErrors { code field } } }";
    const RECEIVE: &str = "mutation($i: ReceiveStockInput!) { receiveStock(input: $i) { userErrors { code field } } }";
    const ADJUST: &str = "mutation($i: AdjustStockInput!) { adjustStock(input: $i) { userErrors { code field } } }";
    const RECEIPT: &str =
        "mutation($i: InboundReceiptInput!) { recordInboundReceipt(input: $i) { userErrors { code field } } }";
    const PLACE_BAD: &str = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code field } } }";
    const CREDIT: &str =
        "mutation($i: IssueCompensationInput!) { issueCompensation(input: $i) { userErrors { code field } } }";
    const CANCEL_LINE: &str =
        "mutation($i: CancelOrderLineInput!) { cancelOrderLine(input: $i) { userErrors { code field } } }";
    const CANCEL: &str =
        "mutation($id: ID!, $r: String) { cancelOrder(id: $id, reason: $r) { userErrors { code field } } }";
    const SUBSTITUTE: &str =
        "mutation($i: SubstituteLineInput!) { substituteLine(input: $i) { userErrors { code field } } }";
    const PROPOSE: &str =
        "mutation($i: SubstituteLineInput!) { proposeSubstitution(input: $i) { userErrors { code field } } }";
    const SHORT: &str =
        "mutation($i: ReportShortPickInput!) { reportShortPick(input: $i) { userErrors { code field } } }";
    const SHIP: &str = "mutation($id: ID!, $t: String!) { markShipmentShipped(id: $id, trackingNumber: $t) { userErrors { code field } } }";
    const CONFIRM: &str = "mutation($id: ID!) { confirmBackorder(id: $id) { userErrors { code field } } }";
    const RESPOND: &str =
        "mutation($id: ID!) { respondToSubstitution(id: $id, accept: true) { userErrors { code field } } }";
    const QUOTE: &str = "query($i: QuoteInput!) { quoteFulfillment(input: $i) { shipmentCount } }";
    const SUBSTITUTES: &str = "query($q: Int!, $c: String) { substitutes(sku: \"TENT\", destination: {latitude: 40.7, longitude: -74.0, countryCode: $c}, quantity: $q) { product { sku } } }";
    const SEARCH: &str = "query($s: String) { products(search: $s) { edges { node { sku } } } }";
    const ORDERS: &str = "query($f: Int) { orders(first: $f) { edges { node { id } } } }";
    const AVAILABILITY: &str = "query($s: [String!]!) { availability(skus: $s) { sku } }";
    let huge = "99999999999999999999999999";
    let product = |field: &str, value: Value| {
        let mut p = json!({ "sku": "NEW", "name": "New", "unitPrice": "1.00" });
        p[field] = value;
        json!({ "p": [p] })
    };
    let warehouse = |field: &str, value: Value| {
        let mut w = json!({ "code": "NEW", "name": "New", "latitude": 40.0, "longitude": -75.0, "baseCost": "1", "costPerKm": "0.001" });
        w[field] = value;
        json!({ "i": w })
    };
    let level = |field: &str, value: Value| {
        let mut l = json!({ "warehouseCode": "NYC", "sku": "LAMP", "onHand": 3 });
        l[field] = value;
        json!({ "l": [l] })
    };
    let stock = |mut i: Value, field: &str, value: Value| {
        i["warehouseCode"] = json!("NYC");
        i["sku"] = json!("LAMP");
        i[field] = value;
        json!({ "i": i })
    };
    let receive = |field: &str, value: Value| stock(json!({ "quantity": 1 }), field, value);
    let adjust = |field: &str, value: Value| stock(json!({ "delta": 1, "reason": "recount" }), field, value);
    let receipt = |field: &str, value: Value| stock(json!({ "quantity": 1, "expectedOn": "2099-01-01" }), field, value);
    let order = |edit: &dyn Fn(&mut Value)| {
        let mut i = order_input(json!([{ "sku": "LAMP", "quantity": 1 }]), "hostile-2");
        edit(&mut i);
        json!({ "i": i })
    };
    let credit = |amount: Value, percentage: Value, reason: &str| json!({ "i": { "orderId": p.order, "amount": amount, "percentage": percentage, "reason": reason } });
    let cancel_line =
        |quantity: Value, reason: &str| json!({ "i": { "lineId": p.line, "quantity": quantity, "reason": reason } });
    let substitute = |quantity: Value, note: &str| json!({ "i": { "lineId": p.line, "substituteSku": "STOVE", "quantity": quantity, "note": note } });
    let short = |quantity: Value, reason: &str| json!({ "i": { "shipmentId": p.shipment, "sku": "TENT", "quantity": quantity, "reason": reason } });
    let quote = |quantity: Value, max: Value| json!({ "i": { "lines": [{ "sku": "TENT", "quantity": quantity }], "destination": { "latitude": 40.7, "longitude": -74.0 }, "maxShipments": max } });
    let many_lines: Vec<Value> = (0..101).map(|i| json!({ "sku": format!("S{i}"), "quantity": 1 })).collect();
    let many_skus: Vec<String> = (0..501).map(|i| format!("S{i}")).collect();
    vec![
        ("product price past the range", PRODUCTS, product("unitPrice", json!(huge)), "INVALID_INPUT"),
        ("product price with 7 places", PRODUCTS, product("unitPrice", json!("1.0000001")), "INVALID_INPUT"),
        ("product lead time past the range", PRODUCTS, product("leadTimeDays", json!(100_000_000)), "INVALID_INPUT"),
        ("product lead time negative", PRODUCTS, product("leadTimeDays", json!(i32::MIN)), "INVALID_INPUT"),
        ("product name too long", PRODUCTS, product("name", json!(long(10_000))), "INVALID_INPUT"),
        ("product sku too long", PRODUCTS, product("sku", json!(long(65))), "INVALID_INPUT"),
        ("product substitutes too many", PRODUCTS, product("substitutes", json!(vec!["TENT"; 11])), "INVALID_INPUT"),
        ("warehouse base cost past the range", WAREHOUSE, warehouse("baseCost", json!(huge)), "INVALID_INPUT"),
        ("warehouse cost per km past the range", WAREHOUSE, warehouse("costPerKm", json!(huge)), "INVALID_INPUT"),
        ("warehouse priority past the range", WAREHOUSE, warehouse("priority", json!(i32::MAX)), "INVALID_INPUT"),
        (
            "warehouse handling days past the range",
            WAREHOUSE,
            warehouse("handlingDays", json!(i32::MAX)),
            "INVALID_INPUT",
        ),
        ("warehouse name too long", WAREHOUSE, warehouse("name", json!(long(10_000))), "INVALID_INPUT"),
        ("warehouse partner too long", WAREHOUSE, warehouse("partnerCode", json!(long(65))), "INVALID_INPUT"),
        ("warehouse latitude off the globe", WAREHOUSE, warehouse("latitude", json!(1e300)), "BAD_COORDINATES"),
        ("level on hand past the range", LEVELS, level("onHand", json!(i32::MAX)), "BAD_QUANTITY"),
        ("level on hand negative", LEVELS, level("onHand", json!(-1)), "BAD_QUANTITY"),
        ("level safety stock past the range", LEVELS, level("safetyStock", json!(i32::MAX)), "BAD_QUANTITY"),
        ("level sequence negative", LEVELS, level("sequence", json!(-1)), "INVALID_INPUT"),
        ("receipt of more than a level holds", RECEIVE, receive("quantity", json!(i32::MAX)), "BAD_QUANTITY"),
        ("receipt onto a level past the range", RECEIVE, receive("quantity", json!(1_000_000_000)), "BAD_QUANTITY"),
        ("adjustment past the range", ADJUST, adjust("delta", json!(i32::MIN)), "BAD_QUANTITY"),
        ("adjustment onto a level past the range", ADJUST, adjust("delta", json!(1_000_000_000)), "BAD_QUANTITY"),
        ("adjustment below nothing on hand", ADJUST, adjust("delta", json!(-1_000_000)), "BAD_QUANTITY"),
        ("adjustment reason too long", ADJUST, adjust("reason", json!(long(501))), "INVALID_INPUT"),
        ("expected receipt past the range", RECEIPT, receipt("quantity", json!(i32::MAX)), "BAD_QUANTITY"),
        ("expected receipt in year 9999", RECEIPT, receipt("expectedOn", json!("9999-12-31")), "INVALID_INPUT"),
        ("expected receipt in the past", RECEIPT, receipt("expectedOn", json!("2000-01-01")), "INVALID_INPUT"),
        (
            "order line past the range",
            PLACE_BAD,
            order(&|i| i["lines"][0]["quantity"] = json!(i32::MAX)),
            "BAD_QUANTITY",
        ),
        (
            "order line price past the range",
            PLACE_BAD,
            order(&|i| i["lines"][0]["unitPrice"] = json!(huge)),
            "INVALID_INPUT",
        ),
        (
            "order worth more than an order may be",
            PLACE_BAD,
            order(&|i| i["lines"] = json!([{ "sku": "LAMP", "quantity": 1_001, "unitPrice": "1000000" }])),
            "BAD_QUANTITY",
        ),
        ("order with 101 lines", PLACE_BAD, order(&|i| i["lines"] = json!(many_lines)), "INVALID_INPUT"),
        ("order priority past the range", PLACE_BAD, order(&|i| i["priority"] = json!(i32::MIN)), "INVALID_INPUT"),
        (
            "order country not ISO",
            PLACE_BAD,
            order(&|i| i["destination"]["countryCode"] = json!("USA")),
            "INVALID_INPUT",
        ),
        (
            "order postal code too long",
            PLACE_BAD,
            order(&|i| i["destination"]["postalCode"] = json!(long(17))),
            "INVALID_INPUT",
        ),
        ("order reference too long", PLACE_BAD, order(&|i| i["customerReference"] = json!(long(201))), "INVALID_INPUT"),
        ("order key too long", PLACE_BAD, order(&|i| i["idempotencyKey"] = json!(long(201))), "INVALID_INPUT"),
        ("order plan token too long", PLACE_BAD, order(&|i| i["planToken"] = json!(long(1_001))), "INVALID_INPUT"),
        ("order at most 0 packages", PLACE_BAD, order(&|i| i["maxShipments"] = json!(0)), "INVALID_INPUT"),
        (
            "order off the globe",
            PLACE_BAD,
            order(&|i| i["destination"]["longitude"] = json!(-1e300)),
            "BAD_COORDINATES",
        ),
        ("credit past the range", CREDIT, credit(json!(huge), Value::Null, "goodwill"), "INVALID_INPUT"),
        ("credit percentage past 100", CREDIT, credit(Value::Null, json!(huge), "goodwill"), "INVALID_INPUT"),
        (
            "credit percentage with 7 places",
            CREDIT,
            credit(Value::Null, json!("1.0000001"), "goodwill"),
            "INVALID_INPUT",
        ),
        ("credit reason too long", CREDIT, credit(json!("1"), Value::Null, &long(501)), "INVALID_INPUT"),
        ("line cancellation past the range", CANCEL_LINE, cancel_line(json!(i32::MAX), "x"), "BAD_QUANTITY"),
        ("line cancellation reason too long", CANCEL_LINE, cancel_line(json!(1), &long(501)), "INVALID_INPUT"),
        ("order cancellation reason too long", CANCEL, json!({ "id": p.order, "r": long(501) }), "INVALID_INPUT"),
        ("substitution past the range", SUBSTITUTE, substitute(json!(i32::MAX), "x"), "BAD_QUANTITY"),
        ("proposal note too long", PROPOSE, substitute(json!(1), &long(501)), "INVALID_INPUT"),
        ("short pick past the range", SHORT, short(json!(i32::MAX), "lost"), "BAD_QUANTITY"),
        ("short pick reason too long", SHORT, short(json!(1), &long(501)), "INVALID_INPUT"),
        ("tracking number too long", SHIP, json!({ "id": p.shipment, "t": long(101) }), "INVALID_INPUT"),
        ("backorder id past i64", CONFIRM, json!({ "id": "99999999999999999999" }), "INVALID_INPUT"),
        ("backorder id of another kind", CONFIRM, json!({ "id": format!("{}x", p.backorder) }), "INVALID_INPUT"),
        ("substitution id negative", RESPOND, json!({ "id": "-1" }), "INVALID_INPUT"),
        ("quote line past the range", QUOTE, quote(json!(i32::MAX), Value::Null), "BAD_QUANTITY"),
        ("quote at most 0 packages", QUOTE, quote(json!(1), json!(i32::MIN)), "INVALID_INPUT"),
        ("substitutes past the range", SUBSTITUTES, json!({ "q": i32::MAX }), "BAD_QUANTITY"),
        ("substitutes to no country", SUBSTITUTES, json!({ "q": 1, "c": "ZZ" }), "INVALID_INPUT"),
        ("search too long", SEARCH, json!({ "s": long(101) }), "INVALID_INPUT"),
        ("page past the range", ORDERS, json!({ "f": i32::MAX }), "INVALID_INPUT"),
        ("availability of 501 skus", AVAILABILITY, json!({ "s": many_skus }), "INVALID_INPUT"),
    ]
}

#[tokio::test]
async fn every_field_past_its_range_gets_a_typed_error_and_changes_nothing() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let placed = place(&app).await;
        // The worker's daily pass dates the new products' queues once; done
        // here so that it cannot land between two digests.
        app.store.run_maintenance(&Default::default(), 200).await.expect("maintenance");
        let before = app.digest().await;
        for (name, query, variables, expected) in cases(&placed) {
            let body = app.graphql(query, variables).await;
            let (code, field) = code_of(&body);
            assert_eq!(code, expected, "[{lane:?}] {name}: {body}");
            let named = field.as_array().is_some_and(|f| !f.is_empty());
            assert!(named, "[{lane:?}] {name}: the error names its field: {body}");
            assert_eq!(app.digest().await, before, "[{lane:?}] {name} changed a table");
        }
        let alive = app.ok("{ warehouses { edges { node { code } } } }", json!({})).await;
        assert_eq!(alive["warehouses"]["edges"].as_array().map(Vec::len), Some(3));
    }
}

#[tokio::test]
async fn a_cancellation_reverses_credit_above_what_the_order_is_worth() {
    const CREDIT: &str =
        "mutation($i: IssueCompensationInput!) { issueCompensation(input: $i) { userErrors { code message } } }";
    const CANCEL: &str = "mutation($id: ID!) { cancelOrder(id: $id) { order { status totals { merchandise shipping compensation total } compensations { amount automatic } events { kind payload } } userErrors { code message } } }";
    for lane in lanes() {
        let app = seeded(lane).await;
        let placed = place(&app).await;
        let credited = app
            .ok(CREDIT, json!({ "i": { "orderId": placed.order, "percentage": "100", "reason": "goodwill" } }))
            .await;
        assert_eq!(credited["issueCompensation"]["userErrors"], json!([]), "{credited}");
        let cancelled = app.ok(CANCEL, json!({ "id": placed.order })).await["cancelOrder"]["order"].clone();
        let totals = &cancelled["totals"];
        assert_eq!(totals["merchandise"], "0.00", "[{lane:?}] {cancelled}");
        assert_eq!(totals["total"], "0.00", "[{lane:?}] the order owes nothing and is owed nothing: {cancelled}");
        let credits: Vec<&Value> = cancelled["compensations"].as_array().unwrap().iter().collect();
        assert_eq!(credits.len(), 2, "{cancelled}");
        assert_eq!(credits[1]["automatic"], true);
        let reversed: rust_decimal::Decimal = credits[1]["amount"].as_str().unwrap().parse().unwrap();
        let shipping: rust_decimal::Decimal = totals["shipping"].as_str().unwrap().parse().unwrap();
        let granted: rust_decimal::Decimal = credits[0]["amount"].as_str().unwrap().parse().unwrap();
        assert_eq!(granted + reversed, shipping, "what stays credited is what is still charged");
        let event = cancelled["events"].as_array().unwrap().iter().find(|e| e["kind"] == "COMPENSATION_REVERSED");
        assert_eq!(event.expect("a reversal event")["payload"]["amount"], (-reversed).to_string());
    }
}

#[tokio::test]
async fn stored_values_out_of_range_never_fail_a_read() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let placed = place(&app).await;
        // A hand-edited database: a lead time of millions of years and
        // estimates millions of years away, ahead and behind.
        let db = Database::connect(&app.database.url).await.unwrap();
        db.execute_unprepared("UPDATE products SET lead_time_days = 2000000000 WHERE sku = 'TENT'").await.unwrap();
        db.execute_unprepared(&format!(
            "UPDATE backorders SET estimated_available = 2000000000, promised_available = -100000000 WHERE id = {}",
            app.row_id(infra::secrets::IdKind::Backorder, &placed.backorder).await
        ))
        .await
        .unwrap();
        let read = app
            .ok(
                "{ backorders(sku: \"TENT\") { estimatedAvailableDate promisedAvailableDate } product(sku: \"TENT\") { leadTimeDays } }",
                json!({}),
            )
            .await;
        assert_eq!(read["backorders"][0]["estimatedAvailableDate"], "9999-12-31", "[{lane:?}] {read}");
        assert_eq!(read["backorders"][0]["promisedAvailableDate"], "0001-01-01", "[{lane:?}] {read}");
        let quote = app
            .ok(
                "{ quoteFulfillment(input: {lines: [{sku: \"TENT\", quantity: 50}], destination: {latitude: 40.7, longitude: -74.0}}) { backordered { estimatedAvailableDate } } }",
                json!({}),
            )
            .await;
        assert_eq!(quote["quoteFulfillment"]["backordered"][0]["estimatedAvailableDate"], "9999-12-31");
    }
}

#[tokio::test]
async fn corrupt_stored_data_answers_internal_with_the_request_id() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let db = Database::connect(&app.database.url).await.unwrap();
        db.execute_unprepared("UPDATE stock_levels SET on_hand = -5").await.unwrap();
        app.cache.invalidate_all().await;
        let response = app
            .client
            .post(app.graphql_url())
            .header("x-request-id", "probe-42")
            .json(&json!({ "query": "{ availability(skus: [\"TENT\"]) { totalAvailable } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "probe-42");
        let body: Value = response.json().await.unwrap();
        let error = &body["errors"][0];
        assert_eq!(error["message"], "internal error", "[{lane:?}] no internal text: {body}");
        assert_eq!(error["extensions"]["code"], "INTERNAL");
        assert_eq!(error["extensions"]["requestId"], "probe-42");
        // A request without an id of its own gets one, in the header and the error.
        let response = app
            .client
            .post(app.graphql_url())
            .header("x-request-id", "not a valid id")
            .json(&json!({ "query": "{ availability(skus: [\"TENT\"]) { totalAvailable } }" }))
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, "not a valid id");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str());
        let alive = app.ok("{ warehouses { edges { node { code } } } }", json!({})).await;
        assert_eq!(alive["warehouses"]["edges"].as_array().map(Vec::len), Some(3));
    }
}

/// Sends `bytes` on a fresh connection and returns what the server
/// answered, and how long it took, once it closes the connection.
fn stall(address: &str, bytes: &[u8]) -> (String, Duration) {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(bytes).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[tokio::test]
async fn silent_clients_are_cut_off_and_oversized_answers_refused() {
    let limits = api::server::HttpLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_response_bytes: 4_096,
        ..test_limits()
    };
    let app = spawn_limited(
        Lane::Sqlite,
        cache_for(Lane::Sqlite),
        Default::default(),
        Arc::new(infra::clock::SystemClock),
        limits,
    )
    .await;
    let address = app.address.clone();
    let (body, waited) = tokio::task::spawn_blocking(move || {
        stall(
            &address,
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
    })
    .await
    .unwrap();
    assert!(body.starts_with("HTTP/1.1 408"), "a body that stops arriving is answered 408: {body:?}");
    assert!(waited < Duration::from_secs(10), "and the connection is closed ({waited:?})");
    let address = app.address.clone();
    let (_, waited) =
        tokio::task::spawn_blocking(move || stall(&address, b"POST /graphql HTTP/1.1\r\nHost: x\r\n")).await.unwrap();
    assert!(waited < Duration::from_secs(10), "headers that stop arriving close the connection ({waited:?})");

    let aliases: String = (0..200).map(|i| format!("a{i}: warehouses {{ edges {{ node {{ code }} }} }} ")).collect();
    app.seed(&[("NYC", 40.7, -74.0, "5")], &[("TENT", "1.00")], &[("NYC", "TENT", 1)]).await;
    let big = app.graphql(&format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(big["errors"][0]["extensions"]["code"], "RESPONSE_TOO_LARGE", "{big}");
    assert_eq!(big["data"], Value::Null);
    let small = app.ok("{ warehouses { edges { node { code } } } }", json!({})).await;
    assert_eq!(small["warehouses"]["edges"][0]["node"]["code"], "NYC");
}

#[tokio::test]
async fn errors_quote_at_most_a_little_of_the_document() {
    let app = seeded(Lane::Sqlite).await;
    // 5,000 levels deep: the parser's error would quote all of it.
    let document = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
    let response = app.client.post(app.graphql_url()).json(&json!({ "query": document })).send().await.unwrap();
    let text = response.text().await.unwrap();
    assert!(text.len() < 2_000, "the answer does not echo the document ({} bytes): {}", text.len(), &text[..200]);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn fields_come_back_in_the_order_of_the_query() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let query = r#"{ a2: warehouse(code: "RNO") { code } a1: warehouse(code: "CHI") { code } a0: product(sku: "TENT") { sku } a3: availability(skus: ["LAMP"]) { sku } }"#;
        for _ in 0..2 {
            let text = app
                .client
                .post(app.graphql_url())
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap_or_else(|| panic!("{key} in {text}"));
            assert!(at("a2") < at("a1") && at("a1") < at("a0") && at("a0") < at("a3"), "[{lane:?}] {text}");
        }
    }
}

#[tokio::test]
async fn searches_are_weighed_by_their_lines_and_cut_at_the_time_budget() {
    let gateway = api::state::GatewaySettings { plan_time_budget: Duration::from_millis(200), ..Default::default() };
    let app = crate::support::spawn_configured(Lane::Sqlite, cache_for(Lane::Sqlite), gateway).await;
    // 80 warehouses that each hold a few units of 8 of 100 skus at random:
    // no few of them cover an order of every sku, and no search proves
    // its plan quickly (the adversarial network of BENCHMARKS.md).
    let warehouses: Vec<(String, f64, f64)> =
        (0..80).map(|i| (format!("W{i:02}"), 30.0 + f64::from(i % 10), -100.0 + f64::from(i / 10))).collect();
    let skus: Vec<String> = (0..100).map(|i| format!("S{i:03}")).collect();
    let mut levels = std::collections::BTreeMap::new();
    let mut x: u64 = 7;
    for (code, _, _) in &warehouses {
        for _ in 0..8 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            levels.insert((code.clone(), skus[((x >> 33) % 100) as usize].clone()), 1 + (x % 5) as i64);
        }
    }
    let stock: Vec<(String, String, i64)> = levels.into_iter().map(|((w, s), q)| (w, s, q)).collect();
    let w: Vec<(&str, f64, f64, &str)> = warehouses.iter().map(|(c, la, lo)| (c.as_str(), *la, *lo, "5")).collect();
    let p: Vec<(&str, &str)> = skus.iter().map(|s| (s.as_str(), "10")).collect();
    let l: Vec<(&str, &str, i64)> = stock.iter().map(|(w, s, q)| (w.as_str(), s.as_str(), *q)).collect();
    app.seed(&w, &p, &l).await;
    let lines: Vec<Value> = skus.iter().map(|s| json!({ "sku": s, "quantity": 3 })).collect();
    let input = json!({ "lines": lines, "destination": { "latitude": 40.7, "longitude": -74.0 } });
    const ONE: &str =
        "query($i: QuoteInput!) { quoteFulfillment(input: $i) { shipmentCount lowerBound optimal explanation } }";
    let one = app.ok(ONE, json!({ "i": input })).await["quoteFulfillment"].clone();
    assert_eq!(one["optimal"], false, "the deadline cut the search: {one}");
    assert!(one["lowerBound"].as_u64() <= one["shipmentCount"].as_u64(), "{one}");
    assert!(one["explanation"].as_str().is_some_and(|e| !e.is_empty()));
    // Two quotes of 100 lines, or five small ones, weigh more than a request may.
    const TWO: &str = "query($i: QuoteInput!) { a: quoteFulfillment(input: $i) { optimal } b: quoteFulfillment(input: $i) { optimal } }";
    let two = app.graphql(TWO, json!({ "i": input })).await;
    assert!(two["errors"][0]["message"].as_str().is_some_and(|m| m.contains("too complex")), "{two}");
    let small =
        json!({ "lines": [{ "sku": "S000", "quantity": 1 }], "destination": { "latitude": 40.7, "longitude": -74.0 } });
    let quotes = |n: usize| {
        let fields: String = (0..n).map(|i| format!("q{i}: quoteFulfillment(input: $i) {{ optimal }} ")).collect();
        format!("query($i: QuoteInput!) {{ {fields} }}")
    };
    assert!(app.graphql(&quotes(4), json!({ "i": small })).await.get("errors").is_none());
    assert!(
        app.graphql(&quotes(5), json!({ "i": small })).await["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too complex"))
    );
    // Substitutes of substitutes of substitutes weigh ten times more at each level.
    let nested = "{ products(first: 100) { edges { node { substitutes { substitutes { substitutes { sku } } } } } } }";
    let refused = app.graphql(nested, json!({})).await;
    assert!(refused["errors"][0]["message"].as_str().is_some_and(|m| m.contains("too complex")), "{refused}");
    let alive = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert!(alive.status().is_success());
}

/// Random and extreme values for each kind of input field.
mod extreme {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    pub(super) fn int() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(i64::from(i32::MIN)),
            Just(i64::from(i32::MAX)),
            Just(0),
            Just(-1),
            Just(1),
            Just(1_000_000),
            Just(1_000_000_001),
            Just(9_007_199_254_740_993),
            any::<i32>().prop_map(i64::from),
        ]
        .prop_map(|v| json!(v))
    }

    pub(super) fn decimal() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("99999999999999999999999999")),
            Just(json!("79228162514264337593543950335")),
            Just(json!("-79228162514264337593543950335")),
            Just(json!("0.0000000000000000000000000001")),
            Just(json!("1e28")),
            Just(json!("NaN")),
            Just(json!("")),
            Just(json!(1e300)),
            "[0-9]{1,28}(\\.[0-9]{1,28})?".prop_map(|s| json!(s)),
            "-?[0-9]{1,7}\\.[0-9]{1,6}".prop_map(|s| json!(s)),
        ]
    }

    pub(super) fn text() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("")),
            Just(json!(" ")),
            Just(json!("x".repeat(1 << 20))),
            Just(json!("é".repeat(201))),
            Just(json!("\u{0}\u{202e}")),
            "\\PC{0,300}".prop_map(|s| json!(s)),
            "[A-Z0-9]{1,8}".prop_map(|s| json!(s)),
        ]
    }

    pub(super) fn date() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("+262143-12-31")),
            Just(json!("0000-01-01")),
            Just(json!("9999-12-31")),
            Just(json!("2026-02-30")),
            Just(json!("1970-01-01")),
            (2020i32..2100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| json!(format!("{y}-{m:02}-{d:02}"))),
        ]
    }

    pub(super) fn float() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!(1e308)),
            Just(json!(-1e308)),
            Just(json!(-0.0)),
            (-200.0f64..200.0).prop_map(|f| json!(f))
        ]
    }
}

#[test]
fn random_and_extreme_values_through_every_mutation_never_answer_internal() {
    use async_graphql::{Request, Variables};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, placed) = runtime.block_on(async {
        let app = seeded(Lane::Sqlite).await;
        let placed = place(&app).await;
        (app, placed)
    });
    let schema =
        api::graphql::build_schema(api::state::AppState::new(app.store.clone(), app.cache.clone(), Default::default()));
    let order = order_input(json!([{ "sku": "LAMP", "quantity": 1, "unitPrice": "19.99" }]), "random");
    // (query, variables, the fields to vary: a JSON pointer and its kind)
    type Template = (&'static str, Value, &'static [(&'static str, char)]);
    let templates: Vec<Template> = vec![
        (
            "mutation($p: [ProductInput!]!) { upsertProducts(input: $p) { userErrors { code } } }",
            json!({ "p": [{ "sku": "R1", "name": "R", "unitPrice": "1", "leadTimeDays": 3, "substitutes": ["TENT"] }] }),
            &[
                ("/p/0/sku", 's'),
                ("/p/0/name", 's'),
                ("/p/0/unitPrice", 'd'),
                ("/p/0/leadTimeDays", 'i'),
                ("/p/0/substitutes/0", 's'),
            ],
        ),
        (
            "mutation($i: UpsertWarehouseInput!) { upsertWarehouse(input: $i) { userErrors { code } } }",
            json!({ "i": { "code": "R1", "name": "R", "partnerCode": "P", "latitude": 1.0, "longitude": 1.0, "priority": 1, "handlingDays": 1, "baseCost": "1", "costPerKm": "0.1" } }),
            &[
                ("/i/code", 's'),
                ("/i/name", 's'),
                ("/i/partnerCode", 's'),
                ("/i/latitude", 'f'),
                ("/i/longitude", 'f'),
                ("/i/priority", 'i'),
                ("/i/handlingDays", 'i'),
                ("/i/baseCost", 'd'),
                ("/i/costPerKm", 'd'),
            ],
        ),
        (
            "mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { userErrors { code } } }",
            json!({ "l": [{ "warehouseCode": "NYC", "sku": "LAMP", "onHand": 10, "safetyStock": 0, "sequence": 1 }] }),
            &[
                ("/l/0/warehouseCode", 's'),
                ("/l/0/sku", 's'),
                ("/l/0/onHand", 'i'),
                ("/l/0/safetyStock", 'i'),
                ("/l/0/sequence", 'i'),
            ],
        ),
        (
            "mutation($i: ReceiveStockInput!) { receiveStock(input: $i) { userErrors { code } } }",
            json!({ "i": { "warehouseCode": "NYC", "sku": "LAMP", "quantity": 1 } }),
            &[("/i/warehouseCode", 's'), ("/i/sku", 's'), ("/i/quantity", 'i')],
        ),
        (
            "mutation($i: AdjustStockInput!) { adjustStock(input: $i) { userErrors { code } } }",
            json!({ "i": { "warehouseCode": "NYC", "sku": "LAMP", "delta": 1, "reason": "r" } }),
            &[("/i/delta", 'i'), ("/i/reason", 's')],
        ),
        (
            "mutation($i: InboundReceiptInput!) { recordInboundReceipt(input: $i) { userErrors { code } } }",
            json!({ "i": { "warehouseCode": "NYC", "sku": "LAMP", "quantity": 1, "expectedOn": "2099-01-01" } }),
            &[("/i/quantity", 'i'), ("/i/expectedOn", 't')],
        ),
        (
            "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code } } }",
            json!({ "i": order }),
            &[
                ("/i/lines/0/sku", 's'),
                ("/i/lines/0/quantity", 'i'),
                ("/i/lines/0/unitPrice", 'd'),
                ("/i/destination/latitude", 'f'),
                ("/i/destination/countryCode", 's'),
                ("/i/destination/postalCode", 's'),
                ("/i/customerReference", 's'),
                ("/i/idempotencyKey", 's'),
                ("/i/planToken", 's'),
                ("/i/priority", 'i'),
                ("/i/maxShipments", 'i'),
            ],
        ),
        (
            "mutation($i: IssueCompensationInput!) { issueCompensation(input: $i) { userErrors { code } } }",
            json!({ "i": { "orderId": placed.order, "amount": "1", "reason": "r" } }),
            &[("/i/orderId", 's'), ("/i/amount", 'd'), ("/i/reason", 's')],
        ),
        (
            "mutation($i: IssueCompensationInput!) { issueCompensation(input: $i) { userErrors { code } } }",
            json!({ "i": { "orderId": placed.order, "percentage": "1", "reason": "r" } }),
            &[("/i/percentage", 'd')],
        ),
        (
            "mutation($i: CancelOrderLineInput!) { cancelOrderLine(input: $i) { userErrors { code } } }",
            json!({ "i": { "lineId": placed.line, "quantity": 1, "reason": "r" } }),
            &[("/i/lineId", 's'), ("/i/quantity", 'i'), ("/i/reason", 's')],
        ),
        (
            "mutation($id: ID!, $r: String) { cancelOrder(id: $id, reason: $r) { userErrors { code } } }",
            json!({ "id": placed.order, "r": "r" }),
            &[("/id", 's'), ("/r", 's')],
        ),
        (
            "mutation($i: SubstituteLineInput!) { proposeSubstitution(input: $i) { userErrors { code } } }",
            json!({ "i": { "lineId": placed.line, "substituteSku": "STOVE", "quantity": 1, "note": "n" } }),
            &[("/i/lineId", 's'), ("/i/substituteSku", 's'), ("/i/quantity", 'i'), ("/i/note", 's')],
        ),
        (
            "mutation($i: SubstituteLineInput!) { substituteLine(input: $i) { userErrors { code } } }",
            json!({ "i": { "lineId": placed.line, "substituteSku": "STOVE", "quantity": 1, "note": "n" } }),
            &[("/i/quantity", 'i'), ("/i/note", 's')],
        ),
        (
            "mutation($i: ReportShortPickInput!) { reportShortPick(input: $i) { userErrors { code } } }",
            json!({ "i": { "shipmentId": placed.shipment, "sku": "TENT", "quantity": 1, "reason": "r" } }),
            &[("/i/shipmentId", 's'), ("/i/sku", 's'), ("/i/quantity", 'i'), ("/i/reason", 's')],
        ),
        (
            "mutation($id: ID!, $t: String!) { markShipmentShipped(id: $id, trackingNumber: $t) { userErrors { code } } }",
            json!({ "id": placed.shipment, "t": "T1" }),
            &[("/id", 's'), ("/t", 's')],
        ),
        (
            "mutation($id: ID!) { confirmBackorder(id: $id) { userErrors { code } } }",
            json!({ "id": placed.backorder }),
            &[("/id", 's')],
        ),
        (
            "mutation($id: ID!) { cancelBackorder(id: $id) { userErrors { code } } }",
            json!({ "id": placed.backorder }),
            &[("/id", 's')],
        ),
        (
            "mutation($id: ID!) { respondToSubstitution(id: $id, accept: true) { userErrors { code } } }",
            json!({ "id": "sub_00000000deadbeef" }),
            &[("/id", 's')],
        ),
        (
            "query($i: QuoteInput!) { quoteFulfillment(input: $i) { shipmentCount } }",
            json!({ "i": { "lines": [{ "sku": "TENT", "quantity": 1 }], "destination": { "latitude": 40.7, "longitude": -74.0 }, "maxShipments": 2 } }),
            &[
                ("/i/lines/0/sku", 's'),
                ("/i/lines/0/quantity", 'i'),
                ("/i/maxShipments", 'i'),
                ("/i/destination/longitude", 'f'),
            ],
        ),
    ];
    let value = prop_oneof![
        extreme::int().prop_map(|v| ('i', v)),
        extreme::decimal().prop_map(|v| ('d', v)),
        extreme::text().prop_map(|v| ('s', v)),
        extreme::date().prop_map(|v| ('t', v)),
        extreme::float().prop_map(|v| ('f', v)),
    ];
    let cases = (0..templates.len(), 0usize..16, prop::collection::vec(value, 1..4));
    let config = Config { cases: 400, failure_persistence: None, ..Config::default() };
    let (refused, accepted) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    TestRunner::new(config)
        .run(&cases, |(t, f, values)| {
            let (query, base, fields) = &templates[t];
            let mut variables = base.clone();
            // Values of the field's kind go where they fit; one of another
            // kind would only be refused by validation, which is checked too.
            for (i, (kind, v)) in values.into_iter().enumerate() {
                let (pointer, wanted) = fields[(f + i) % fields.len()];
                if kind == wanted || i == 0 {
                    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
                    match variables.pointer_mut(parent).expect("the template has the field's parent") {
                        Value::Array(items) => items[key.parse::<usize>().expect("an index")] = v,
                        object => {
                            object[key] = v;
                        }
                    }
                }
            }
            let request = Request::new(*query)
                .variables(Variables::from_json(variables))
                .data(api::graphql::Loaders::new(&app.store))
                .data(crate::support::admin_caller());
            let answer = runtime.block_on(schema.execute(request));
            let internal = answer.errors.iter().find(|e| {
                e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|c| c.to_string() == "INTERNAL")
            });
            prop_assert!(internal.is_none(), "{query}: {:?}", answer.errors);
            let data = answer.data.into_json().unwrap_or_default();
            let payload = data.as_object().and_then(|d| d.values().next()).cloned().unwrap_or_default();
            let counted = if answer.errors.is_empty() && payload["userErrors"].as_array().is_none_or(Vec::is_empty) {
                &accepted
            } else {
                &refused
            };
            counted.set(counted.get() + 1);
            Ok(())
        })
        .unwrap();
    assert!(refused.get() > 100 && accepted.get() > 10, "refused {}, accepted {}", refused.get(), accepted.get());
    let alive = runtime.block_on(app.graphql("{ warehouses { edges { node { code } } } }", json!({})));
    assert!(alive["data"]["warehouses"]["edges"].as_array().map(Vec::len).unwrap_or(0) >= 3, "{alive}");
}
