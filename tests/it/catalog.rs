//! Warehouses, products, stock feeds and availability over GraphQL.

use serde_json::json;

use crate::support::{lanes, seeded, spawn_app};

#[tokio::test]
async fn warehouses_are_listed_in_pages_and_found_by_code() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let page = app
            .ok("{ warehouses(first: 2) { edges { cursor node { code name active baseCost costPerKm priority handlingDays } } pageInfo { hasNextPage } } }", json!({}))
            .await;
        let edges = page["warehouses"]["edges"].as_array().unwrap();
        let codes: Vec<&str> = edges.iter().map(|e| e["node"]["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["CHI", "NYC"]);
        assert_eq!(page["warehouses"]["pageInfo"]["hasNextPage"], true);
        assert_eq!(edges[0]["node"]["baseCost"], "4.5");
        assert_eq!(edges[0]["node"]["costPerKm"], "0.002");
        let rest = app
            .ok("query($a: String) { warehouses(first: 2, after: $a) { edges { node { code } } pageInfo { hasNextPage } } }", json!({ "a": edges[1]["cursor"] }))
            .await;
        assert_eq!(rest["warehouses"]["edges"], json!([{ "node": { "code": "RNO" } }]));
        assert_eq!(rest["warehouses"]["pageInfo"]["hasNextPage"], false);

        let one = app
            .ok(r#"{ warehouse(code: "RNO") { name latitude } missing: warehouse(code: "ZZZ") { name } }"#, json!({}))
            .await;
        assert_eq!(one["warehouse"], json!({ "name": "RNO", "latitude": 39.5 }));
        assert_eq!(one["missing"], json!(null));

        let bad = app.graphql("{ warehouses(first: 0) { edges { cursor } } }", json!({})).await;
        assert_eq!(bad["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{bad}");
    }
}

#[tokio::test]
async fn upsert_warehouse_updates_by_code_and_rejects_bad_input() {
    for lane in lanes() {
        let app = spawn_app(lane).await;
        let upsert = "mutation($i: UpsertWarehouseInput!) { upsertWarehouse(input: $i) { warehouse { code name partnerCode priority active } userErrors { code message field } } }";
        let input = json!({ "code": "WH1", "name": "Reno", "partnerCode": "ACME", "latitude": 39.5, "longitude": -119.8, "baseCost": "5.50", "costPerKm": 0.0025 });
        let created = app.ok(upsert, json!({ "i": input })).await;
        assert_eq!(
            created["upsertWarehouse"]["warehouse"],
            json!({ "code": "WH1", "name": "Reno", "partnerCode": "ACME", "priority": 100, "active": true })
        );
        let mut changed = input.clone();
        changed["name"] = json!("Reno North");
        changed["active"] = json!(false);
        let updated = app.ok(upsert, json!({ "i": changed })).await;
        assert_eq!(updated["upsertWarehouse"]["warehouse"]["name"], "Reno North");
        let listed = app.ok("{ warehouses { edges { node { code active } } } }", json!({})).await;
        assert_eq!(listed["warehouses"]["edges"], json!([{ "node": { "code": "WH1", "active": false } }]));

        for (field, value, code, message) in [
            ("latitude", json!(91), "BAD_COORDINATES", "latitude 91 is outside [-90, 90]"),
            (
                "code",
                json!("has space"),
                "INVALID_INPUT",
                "invalid warehouse code \"has space\": must be 1 to 32 ASCII letters, digits, '-', '_', '.' or '/'",
            ),
            (
                "baseCost",
                json!("-1"),
                "INVALID_INPUT",
                "baseCost must be from 0 to 100000 with at most 6 decimal places, got -1",
            ),
            (
                "baseCost",
                json!("99999999999999999999999999"),
                "INVALID_INPUT",
                "baseCost must be from 0 to 100000 with at most 6 decimal places, got 99999999999999999999999999",
            ),
            (
                "costPerKm",
                json!("1000.01"),
                "INVALID_INPUT",
                "costPerKm must be from 0 to 1000 with at most 6 decimal places, got 1000.01",
            ),
            (
                "priority",
                json!(i32::MIN),
                "INVALID_INPUT",
                "priority must be from -1000000 to 1000000, got -2147483648",
            ),
            ("handlingDays", json!(100_000_000), "INVALID_INPUT", "handlingDays must be from 0 to 365, got 100000000"),
            ("handlingDays", json!(-2), "INVALID_INPUT", "handlingDays must be from 0 to 365, got -2"),
            ("name", json!(" "), "INVALID_INPUT", "name must be 1 to 200 characters"),
            ("name", json!("n".repeat(201)), "INVALID_INPUT", "name must be 1 to 200 characters"),
            ("partnerCode", json!("p".repeat(65)), "INVALID_INPUT", "partnerCode must be at most 64 characters"),
            (
                "costPerKm",
                json!("0.0000001"),
                "INVALID_INPUT",
                "costPerKm must be from 0 to 1000 with at most 6 decimal places, got 0.0000001",
            ),
        ] {
            let mut bad = input.clone();
            bad[field] = value;
            let answer = app.ok(upsert, json!({ "i": bad })).await;
            let errors = &answer["upsertWarehouse"]["userErrors"];
            assert_eq!(errors[0]["code"], code, "{field}: {answer}");
            assert_eq!(errors[0]["message"], message, "{field}");
            assert_eq!(answer["upsertWarehouse"]["warehouse"], json!(null));
        }
        // Nothing changed by the rejected calls.
        let after = app.ok(r#"{ warehouse(code: "WH1") { name latitude } }"#, json!({})).await;
        assert_eq!(after["warehouse"], json!({ "name": "Reno North", "latitude": 39.5 }));
    }
}

#[tokio::test]
async fn products_keep_ranked_substitutes_and_page_by_sku() {
    for lane in lanes() {
        let app = spawn_app(lane).await;
        let upsert = "mutation($p: [ProductInput!]!) { upsertProducts(input: $p) { products { sku unitPrice substitutes { sku } } userErrors { code message field } } }";
        let created = app
            .ok(
                upsert,
                json!({ "p": [
                    { "sku": "A", "name": "Alpha Tent", "unitPrice": "10.00", "substitutes": ["C", "B"] },
                    { "sku": "B", "name": "Beta Tent", "unitPrice": 12.5 },
                    { "sku": "C", "name": "Gamma Stove", "unitPrice": "7", "backorderable": false, "leadTimeDays": 30 },
                ]}),
            )
            .await;
        let products = &created["upsertProducts"]["products"];
        assert_eq!(
            products[0],
            json!({ "sku": "A", "unitPrice": "10.00", "substitutes": [{ "sku": "C" }, { "sku": "B" }] })
        );
        assert_eq!(products[1]["unitPrice"], "12.50");

        let one = app
            .ok(
                r#"{ product(sku: "C") { name backorderable leadTimeDays } none: product(sku: "Z") { name } }"#,
                json!({}),
            )
            .await;
        assert_eq!(one["product"], json!({ "name": "Gamma Stove", "backorderable": false, "leadTimeDays": 30 }));
        assert_eq!(one["none"], json!(null));
        let tents = app.ok(r#"{ products(search: "tent") { edges { node { sku } } } }"#, json!({})).await;
        assert_eq!(tents["products"]["edges"], json!([{ "node": { "sku": "A" } }, { "node": { "sku": "B" } }]));
        let page = app.ok(r#"{ products(first: 1, after: "A") { edges { node { sku } } pageInfo { hasNextPage hasPreviousPage } } }"#, json!({})).await;
        assert_eq!(page["products"]["edges"], json!([{ "node": { "sku": "B" } }]));
        assert_eq!(page["products"]["pageInfo"], json!({ "hasNextPage": true, "hasPreviousPage": true }));

        for (products, code, message) in [
            (
                json!([{ "sku": "D", "name": "D", "unitPrice": "1", "substitutes": ["NOPE"] }]),
                "UNKNOWN_SKU",
                "unknown sku NOPE",
            ),
            (
                json!([{ "sku": "D", "name": "D", "unitPrice": "1", "substitutes": ["D"] }]),
                "INVALID_INPUT",
                "D cannot substitute itself",
            ),
            (
                json!([{ "sku": "D", "name": "D", "unitPrice": "1" }, { "sku": "D", "name": "E", "unitPrice": "1" }]),
                "INVALID_INPUT",
                "D appears twice",
            ),
            (
                json!([{ "sku": "D", "name": "D", "unitPrice": "1", "leadTimeDays": -1 }]),
                "INVALID_INPUT",
                "leadTimeDays must be from 0 to 3650, got -1",
            ),
            (
                json!([{ "sku": "D", "name": "D", "unitPrice": "1", "leadTimeDays": 100_000_000 }]),
                "INVALID_INPUT",
                "leadTimeDays must be from 0 to 3650, got 100000000",
            ),
            (
                json!([{ "sku": "D", "name": "D", "unitPrice": "99999999999999999999999999" }]),
                "INVALID_INPUT",
                "unitPrice must be from 0 to 1000000 with at most 6 decimal places, got 99999999999999999999999999",
            ),
            (
                json!([{ "sku": "D", "name": "D", "unitPrice": "1", "substitutes": ["A","B","C","A","B","C","A","B","C","A","B"] }]),
                "INVALID_INPUT",
                "a product may have at most 10 substitutes",
            ),
            (
                json!([{ "sku": "D", "name": "n".repeat(201), "unitPrice": "1" }]),
                "INVALID_INPUT",
                "name must be 1 to 200 characters",
            ),
            (json!([]), "INVALID_INPUT", "send between 1 and 1000 products"),
        ] {
            let answer = app.ok(upsert, json!({ "p": products })).await;
            assert_eq!(answer["upsertProducts"]["userErrors"][0]["code"], code, "{answer}");
            assert_eq!(answer["upsertProducts"]["userErrors"][0]["message"], message);
        }
        let negative = app.graphql(upsert, json!({ "p": [{ "sku": "D", "name": "D", "unitPrice": "-1" }] })).await;
        assert!(
            negative["errors"][0]["message"].as_str().unwrap().contains("money must not be negative"),
            "{negative}"
        );
        let none = app.ok(r#"{ product(sku: "D") { sku } }"#, json!({})).await;
        assert_eq!(none["product"], json!(null), "rejected batches change nothing");
    }
}

#[tokio::test]
async fn availability_reports_every_location_and_sums_what_can_sell() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let set = "mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { results { warehouseCode sku applied currentSequence } userErrors { code message field } } }";
        let answer = app.ok(set, json!({ "l": [{ "warehouseCode": "CHI", "sku": "TENT", "onHand": 7, "safetyStock": 2, "sequence": 10 }] })).await;
        assert_eq!(
            answer["setStockLevels"]["results"],
            json!([{ "warehouseCode": "CHI", "sku": "TENT", "applied": true, "currentSequence": null }])
        );

        let q = r#"{ availability(skus: ["TENT", "RARE"]) { sku totalAvailable locations { warehouse { code } onHand reserved safetyStock available feedSequence } } }"#;
        let data = app.ok(q, json!({})).await;
        assert_eq!(
            data["availability"],
            json!([
                { "sku": "TENT", "totalAvailable": 7, "locations": [
                    { "warehouse": { "code": "CHI" }, "onHand": 7, "reserved": 0, "safetyStock": 2, "available": 5, "feedSequence": 10 },
                    { "warehouse": { "code": "NYC" }, "onHand": 2, "reserved": 0, "safetyStock": 0, "available": 2, "feedSequence": null },
                ]},
                { "sku": "RARE", "totalAvailable": 0, "locations": [] },
            ])
        );

        // An older feed never overwrites a newer level; it is reported.
        let stale = app
            .ok(
                set,
                json!({ "l": [
            { "warehouseCode": "CHI", "sku": "TENT", "onHand": 100, "sequence": 9 },
            { "warehouseCode": "NYC", "sku": "TENT", "onHand": 4, "sequence": 1 },
        ] }),
            )
            .await;
        assert_eq!(
            stale["setStockLevels"]["results"][0],
            json!({ "warehouseCode": "CHI", "sku": "TENT", "applied": false, "currentSequence": 10 })
        );
        assert_eq!(stale["setStockLevels"]["results"][1]["applied"], true);
        let data = app.ok(r#"{ availability(skus: ["TENT"]) { totalAvailable } }"#, json!({})).await;
        assert_eq!(data["availability"][0]["totalAvailable"], 9);

        // Inactive warehouses hold nothing for sale.
        app.ok(
            "mutation { upsertWarehouse(input: {code: \"NYC\", name: \"NYC\", latitude: 40.7, longitude: -74.0, baseCost: \"5\", costPerKm: \"0.002\", active: false}) { userErrors { message } } }",
            json!({}),
        )
        .await;
        let data = app
            .ok(r#"{ availability(skus: ["TENT"]) { totalAvailable locations { warehouse { code } } } }"#, json!({}))
            .await;
        assert_eq!(
            data["availability"][0],
            json!({ "totalAvailable": 5, "locations": [{ "warehouse": { "code": "CHI" } }] })
        );

        let unknown = app.graphql(r#"{ availability(skus: ["TENT", "GHOST"]) { sku } }"#, json!({})).await;
        assert_eq!(unknown["errors"][0]["extensions"]["code"], "UNKNOWN_SKU");
        assert_eq!(unknown["errors"][0]["message"], "unknown sku GHOST");
    }
}

#[tokio::test]
async fn bad_stock_feeds_are_rejected_whole() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let set = "mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { results { applied } userErrors { code message field } } }";
        for (rows, code, message, field) in [
            (
                json!([{ "warehouseCode": "NYC", "sku": "TENT", "onHand": 9 }, { "warehouseCode": "XXX", "sku": "TENT", "onHand": 1 }]),
                "UNKNOWN_WAREHOUSE",
                "unknown warehouse XXX",
                json!([]),
            ),
            (
                json!([{ "warehouseCode": "NYC", "sku": "TENT", "onHand": 9 }, { "warehouseCode": "NYC", "sku": "NOPE", "onHand": 1 }]),
                "UNKNOWN_SKU",
                "unknown sku NOPE",
                json!([]),
            ),
            (
                json!([{ "warehouseCode": "NYC", "sku": "TENT", "onHand": -3 }]),
                "BAD_QUANTITY",
                "onHand must not be negative, got -3",
                json!(["input", "0", "onHand"]),
            ),
            (
                json!([{ "warehouseCode": "NYC", "sku": "TENT", "onHand": 3, "safetyStock": -1 }]),
                "BAD_QUANTITY",
                "safetyStock must not be negative, got -1",
                json!(["input", "0", "safetyStock"]),
            ),
            (
                json!([{ "warehouseCode": "NYC", "sku": "TENT", "onHand": 3 }, { "warehouseCode": "NYC", "sku": "TENT", "onHand": 4 }]),
                "INVALID_INPUT",
                "TENT at NYC appears twice in one feed",
                json!([]),
            ),
            (json!([]), "INVALID_INPUT", "send between 1 and 5000 levels", json!(["input"])),
        ] {
            let answer = app.ok(set, json!({ "l": rows })).await;
            let error = &answer["setStockLevels"]["userErrors"][0];
            assert_eq!((error["code"].as_str().unwrap(), error["message"].as_str().unwrap()), (code, message));
            assert_eq!(error["field"], field);
            assert_eq!(answer["setStockLevels"]["results"], json!([]));
        }
        let data = app.ok(r#"{ availability(skus: ["TENT"]) { totalAvailable } }"#, json!({})).await;
        assert_eq!(data["availability"][0]["totalAvailable"], 7, "nothing changed");
    }
}
