//! What each database plans for the queue reads: a read whose cost would
//! grow with the length of a queue (a full scan of backorders, a sort of
//! every row it reads) fails here, on both databases, whatever the sizes in
//! the other tests. The reads come from the store itself
//! (`infra::store::queue_reads`), as it sends them.
//!
//! On Postgres the planner is told to avoid sequential scans, sorts and
//! bitmap scans (which lose the index's order): on the small tables of a
//! test it would rightly prefer them, and the question is whether an index
//! can serve the read in order at all. It still uses them when nothing else
//! can, which is what fails the test.

use infra::secrets::IdKind;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};

use crate::support::{Lane, lanes, spawn_app};

async fn plan(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let txn = db.begin().await.unwrap();
    let explain = match backend {
        DatabaseBackend::Postgres => {
            for setting in ["enable_seqscan", "enable_sort", "enable_bitmapscan"] {
                txn.execute_unprepared(&format!("SET LOCAL {setting} = off")).await.unwrap();
            }
            format!("EXPLAIN {sql}")
        }
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = txn.query_all_raw(Statement::from_string(backend, explain)).await.unwrap();
    let column = if backend == DatabaseBackend::Postgres { "QUERY PLAN" } else { "detail" };
    let lines = rows.iter().map(|r| r.try_get::<String>("", column).unwrap()).collect();
    txn.rollback().await.unwrap();
    lines
}

#[tokio::test]
async fn queue_reads_go_through_indexes_in_queue_order() {
    for lane in lanes() {
        let app = spawn_app(lane).await;
        let db = infra::db::connect(&app.database).await.unwrap();
        for (name, sql, leading) in infra::store::queue_reads(db.get_database_backend()) {
            let plan = plan(&db, &sql).await;
            let text = plan.join("\n");
            let full_scan = match lane {
                Lane::Postgres => text.contains("Seq Scan on"),
                Lane::Sqlite => plan.iter().any(|l| l.starts_with("SCAN ")),
            };
            let sorts = match lane {
                Lane::Postgres => plan.iter().any(|l| l.trim_start().trim_start_matches("->  ").starts_with("Sort")),
                Lane::Sqlite => text.contains("USE TEMP B-TREE FOR ORDER BY"),
            };
            assert!(!full_scan, "[{lane:?}] {name} scans a whole table:\n{sql}\n{text}");
            assert!(!sorts, "[{lane:?}] {name} sorts what it reads:\n{sql}\n{text}");
            // The index search names the column it starts from.
            let searched = match lane {
                Lane::Postgres => plan.iter().any(|l| l.contains("Index Cond") && l.contains(leading)),
                Lane::Sqlite => plan.iter().any(|l| l.starts_with("SEARCH ") && l.contains(&format!("({leading}"))),
            };
            assert!(searched, "[{lane:?}] {name} does not search an index by {leading}:\n{sql}\n{text}");
        }
    }
}

/// Postgres's generic plan of `sql`: prepared, then explained with
/// `plan_cache_mode = force_generic_plan`, which plans without the values.
async fn generic_plan(db: &sea_orm::DatabaseConnection, sql: &str, values: &[sea_orm::Value]) -> Vec<String> {
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
    let args: Vec<String> = values
        .iter()
        .map(|v| {
            let mut literal = String::new();
            PostgresQueryBuilder.write_value(&mut literal, v).unwrap();
            literal
        })
        .collect();
    // The types the store binds, as sqlx declares them.
    let types: Vec<&str> = values
        .iter()
        .map(|v| match v {
            sea_orm::Value::Bool(_) => "boolean",
            sea_orm::Value::TinyInt(_) | sea_orm::Value::SmallInt(_) => "int2",
            sea_orm::Value::Int(_) => "int4",
            sea_orm::Value::BigInt(_) | sea_orm::Value::Unsigned(_) | sea_orm::Value::BigUnsigned(_) => "int8",
            sea_orm::Value::TinyUnsigned(_) | sea_orm::Value::SmallUnsigned(_) => "int4",
            sea_orm::Value::Float(_) => "float4",
            sea_orm::Value::Double(_) => "float8",
            _ => "text",
        })
        .collect();
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.unwrap();
    txn.execute_unprepared(&format!("PREPARE generic_plan ({}) AS {sql}", types.join(", ")))
        .await
        .unwrap_or_else(|e| panic!("preparing {sql}: {e}"));
    let explain = format!("EXPLAIN EXECUTE generic_plan({})", args.join(", "));
    let rows = txn
        .query_all_raw(Statement::from_string(DatabaseBackend::Postgres, explain.clone()))
        .await
        .unwrap_or_else(|e| panic!("{explain}: {e}"));
    txn.execute_unprepared("DEALLOCATE generic_plan").await.unwrap();
    txn.rollback().await.unwrap();
    rows.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap()).collect()
}

/// Orders, lines, packages, backorders and events of a database a year
/// into production, written in bulk (the same SQL on both databases): half
/// the orders shipped, 40% waiting confirmed in the queues of ten skus
/// (RARE's among them; one in ten at a higher priority), 10% awaiting
/// confirmation.
const BULK: u32 = 20_000;

async fn seed_at_scale(db: &sea_orm::DatabaseConnection) {
    let series = format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {BULK})");
    let statements = [
        format!(
            "{series} INSERT INTO orders (customer_reference, status, policy, latitude, longitude, backorder_consent, priority,
                                           shipping_cost_micros, created_at_ms, updated_at_ms, partial_shipment_charge_micros)
             SELECT 'bulk-' || n, CASE WHEN n % 10 < 5 THEN 'SHIPPED' ELSE 'BACKORDERED' END, 'SHIP_AVAILABLE', 40.7, -74.0,
                    true, CASE WHEN n % 10 = 9 THEN 1 ELSE 0 END, 5000000, 1700000000000 + n, 1700000000000 + n, 0 FROM g"
        ),
        // Ten queues: RARE's and nine more skus'.
        format!(
            "{} INSERT INTO products (sku, name, unit_price_micros, backorderable, lead_time_days, updated_at_ms)
             SELECT 'BULK' || n, 'Bulk ' || n, 1000000, true, 14, 0 FROM g",
            series.replace(&BULK.to_string(), "9")
        ),
        "INSERT INTO order_lines (order_id, line_no, product_id, sku, quantity, unit_price_micros, cancelled, substituted)
         SELECT o.id, 1, p.id, p.sku, 1, p.unit_price_micros, 0, 0 FROM orders o, products p
         WHERE o.customer_reference LIKE 'bulk-%'
           AND p.sku = CASE WHEN o.status = 'SHIPPED' THEN 'LAMP' WHEN o.id % 10 = 0 THEN 'RARE'
                            ELSE 'BULK' || (o.id % 10) END"
            .to_owned(),
        "INSERT INTO shipments (order_id, warehouse_id, status, tracking_number, cost_micros, distance_m, estimated_delivery,
                                created_at_ms, updated_at_ms)
         SELECT o.id, w.id, 'SHIPPED', 'TRK', 5000000, 1000, 19700, o.created_at_ms, o.created_at_ms
         FROM orders o, warehouses w WHERE o.customer_reference LIKE 'bulk-%' AND o.status = 'SHIPPED' AND w.code = 'NYC'"
            .to_owned(),
        "INSERT INTO shipment_lines (shipment_id, order_line_id, product_id, sku, quantity)
         SELECT s.id, l.id, l.product_id, l.sku, 1 FROM shipments s JOIN order_lines l ON l.order_id = s.order_id
         WHERE s.tracking_number = 'TRK'"
            .to_owned(),
        "INSERT INTO backorders (order_id, order_line_id, product_id, sku, quantity, status, estimated_available,
                                 promised_available, confirmed_at_ms, created_at_ms, updated_at_ms, priority)
         SELECT o.id, l.id, l.product_id, l.sku, 1,
                CASE WHEN o.id % 7 = 3 THEN 'AWAITING_CONFIRMATION' ELSE 'CONFIRMED' END, 19700, 19700,
                CASE WHEN o.id % 7 = 3 THEN NULL ELSE o.created_at_ms END, o.created_at_ms, o.created_at_ms, o.priority
         FROM orders o JOIN order_lines l ON l.order_id = o.id
         WHERE o.customer_reference LIKE 'bulk-%' AND o.status = 'BACKORDERED'"
            .to_owned(),
        "INSERT INTO order_events (order_id, kind, payload, created_at_ms)
         SELECT id, 'ORDER_PLACED', '{}', created_at_ms FROM orders WHERE customer_reference LIKE 'bulk-%'"
            .to_owned(),
    ];
    for sql in statements {
        db.execute_unprepared(&sql).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    // The backorders were written around the gateway: their queues' rank
    // trees are counted as an import's would be.
    infra::store::Store::new(db.clone()).recount_queues().await.unwrap();
    db.execute_unprepared("ANALYZE").await.unwrap();
}

/// Every statement the gateway sends while it serves every query and
/// mutation the API offers, and the worker's passes, on a database of
/// realistic size: each database plans each one, and a full scan of a table
/// that grows with the business (orders, their lines, packages and their
/// lines, backorders, events) fails the test, on Postgres in the generic
/// plan of a prepared statement too; so does a read of an empty id list.
/// The statements are the ones sent, captured from the connection with
/// their values.
#[tokio::test]
async fn every_statement_the_store_sends_reads_through_an_index_at_scale() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use api::state::AppState;
    use async_graphql::{Request, Variables};
    use serde_json::{Value, json};

    const GROWING: [&str; 6] = ["orders", "order_lines", "shipments", "shipment_lines", "backorders", "order_events"];
    for lane in lanes() {
        let app = crate::support::seeded(lane).await;
        let setup = infra::db::connect(&app.database).await.unwrap();
        seed_at_scale(&setup).await;

        let mut db = infra::db::connect(&app.database).await.unwrap();
        let sent: Arc<Mutex<BTreeMap<String, Statement>>> = Arc::default();
        let record = sent.clone();
        db.set_metric_callback(move |info| {
            record.lock().unwrap().entry(info.statement.sql.clone()).or_insert_with(|| info.statement.clone());
        });
        let store = infra::store::Store::new(db.clone());
        let schema = api::graphql::build_schema(AppState::new(
            store.clone(),
            app.cache.clone(),
            api::state::GatewaySettings::default(),
        ));
        let run = |query: &str, variables: Value| {
            let request = Request::new(query)
                .variables(Variables::from_json(variables))
                .data(api::graphql::Loaders::new(&store))
                .data(crate::support::admin_caller());
            let schema = schema.clone();
            async move {
                let answer = schema.execute(request).await;
                assert!(answer.errors.is_empty(), "[{lane:?}] {:?}", answer.errors);
                answer.data.into_json().unwrap()
            }
        };
        let secrets = infra::secrets::Secrets::load(&store).await.unwrap();
        let id_of = |kind: IdKind, sql: &'static str| {
            let (setup, secrets) = (setup.clone(), secrets.clone());
            async move {
                let row = setup
                    .query_one_raw(Statement::from_string(setup.get_database_backend(), sql))
                    .await
                    .unwrap()
                    .unwrap();
                secrets.public_id(kind, row.try_get_by_index::<i64>(0).unwrap())
            }
        };
        let waiting = id_of(
            IdKind::Order,
            "SELECT order_id FROM backorders WHERE status = 'CONFIRMED' ORDER BY id LIMIT 1 OFFSET 3000",
        )
        .await;
        let awaiting = id_of(
            IdKind::Backorder,
            "SELECT id FROM backorders WHERE status = 'AWAITING_CONFIRMATION' ORDER BY id DESC LIMIT 1",
        )
        .await;
        let other_awaiting = id_of(
            IdKind::Backorder,
            "SELECT id FROM backorders WHERE status = 'AWAITING_CONFIRMATION' ORDER BY id LIMIT 1",
        )
        .await;
        let waiting_line = id_of(
            IdKind::Line,
            "SELECT order_line_id FROM backorders WHERE status = 'CONFIRMED' ORDER BY id DESC LIMIT 1",
        )
        .await;
        let substitute_line = id_of(
            IdKind::Line,
            "SELECT order_line_id FROM backorders WHERE status = 'CONFIRMED' ORDER BY id DESC LIMIT 1 OFFSET 1",
        )
        .await;
        let propose_line = id_of(
            IdKind::Line,
            "SELECT order_line_id FROM backorders WHERE status = 'CONFIRMED' ORDER BY id DESC LIMIT 1 OFFSET 2",
        )
        .await;
        let old_order = id_of(
            IdKind::Order,
            "SELECT order_id FROM backorders WHERE status = 'CONFIRMED' ORDER BY id LIMIT 1 OFFSET 10",
        )
        .await;

        // Reads.
        let order_fields = "id status customerReference totals { merchandise shipping compensation total } compensations { amount }
            lines { id sku quantity shipped allocated backordered cancelled substituted replacesLineNumber replacedByLineNumbers }
            shipments { id status warehouse { code } lines { sku quantity } } substitutions { id status }
            backorders { id status queuePosition estimatedAvailableDate promisedAvailableDate } events { kind }";
        run(&format!("query($id: ID!) {{ order(id: $id) {{ {order_fields} }} }}"), json!({ "id": waiting })).await;
        for filter in [
            "",
            "status: BACKORDERED",
            "status: SHIPPED",
            "sku: \"RARE\"",
            "warehouseCode: \"NYC\"",
            "status: BACKORDERED, sku: \"RARE\"",
        ] {
            let page = run(
                &format!(
                    "{{ orders(first: 20 {}) {{ pageInfo {{ endCursor }} nodes {{ {order_fields} }} }} }}",
                    if filter.is_empty() { String::new() } else { format!(", {filter}") }
                ),
                json!({}),
            )
            .await;
            let cursor = page["orders"]["pageInfo"]["endCursor"].clone();
            run(
                &format!(
                    "query($a: String) {{ orders(first: 20, after: $a {}) {{ nodes {{ id }} }} }}",
                    if filter.is_empty() { String::new() } else { format!(", {filter}") }
                ),
                json!({ "a": cursor }),
            )
            .await;
        }
        for filter in [
            "",
            "(status: CONFIRMED)",
            "(status: AWAITING_CONFIRMATION)",
            "(sku: \"RARE\", status: CONFIRMED)",
            "(sku: \"RARE\")",
        ] {
            run(&format!("{{ backorders{filter} {{ id queuePosition orderId estimatedAvailableDate }} }}"), json!({}))
                .await;
        }
        run("{ warehouses(first: 5) { nodes { code name } } warehouse(code: \"NYC\") { code } products(first: 5, search: \"LA\") { nodes { sku substitutes { sku } } } product(sku: \"RARE\") { sku } fulfillmentPolicy { partialShipmentCharge } }", json!({})).await;
        run("{ availability(skus: [\"RARE\", \"LAMP\", \"TENT\"]) { sku totalAvailable locations { warehouse { code } onHand reserved available } } }", json!({})).await;
        run("{ quoteFulfillment(input: {lines: [{sku: \"TENT\", quantity: 1}, {sku: \"RARE\", quantity: 1}], destination: {latitude: 40.7, longitude: -74.0}}) { shipmentCount backordered { sku estimatedAvailableDate } } }", json!({})).await;

        // Writes: the catalog and network, stock, every order operation.
        run("mutation { upsertProducts(input: [{sku: \"RARE\", name: \"Rare\", unitPrice: \"5.00\", substitutes: [\"LAMP\", \"STOVE\"]}]) { userErrors { code } } }", json!({})).await;
        run("mutation { upsertWarehouse(input: {code: \"BOS\", name: \"Boston\", latitude: 42.36, longitude: -71.06, baseCost: \"5\", costPerKm: \"0.002\"}) { userErrors { code } } }", json!({})).await;
        run("{ substitutes(sku: \"RARE\", destination: {latitude: 40.7, longitude: -74.0}) { rank product { sku } plan { shipmentCount } } }", json!({})).await;
        let mut placed = Vec::new();
        for (key, sku, consent) in [("p-in-stock", "TENT", true), ("p-waits", "RARE", true), ("p-asks", "RARE", false)]
        {
            let input = json!({ "lines": [{ "sku": sku, "quantity": 1 }, { "sku": "LAMP", "quantity": 1 }], "destination": { "latitude": 40.7, "longitude": -74.0 },
                                "customerReference": key, "idempotencyKey": key, "backorderConsent": consent });
            let answer = run("mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code } order { id shipments { id } } } }", json!({ "i": input })).await;
            assert_eq!(answer["placeOrder"]["userErrors"], json!([]), "[{lane:?}] {answer}");
            placed.push(answer["placeOrder"]["order"].clone());
        }
        let replay = json!({ "lines": [{ "sku": "TENT", "quantity": 1 }, { "sku": "LAMP", "quantity": 1 }], "destination": { "latitude": 40.7, "longitude": -74.0 },
                             "customerReference": "p-in-stock", "idempotencyKey": "p-in-stock", "backorderConsent": true });
        run("mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { replayed } }", json!({ "i": replay })).await;
        let package = placed[0]["shipments"][0]["id"].clone();
        let mutations: Vec<(&str, Value)> = vec![
            ("mutation($b: ID!) { confirmBackorder(id: $b) { userErrors { code } } }", json!({ "b": awaiting })),
            ("mutation($b: ID!) { cancelBackorder(id: $b) { userErrors { code } } }", json!({ "b": other_awaiting })),
            (
                "mutation { receiveStock(input: {warehouseCode: \"NYC\", sku: \"RARE\", quantity: 80}) { userErrors { code } } }",
                json!({}),
            ),
            (
                "mutation { adjustStock(input: {warehouseCode: \"NYC\", sku: \"LAMP\", delta: 5, reason: \"found\"}) { userErrors { code } } }",
                json!({}),
            ),
            (
                "mutation { setStockLevels(input: [{warehouseCode: \"CHI\", sku: \"RARE\", onHand: 3}, {warehouseCode: \"NYC\", sku: \"LAMP\", onHand: 12}]) { userErrors { code } } }",
                json!({}),
            ),
            (
                "mutation($d: Date!) { recordInboundReceipt(input: {warehouseCode: \"CHI\", sku: \"RARE\", quantity: 500, expectedOn: $d}) { userErrors { code } } }",
                json!({ "d": (chrono::Utc::now().date_naive() + chrono::Duration::days(5)).format("%Y-%m-%d").to_string() }),
            ),
            (
                "mutation($l: ID!) { cancelOrderLine(input: {lineId: $l, quantity: 1}) { userErrors { code } } }",
                json!({ "l": waiting_line }),
            ),
            (
                "mutation($l: ID!) { substituteLine(input: {lineId: $l, substituteSku: \"LAMP\"}) { userErrors { code } } }",
                json!({ "l": substitute_line }),
            ),
            (
                "mutation($o: ID!) { issueCompensation(input: {orderId: $o, percentage: \"10\", reason: \"late\"}) { userErrors { code } } }",
                json!({ "o": placed[1]["id"] }),
            ),
            (
                "mutation($s: ID!) { reportShortPick(input: {shipmentId: $s, sku: \"LAMP\", quantity: 1, reason: \"damaged\"}) { userErrors { code } } }",
                json!({ "s": package }),
            ),
            (
                "mutation($s: ID!) { markShipmentShipped(id: $s, trackingNumber: \"1Z\") { userErrors { code } } }",
                json!({ "s": package }),
            ),
            (
                "mutation($o: ID!) { cancelOrder(id: $o, reason: \"changed mind\") { userErrors { code } } }",
                json!({ "o": old_order }),
            ),
            (
                "mutation($o: ID!) { cancelOrder(id: $o, reason: \"changed mind\") { userErrors { code } } }",
                json!({ "o": placed[1]["id"] }),
            ),
        ];
        for (query, variables) in mutations {
            let answer = run(query, variables).await;
            let errors = answer.as_object().unwrap().values().next().unwrap()["userErrors"].clone();
            assert_eq!(errors, json!([]), "[{lane:?}] {query}: {answer}");
        }
        let proposed = run("mutation($l: ID!) { proposeSubstitution(input: {lineId: $l, substituteSku: \"STOVE\"}) { userErrors { code } substitution { id } } }", json!({ "l": propose_line })).await;
        assert_eq!(proposed["proposeSubstitution"]["userErrors"], json!([]), "[{lane:?}] {proposed}");
        run(
            "mutation($p: ID!) { respondToSubstitution(id: $p, accept: true) { userErrors { code } } }",
            json!({ "p": proposed["proposeSubstitution"]["substitution"]["id"] }),
        )
        .await;

        // The worker's passes, every limit on.
        let policy = domain::policy::FulfillmentPolicy {
            unconfirmed_expiry_ms: Some(1),
            max_backorder_ms: Some(1),
            delay_compensation: Some(domain::policy::DelayCompensation {
                threshold_days: 0,
                percent: rust_decimal::Decimal::ONE,
            }),
            ..Default::default()
        };
        store.run_maintenance(&policy, 200).await.unwrap();

        let sent = std::mem::take(&mut *sent.lock().unwrap());
        let mut planned = 0;
        let mut failures = Vec::new();
        for (sql, statement) in sent {
            let verb = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
            if !["SELECT", "UPDATE", "DELETE", "INSERT", "WITH"].contains(&verb.as_str()) {
                continue;
            }
            // An empty id list is sent as a false constant (`1 = 2`): a
            // round trip for an answer known in advance.
            if sql.contains("WHERE ? = ?") || sql.contains("WHERE $1 = $2") {
                failures.push(format!("[{lane:?}] a read of an empty id list:\n{sql}"));
                continue;
            }
            let explain = match lane {
                Lane::Postgres => format!("EXPLAIN {sql}"),
                Lane::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            };
            let values = statement.values.clone().map(|v| v.0).unwrap_or_default();
            let rows = setup
                .query_all_raw(Statement::from_sql_and_values(setup.get_database_backend(), explain, values.clone()))
                .await
                .unwrap_or_else(|e| panic!("[{lane:?}] explaining {sql}: {e}"));
            let column = if lane == Lane::Postgres { "QUERY PLAN" } else { "detail" };
            let mut plans = vec![("", rows.iter().map(|r| r.try_get::<String>("", column).unwrap()).collect())];
            // A statement the pool has prepared runs, after a few
            // executions, on a generic plan made without its values: a
            // limited read that finds its rows at once with the values can
            // scan a whole table without them.
            if lane == Lane::Postgres && !values.is_empty() {
                plans.push((" (generic plan)", generic_plan(&setup, &sql, &values).await));
            }
            for (which, plan) in plans {
                let text = plan.join("\n");
                for table in GROWING {
                    // A read that stops at its limit without sorting is not a
                    // full scan: the planner scans when it expects the first
                    // rows it needs at once (the first refresh of a day, when
                    // every row of a tail moves).
                    // A generic plan is made without the values, so it cannot
                    // know that the first rows are found at once: a limited
                    // scan there reads the whole table when nothing matches.
                    let stops_early = match lane {
                        Lane::Postgres => {
                            which.is_empty()
                                && plan.first().is_some_and(|l| l.starts_with("Limit"))
                                && !text.contains("Sort")
                        }
                        Lane::Sqlite => sql.contains(" LIMIT ") && !text.contains("TEMP B-TREE"),
                    };
                    let scans = match lane {
                        Lane::Postgres => plan.iter().any(|l| {
                            l.contains(&format!("Seq Scan on {table} ")) || l.ends_with(&format!("Seq Scan on {table}"))
                        }),
                        Lane::Sqlite => plan
                            .iter()
                            .any(|l| l == &format!("SCAN {table}") || l.starts_with(&format!("SCAN {table} "))),
                    } && !stops_early;
                    if scans {
                        failures.push(format!("[{lane:?}] a full scan of {table}{which}:\n{sql}\n{text}"));
                    }
                }
            }
            planned += 1;
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        assert!(planned > 60, "[{lane:?}] only {planned} statements were planned");
    }
}

/// Every nested field of a page is read in batches, however short the
/// loaders' window: the statements a page of orders costs do not grow with
/// its rows. The orders wait in one queue, placed in one millisecond (the
/// clock stands still), so their positions need the ties read as well.
#[tokio::test]
async fn a_page_of_orders_costs_the_same_statements_whatever_its_length() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use api::state::{AppState, GatewaySettings};
    use async_graphql::Request;
    use serde_json::json;

    const PAGE: &str = "query($n: Int!) { orders(first: $n) { nodes { id status lines { sku quantity backordered }
        shipments { status warehouse { code } lines { sku quantity } } events { kind }
        backorders { status queuePosition estimatedAvailableDate } } } }";
    for lane in lanes() {
        let clock = infra::clock::ManualClock::now();
        let app = crate::support::seeded_timed(lane, GatewaySettings::default(), clock).await;
        // Ten of the eleven lamps: every order holds a package too.
        for n in 0..10 {
            let input = json!({ "lines": [{ "sku": "LAMP", "quantity": 1 }, { "sku": "RARE", "quantity": 1 }],
                                "destination": { "latitude": 40.71, "longitude": -74.0 }, "customerReference": format!("page-{n}"),
                                "idempotencyKey": format!("page-{n}"), "policy": "SHIP_AVAILABLE", "backorderConsent": true });
            let placed = app
                .ok(
                    "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { userErrors { code } } }",
                    json!({ "i": input }),
                )
                .await;
            assert_eq!(placed["placeOrder"]["userErrors"], json!([]), "[{lane:?}]");
        }

        let mut db = infra::db::connect(&app.database).await.unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let count = sent.clone();
        db.set_metric_callback(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        });
        let store = infra::store::Store::new(db);
        let schema =
            api::graphql::build_schema(AppState::new(store.clone(), app.cache.clone(), GatewaySettings::default()));
        let mut costs = Vec::new();
        // The first request also reads what the gateway keeps once loaded.
        for first in [1, 2, 10] {
            sent.store(0, Ordering::SeqCst);
            let request = Request::new(PAGE)
                .variables(async_graphql::Variables::from_json(json!({ "n": first })))
                .data(api::graphql::Loaders::new(&store))
                .data(crate::support::admin_caller());
            let answer = schema.execute(request).await;
            assert!(answer.errors.is_empty(), "[{lane:?}] {:?}", answer.errors);
            let page = answer.data.into_json().unwrap();
            let nodes = page["orders"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), first, "[{lane:?}]");
            let positions: Vec<&serde_json::Value> =
                nodes.iter().map(|o| &o["backorders"][0]["queuePosition"]).collect();
            // Newest first: the page's orders stand at the back of the queue.
            let expected: Vec<serde_json::Value> = (0..first).map(|i| json!(10 - i)).collect();
            assert_eq!(positions, expected.iter().collect::<Vec<_>>(), "[{lane:?}]");
            costs.push(sent.load(Ordering::SeqCst));
        }
        assert_eq!(costs[1], costs[2], "[{lane:?}] statements for a page of 2 and of 10");
    }
}
