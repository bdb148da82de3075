//! Who may do what: keys, the role of every operation and field, and
//! requests without a (valid) key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use domain::access::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Lane, TestApp, client_with, key_for, lanes, seeded, spawn_app, spawn_configured};

/// The object and interface types of the served schema, each with its
/// fields (name, arguments, type).
fn schema_types() -> BTreeMap<String, TypeKind> {
    let document = async_graphql::parser::parse_schema(api::graphql::sdl()).expect("the SDL parses");
    document
        .definitions
        .into_iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some((t.node.name.node.to_string(), t.node.kind)),
            _ => None,
        })
        .collect()
}

#[test]
fn every_field_of_the_schema_has_a_rule_and_every_rule_names_a_field() {
    let types = schema_types();
    let mut missing = Vec::new();
    let mut fields = BTreeSet::new();
    for (name, kind) in &types {
        let defined = match kind {
            TypeKind::Object(o) => &o.fields,
            TypeKind::Interface(i) => &i.fields,
            _ => continue,
        };
        for field in defined {
            let field = field.node.name.node.to_string();
            if api::access::rule(name, &field).is_none() {
                missing.push(format!("{name}.{field}"));
            }
            fields.insert((name.clone(), field));
        }
    }
    assert!(missing.is_empty(), "fields without an access rule: {missing:?}");
    let stale: Vec<String> = api::access::RULES
        .iter()
        .flat_map(|(ty, _, names)| names.iter().map(move |f| (ty.to_string(), f.to_string())))
        .filter(|key| !fields.contains(key))
        .map(|(ty, f)| format!("{ty}.{f}"))
        .collect();
    assert!(stale.is_empty(), "rules for fields the schema does not have: {stale:?}");
}

/// Who may use each operation, as the product promises it (written out
/// here, apart from the table the server enforces).
fn promised(field: &str) -> &'static [Role] {
    use Role::*;
    match field {
        "product" | "products" | "availability" | "fulfillmentPolicy" => &[Storefront, Partner, Agent, Admin],
        "quoteFulfillment" | "substitutes" | "order" => &[Storefront, Agent, Admin],
        "warehouses" | "warehouse" => &[Partner, Agent, Admin],
        "partnerShipments" | "stockChanges" => &[Partner, Admin],
        "orders" | "backorders" => &[Agent, Admin],
        "placeOrder" | "confirmBackorder" | "cancelBackorder" | "cancelOrderLine" | "respondToSubstitution" => {
            &[Storefront, Agent, Admin]
        }
        "cancelOrder" | "issueCompensation" | "substituteLine" | "proposeSubstitution" => &[Agent, Admin],
        "setStockLevels"
        | "receiveStock"
        | "adjustStock"
        | "recordInboundReceipt"
        | "markShipmentShipped"
        | "reportShortPick" => &[Partner, Admin],
        "upsertWarehouse" | "upsertProducts" | "apiKeys" | "createApiKey" | "revokeApiKey" => &[Admin],
        other => panic!("no promise for {other}: add it here"),
    }
}

/// A value of `ty` that validates (ids name nothing that exists).
fn sample(ty: &Type, types: &BTreeMap<String, TypeKind>) -> String {
    match &ty.base {
        BaseType::List(item) => format!("[{}]", sample(item, types)),
        BaseType::Named(name) => match name.as_str() {
            "String" => "\"X\"".into(),
            "ID" => "\"999999\"".into(),
            "Int" => "1".into(),
            "Float" => "1.0".into(),
            "Boolean" => "true".into(),
            "Date" => "\"2030-01-01\"".into(),
            "DateTime" => "\"2030-01-01T00:00:00Z\"".into(),
            "Money" | "Decimal" => "\"1\"".into(),
            other => match types.get(other) {
                Some(TypeKind::Enum(e)) => e.values[0].node.value.node.to_string(),
                Some(TypeKind::InputObject(o)) => {
                    let fields: Vec<String> = o
                        .fields
                        .iter()
                        .filter(|f| !f.node.ty.node.nullable && f.node.default_value.is_none())
                        .map(|f| format!("{}: {}", f.node.name.node, sample(&f.node.ty.node, types)))
                        .collect();
                    format!("{{ {} }}", fields.join(", "))
                }
                _ => panic!("no sample for {other}"),
            },
        },
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::List(item) => named(item),
        BaseType::Named(name) => name.as_str(),
    }
}

/// One request per operation of the schema, with valid arguments.
fn operations() -> Vec<(String, String)> {
    let types = schema_types();
    let mut out = Vec::new();
    for root in ["Query", "Mutation"] {
        let Some(TypeKind::Object(object)) = types.get(root) else { panic!("no {root}") };
        for field in &object.fields {
            let field = &field.node;
            let args: Vec<String> = field
                .arguments
                .iter()
                .filter(|a| !a.node.ty.node.nullable && a.node.default_value.is_none())
                .map(|a| format!("{}: {}", a.node.name.node, sample(&a.node.ty.node, &types)))
                .collect();
            let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
            let selection = match types.get(named(&field.ty.node)) {
                Some(TypeKind::Object(_) | TypeKind::Interface(_)) => " { __typename }",
                _ => "",
            };
            let keyword = if root == "Query" { "query" } else { "mutation" };
            out.push((field.name.node.to_string(), format!("{keyword} {{ {}{args}{selection} }}", field.name.node)));
        }
    }
    out
}

fn forbidden(body: &Value) -> bool {
    body["errors"].as_array().is_some_and(|errors| errors.iter().any(|e| e["extensions"]["code"] == "FORBIDDEN"))
}

async fn post(client: &reqwest::Client, app: &TestApp, query: &str) -> (StatusCode, Value) {
    let response = client.post(app.graphql_url()).json(&json!({ "query": query })).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn every_operation_answers_each_role_as_promised() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let mut clients = Vec::new();
        for role in Role::ALL {
            let partner = (role == Role::Partner).then_some("ACME");
            if partner.is_some() {
                app.ok(
                    r#"mutation { upsertWarehouse(input: { code: "ACM", name: "ACME 1", partnerCode: "ACME",
                        latitude: 40.0, longitude: -75.0, baseCost: "5", costPerKm: "0.002" }) { userErrors { code } } }"#,
                    json!({}),
                )
                .await;
            }
            clients.push((role, client_with(&key_for(&app.store, role, partner).await)));
        }
        let operations = operations();
        assert!(operations.len() >= 30, "{operations:?}");
        let revoked = key_for(&app.store, Role::Admin, None).await;
        let revoked_id = app.store.keys().await.unwrap().last().unwrap().id;
        app.store.revoke_key(revoked_id).await.unwrap();
        let mut strangers = vec![("no key", reqwest::Client::new()), ("revoked", client_with(&revoked))];
        for header in ["Basic YWRtaW46YWRtaW4=", "Bearer", "shm_demo_admin", "Bearer shm_not_a_key"] {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, header.parse().unwrap());
            strangers.push((header, reqwest::Client::builder().default_headers(headers).build().unwrap()));
        }
        for (field, query) in &operations {
            for (who, client) in &strangers {
                let (status, body) = post(client, &app, query).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "[{lane:?}] {who} {query}: {body}");
                assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
                assert!(body.get("data").is_none(), "[{lane:?}] {who} {field}: {body}");
            }
            for (role, client) in &clients {
                let (status, body) = post(client, &app, query).await;
                assert_eq!(status, StatusCode::OK, "[{lane:?}] {role} {query}: {body}");
                let allowed = promised(field).contains(role);
                assert_eq!(forbidden(&body), !allowed, "[{lane:?}] {role} {query}: {body}");
                if !allowed {
                    let error = &body["errors"][0];
                    assert_eq!(error["path"], json!([field]), "[{lane:?}] {body}");
                }
            }
        }
    }
}

#[tokio::test]
async fn nested_fields_are_guarded_like_operations() {
    let app = seeded(Lane::Sqlite).await;
    let shop = client_with(&key_for(&app.store, Role::Storefront, None).await);
    let query =
        r#"{ availability(skus: ["TENT"]) { sku totalAvailable locations { warehouse { code } available onHand } } }"#;
    let (_, body) = post(&shop, &app, query).await;
    // A shop sees what it can sell, not the warehouse's counts.
    assert!(forbidden(&body), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["availability", "locations", "onHand"]), "{body}");
    // Refused before anything ran: no partial answer.
    assert!(body["data"].is_null(), "{body}");
    // However it is hidden: in a fragment, an inline fragment, under an alias.
    for hidden in [
        r#"{ availability(skus: ["TENT"]) { ...F } } fragment F on SkuAvailability { locations { onHand } }"#,
        r#"{ availability(skus: ["TENT"]) { ... on SkuAvailability { locations { counted: onHand } } } }"#,
    ] {
        let (_, body) = post(&shop, &app, hidden).await;
        assert!(forbidden(&body), "{hidden}: {body}");
    }
    let (_, body) = post(
        &shop,
        &app,
        r#"{ availability(skus: ["TENT"]) { sku totalAvailable locations { warehouse { code } available } } }"#,
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["availability"][0]["totalAvailable"], 7);
    let (_, body) =
        post(&shop, &app, r#"{ availability(skus: ["TENT"]) { locations { warehouse { baseCost } } } }"#).await;
    assert!(forbidden(&body), "{body}");
}

#[tokio::test]
async fn requests_without_a_valid_key_get_only_an_authentication_error() {
    let app = spawn_app(Lane::Sqlite).await;
    let before = app.digest().await;
    let anonymous = reqwest::Client::new();
    let introspection = "{ __schema { queryType { name } } }";
    let mutation =
        r#"mutation { upsertProducts(input: [{ sku: "A", name: "A", unitPrice: "1" }]) { userErrors { code } } }"#;
    for query in [introspection, "{ products { nodes { sku } } }", mutation] {
        for header in [None, Some("Bearer shm_0000"), Some("Basic YWRtaW46YWRtaW4="), Some("Bearer"), Some("shm_x")] {
            let mut request = anonymous.post(app.graphql_url()).json(&json!({ "query": query }));
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?} {query}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"shipmix\"");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
            assert!(body.get("data").is_none(), "{body}");
        }
    }
    let page = anonymous.get(app.graphql_url()).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.digest().await, before, "refused requests changed something");
}

#[tokio::test]
async fn public_introspection_answers_the_schema_and_nothing_else_without_a_key() {
    let gateway = api::state::GatewaySettings { public_introspection: true, ..Default::default() };
    let app = spawn_configured(Lane::Sqlite, crate::support::cache_for(Lane::Sqlite), gateway).await;
    let anonymous = reqwest::Client::new();
    let (status, body) = post(&anonymous, &app, "{ __schema { queryType { name } } }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let (status, _) = post(&anonymous, &app, "{ __typename products { nodes { sku } } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let page = anonymous.get(app.graphql_url()).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("graphiql"));
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_on_every_replica() {
    for lane in lanes() {
        let gateway = api::state::GatewaySettings { key_ttl: Duration::from_millis(300), ..Default::default() };
        let first = spawn_configured(lane, crate::support::cache_for(lane), gateway.clone()).await;
        let second = crate::support::spawn_replica_with(&first, gateway).await;
        let created = first
            .ok(
                r#"mutation { createApiKey(input: { name: "web shop", role: STOREFRONT }) {
                    key { id name role partnerCode revokedAt lastUsedAt } secret userErrors { code } } }"#,
                json!({}),
            )
            .await;
        let payload = &created["createApiKey"];
        assert_eq!(payload["userErrors"], json!([]));
        assert_eq!(payload["key"]["role"], "STOREFRONT");
        assert_eq!(payload["key"]["lastUsedAt"], Value::Null);
        let secret = payload["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("shm_") && secret.len() == 68, "{secret}");
        let id = payload["key"]["id"].as_str().unwrap().to_owned();
        let shop = client_with(&secret);
        for app in [&first, &second] {
            let (status, body) = post(&shop, app, "{ products { nodes { sku } } }").await;
            assert_eq!(status, StatusCode::OK, "[{lane:?}] {body}");
        }
        // A storefront cannot make keys; the secret is never listed.
        let (_, body) = post(&shop, &first, r#"mutation { revokeApiKey(id: "1") { userErrors { code } } }"#).await;
        assert!(forbidden(&body), "{body}");
        let listed = first.ok("{ apiKeys { id name role lastUsedAt } }", json!({})).await;
        assert!(!listed.to_string().contains(&secret));
        let mine = listed["apiKeys"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap().clone();
        assert!(mine["lastUsedAt"].is_string() || wait_for_use(&first, &id).await, "[{lane:?}] {listed}");

        for (input, code) in [
            (r#"{ name: "p", role: PARTNER }"#, "INVALID_INPUT"),
            (r#"{ name: "p", role: PARTNER, partnerCode: "NOPE" }"#, "INVALID_INPUT"),
            (r#"{ name: "a", role: AGENT, partnerCode: "ACME" }"#, "INVALID_INPUT"),
            (r#"{ name: "", role: AGENT }"#, "INVALID_INPUT"),
        ] {
            let before = first.digest().await;
            let answer = first
                .ok(
                    &format!("mutation {{ createApiKey(input: {input}) {{ secret userErrors {{ code }} }} }}"),
                    json!({}),
                )
                .await;
            assert_eq!(answer["createApiKey"]["userErrors"][0]["code"], code, "{input}: {answer}");
            assert_eq!(answer["createApiKey"]["secret"], Value::Null);
            assert_eq!(first.digest().await, before, "{input}");
        }
        let unknown = first.ok(r#"mutation { revokeApiKey(id: "999") { userErrors { code } } }"#, json!({})).await;
        assert_eq!(unknown["revokeApiKey"]["userErrors"][0]["code"], "UNKNOWN_KEY");

        let revoked = first
            .ok(
                "mutation($id: ID!) { revokeApiKey(id: $id) { key { revokedAt } userErrors { code } } }",
                json!({ "id": id }),
            )
            .await;
        assert!(revoked["revokeApiKey"]["key"]["revokedAt"].is_string(), "{revoked}");
        // At once where it was revoked; within the key TTL on the other replica.
        let (status, _) = post(&shop, &first, "{ products { nodes { sku } } }").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let started = std::time::Instant::now();
        loop {
            let (status, _) = post(&shop, &second, "{ products { nodes { sku } } }").await;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "[{lane:?}] the replica still takes a revoked key");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether the key's last use shows up within a few seconds (it is
/// recorded off the request's path).
async fn wait_for_use(app: &TestApp, id: &str) -> bool {
    for _ in 0..50 {
        let listed = app.ok("{ apiKeys { id lastUsedAt } }", json!({})).await;
        if listed["apiKeys"].as_array().unwrap().iter().any(|k| k["id"] == id && k["lastUsedAt"].is_string()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[test]
fn the_command_line_creates_lists_and_revokes_keys() {
    let scratch = crate::support::Scratch::new();
    let dir = scratch.path("data").display().to_string();
    let created = crate::support::shipmix(&["keys", "create", "--role", "agent", "--name", "desk", "--data-dir", &dir]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let secret = created.stdout.lines().last().unwrap().to_owned();
    assert!(secret.starts_with("shm_"), "{}", created.stdout);
    let listed = crate::support::shipmix(&["keys", "list", "--data-dir", &dir]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains("AGENT") && listed.stdout.contains("desk") && listed.stdout.contains("active"));
    assert!(!listed.stdout.contains(&secret));
    let partner = crate::support::shipmix(&["keys", "create", "--role", "PARTNER", "--data-dir", &dir]);
    assert_eq!(partner.code, api::cli::EXIT_BAD_INPUT, "{}", partner.stdout);
    assert!(partner.stderr.contains("must name its partner"), "{}", partner.stderr);
    let revoked = crate::support::shipmix(&["keys", "revoke", "1", "--data-dir", &dir]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    let listed = crate::support::shipmix(&["keys", "list", "--data-dir", &dir]);
    assert!(listed.stdout.contains("revoked"), "{}", listed.stdout);
    let unknown = crate::support::shipmix(&["keys", "revoke", "77", "--data-dir", &dir]);
    assert_eq!(unknown.code, api::cli::EXIT_BAD_INPUT, "{}", unknown.stderr);
}

const PLACE: &str = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id lines { id sku } backorders { id } shipments { id } } orderToken replayed userErrors { code message field } } }";
const READ: &str = "query($id: ID!, $t: String) { order(id: $id, orderToken: $t) { id customerReference } }";

fn order_input(key: &str, lines: Value) -> Value {
    json!({ "i": { "lines": lines, "destination": { "latitude": 40.7, "longitude": -74.0 },
                   "customerReference": key, "idempotencyKey": key } })
}

async fn call(client: &reqwest::Client, app: &TestApp, query: &str, variables: Value) -> Value {
    let response = client.post(app.graphql_url()).json(&json!({ "query": query, "variables": variables })).send().await;
    let body: Value = response.unwrap().json().await.unwrap();
    assert!(body.get("errors").is_none(), "[{:?}] {query}: {body}", app.lane);
    body["data"].as_object().unwrap().values().next().unwrap().clone()
}

#[tokio::test]
async fn storefronts_see_and_change_only_their_own_orders_with_the_token() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let a = client_with(&key_for(&app.store, Role::Storefront, None).await);
        let b = client_with(&key_for(&app.store, Role::Storefront, None).await);
        let agent = client_with(&key_for(&app.store, Role::Agent, None).await);
        let placed = call(
            &a,
            &app,
            PLACE,
            order_input("cart-1", json!([{ "sku": "RARE", "quantity": 2 }, { "sku": "LAMP", "quantity": 1 }])),
        )
        .await;
        assert_eq!(placed["userErrors"], json!([]), "{placed}");
        let (id, token) = (placed["order"]["id"].clone(), placed["orderToken"].as_str().unwrap().to_owned());
        assert!(token.starts_with("sho_"), "{token}");
        let backorder = placed["order"]["backorders"][0]["id"].clone();
        let rare_line =
            placed["order"]["lines"].as_array().unwrap().iter().find(|l| l["sku"] == "RARE").unwrap()["id"].clone();

        // Reading: the owner with the token; nobody else, and not without it.
        assert_eq!(call(&a, &app, READ, json!({ "id": id, "t": token })).await["customerReference"], "cart-1");
        assert_eq!(call(&a, &app, READ, json!({ "id": id })).await, Value::Null);
        assert_eq!(call(&a, &app, READ, json!({ "id": id, "t": "sho_0000" })).await, Value::Null);
        assert_eq!(call(&b, &app, READ, json!({ "id": id, "t": token })).await, Value::Null);
        assert_eq!(call(&agent, &app, READ, json!({ "id": id })).await["customerReference"], "cart-1");

        // Changing: another storefront's attempts read as unknown and change nothing.
        let before = app.digest().await;
        let confirm = "mutation($id: ID!, $t: String) { confirmBackorder(id: $id, orderToken: $t) { backorder { status } userErrors { code } } }";
        let cancel =
            "mutation($id: ID!, $t: String) { cancelBackorder(id: $id, orderToken: $t) { userErrors { code } } }";
        let line = "mutation($id: ID!, $t: String) { cancelOrderLine(input: { lineId: $id, quantity: 1, orderToken: $t }) { userErrors { code } } }";
        for (client, t) in [(&b, Some(token.as_str())), (&b, None), (&a, None), (&a, Some("sho_x"))] {
            let vars = json!({ "id": backorder, "t": t });
            assert_eq!(call(client, &app, confirm, vars.clone()).await["userErrors"][0]["code"], "UNKNOWN_BACKORDER");
            assert_eq!(call(client, &app, cancel, vars).await["userErrors"][0]["code"], "UNKNOWN_BACKORDER");
            let vars = json!({ "id": rare_line, "t": t });
            assert_eq!(call(client, &app, line, vars).await["userErrors"][0]["code"], "UNKNOWN_ORDER_LINE");
        }
        assert_eq!(app.digest().await, before, "[{lane:?}] another storefront changed the order");
        let confirmed = call(&a, &app, confirm, json!({ "id": backorder, "t": token })).await;
        assert_eq!(confirmed["backorder"]["status"], "CONFIRMED", "{confirmed}");

        // Substitution proposals: answered by the order's storefront only.
        let proposed = call(&agent, &app, "mutation($l: ID!) { proposeSubstitution(input: { lineId: $l, substituteSku: \"LAMP\", quantity: 1 }) { substitution { id } userErrors { code } } }", json!({ "l": rare_line })).await;
        let proposal = proposed["substitution"]["id"].clone();
        let respond = "mutation($id: ID!, $t: String) { respondToSubstitution(id: $id, accept: false, orderToken: $t) { substitution { status } userErrors { code } } }";
        assert_eq!(
            call(&b, &app, respond, json!({ "id": proposal, "t": token })).await["userErrors"][0]["code"],
            "UNKNOWN_SUBSTITUTION"
        );
        assert_eq!(
            call(&a, &app, respond, json!({ "id": proposal, "t": token })).await["substitution"]["status"],
            "DECLINED"
        );

        // Idempotency keys are each caller's own; a replay gives the same token.
        let replay = call(
            &a,
            &app,
            PLACE,
            order_input("cart-1", json!([{ "sku": "RARE", "quantity": 2 }, { "sku": "LAMP", "quantity": 1 }])),
        )
        .await;
        assert_eq!((replay["replayed"].clone(), replay["order"]["id"].clone()), (json!(true), id.clone()));
        assert_eq!(replay["orderToken"], token.as_str());
        let other = call(&b, &app, PLACE, order_input("cart-1", json!([{ "sku": "LAMP", "quantity": 1 }]))).await;
        assert_eq!(other["userErrors"], json!([]), "{other}");
        assert_ne!(other["order"]["id"], id);
        let other_token = other["orderToken"].as_str().unwrap();
        assert_eq!(
            call(&b, &app, READ, json!({ "id": id, "t": other_token })).await,
            Value::Null,
            "a token is its order's alone"
        );

        // Prices: a storefront's must be the catalog's; an agent may set another.
        let before = app.digest().await;
        let stale = order_input("cart-2", json!([{ "sku": "TENT", "quantity": 1, "unitPrice": "0.00" }]));
        let refused = call(&a, &app, PLACE, stale.clone()).await;
        assert_eq!(refused["userErrors"][0]["code"], "PRICE_CHANGED", "{refused}");
        assert_eq!(refused["userErrors"][0]["field"], json!(["lines", "0", "unitPrice"]));
        assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("199"), "{refused}");
        assert_eq!(app.digest().await, before);
        let same = order_input("cart-3", json!([{ "sku": "TENT", "quantity": 1, "unitPrice": "199.00" }]));
        assert_eq!(call(&a, &app, PLACE, same).await["userErrors"], json!([]));
        assert_eq!(call(&agent, &app, PLACE, stale).await["userErrors"], json!([]));

        // Lines: a storefront cancels only while nothing of the order shipped.
        let shipped = call(
            &a,
            &app,
            PLACE,
            order_input("cart-4", json!([{ "sku": "TENT", "quantity": 1 }, { "sku": "LAMP", "quantity": 1 }])),
        )
        .await;
        let (token4, lines) = (shipped["orderToken"].clone(), shipped["order"]["lines"].clone());
        let package = shipped["order"]["shipments"][0]["id"].clone();
        app.ok(
            "mutation($id: ID!) { markShipmentShipped(id: $id, trackingNumber: \"T\") { userErrors { code } } }",
            json!({ "id": package }),
        )
        .await;
        let late = call(&a, &app, line, json!({ "id": lines[1]["id"], "t": token4 })).await;
        assert_eq!(late["userErrors"][0]["code"], "ALREADY_SHIPPED", "[{lane:?}] {late}");
    }
}

#[tokio::test]
async fn a_partner_sees_and_changes_only_its_own_warehouses_and_packages() {
    for lane in lanes() {
        let app = seeded(lane).await;
        for (code, partner, lat) in [("ACM1", "ACME", 40.0), ("BLU1", "BLUE", 42.0)] {
            let upsert = format!(
                r#"mutation {{ upsertWarehouse(input: {{ code: "{code}", name: "{code}", partnerCode: "{partner}",
                    latitude: {lat}, longitude: -80.0, baseCost: "1", costPerKm: "0.001" }}) {{ userErrors {{ code }} }} }}"#
            );
            assert_eq!(app.ok(&upsert, json!({})).await["upsertWarehouse"]["userErrors"], json!([]));
        }
        app.ok(r#"mutation { upsertProducts(input: [{ sku: "DUO", name: "Duo", unitPrice: "3.00" }]) { userErrors { code } } }"#, json!({})).await;
        app.ok(r#"mutation { setStockLevels(input: [{ warehouseCode: "ACM1", sku: "DUO", onHand: 1 }, { warehouseCode: "BLU1", sku: "DUO", onHand: 1 }]) { userErrors { code } } }"#, json!({})).await;
        let placed = app.ok(PLACE, order_input("two-partners", json!([{ "sku": "DUO", "quantity": 2 }]))).await;
        let shipments = app
            .ok(
                "query($id: ID!) { order(id: $id) { shipments { id warehouse { code } } } }",
                json!({ "id": placed["placeOrder"]["order"]["id"] }),
            )
            .await["order"]["shipments"]
            .clone();
        let package = |code: &str| {
            shipments.as_array().unwrap().iter().find(|s| s["warehouse"]["code"] == code).unwrap()["id"].clone()
        };
        let (own, theirs) = (package("ACM1"), package("BLU1"));
        let acme = client_with(&key_for(&app.store, Role::Partner, Some("ACME")).await);

        // Reads: its own warehouses, levels and packages only.
        let seen = call(&acme, &app, "{ warehouses { nodes { code } } }", json!({})).await;
        assert_eq!(seen["nodes"], json!([{ "code": "ACM1" }]), "[{lane:?}]");
        for code in ["BLU1", "NYC", "NOPE"] {
            let one =
                call(&acme, &app, "query($c: String!) { warehouse(code: $c) { code } }", json!({ "c": code })).await;
            assert_eq!(one, Value::Null, "[{lane:?}] {code}");
        }
        let stock = call(&acme, &app, r#"{ availability(skus: ["DUO", "TENT"]) { sku totalAvailable locations { warehouse { code } onHand reserved } } }"#, json!({})).await;
        assert_eq!(
            stock,
            json!([{ "sku": "DUO", "totalAvailable": 0, "locations": [{ "warehouse": { "code": "ACM1" }, "onHand": 1, "reserved": 1 }] },
                   { "sku": "TENT", "totalAvailable": 0, "locations": [] }]),
            "[{lane:?}]"
        );
        let (_, priced) = post(&acme, &app, "{ partnerShipments { nodes { cost } } }").await;
        assert!(forbidden(&priced), "a partner never sees what an order pays: {priced}");
        let queue = call(&acme, &app, "{ partnerShipments { nodes { id warehouse { code } lines { sku quantity } shipTo { latitude postalCode } } } }", json!({})).await;
        assert_eq!(queue["nodes"].as_array().unwrap().len(), 1, "[{lane:?}] {queue}");
        assert_eq!(queue["nodes"][0]["id"], own);
        assert_eq!(queue["nodes"][0]["shipTo"]["latitude"], 40.7);
        let other_queue = acme
            .post(app.graphql_url())
            .json(&json!({ "query": r#"{ partnerShipments(warehouseCode: "BLU1") { nodes { id } } }"# }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(other_queue["errors"][0]["extensions"]["code"], "UNKNOWN_WAREHOUSE", "{other_queue}");
        // Never an order, its prices or its other packages.
        let (_, order) =
            post(&acme, &app, &format!("{{ order(id: {}) {{ id }} }}", placed["placeOrder"]["order"]["id"])).await;
        assert!(forbidden(&order), "{order}");

        // Writes to the other partner's warehouse or package: "unknown", and nothing changes.
        let before = app.digest().await;
        let unknown_warehouse = |code: &str| format!("unknown warehouse {code}");
        let writes = [
            (
                r#"mutation { setStockLevels(input: [{ warehouseCode: "W", sku: "DUO", onHand: 9 }]) { userErrors { code message } } }"#,
                "setStockLevels",
            ),
            (
                r#"mutation { receiveStock(input: { warehouseCode: "W", sku: "DUO", quantity: 5 }) { userErrors { code message } } }"#,
                "receiveStock",
            ),
            (
                r#"mutation { adjustStock(input: { warehouseCode: "W", sku: "DUO", delta: -1, reason: "r" }) { userErrors { code message } } }"#,
                "adjustStock",
            ),
            (
                r#"mutation { recordInboundReceipt(input: { warehouseCode: "W", sku: "DUO", quantity: 5, expectedOn: "2099-01-01" }) { userErrors { code message } } }"#,
                "recordInboundReceipt",
            ),
        ];
        for (write, field) in writes {
            for code in ["BLU1", "ZZZ9"] {
                let answer = call(&acme, &app, &write.replace("\"W\"", &format!("\"{code}\"")), json!({})).await;
                assert_eq!(answer["userErrors"][0]["code"], "UNKNOWN_WAREHOUSE", "[{lane:?}] {field} {code}: {answer}");
                assert_eq!(answer["userErrors"][0]["message"], unknown_warehouse(code).as_str());
            }
        }
        let ship = "mutation($id: ID!) { markShipmentShipped(id: $id, trackingNumber: \"T1\", carrier: \"UPS\") { shipment { status carrier trackingNumber } userErrors { code message } } }";
        let short = "mutation($id: ID!) { reportShortPick(input: { shipmentId: $id, sku: \"DUO\", quantity: 1, reason: \"r\" }) { userErrors { code } } }";
        assert_eq!(call(&acme, &app, ship, json!({ "id": theirs })).await["userErrors"][0]["code"], "UNKNOWN_SHIPMENT");
        assert_eq!(
            call(&acme, &app, short, json!({ "id": theirs })).await["userErrors"][0]["code"],
            "UNKNOWN_SHIPMENT"
        );
        assert_eq!(app.digest().await, before, "[{lane:?}] the other partner's data changed");

        // Its own: it receives, ships with a carrier, and sees the package leave its queue.
        let received = call(&acme, &app, r#"mutation { receiveStock(input: { warehouseCode: "ACM1", sku: "DUO", quantity: 2 }) { availability { locations { warehouse { code } onHand } } userErrors { code } } }"#, json!({})).await;
        assert_eq!(received["availability"]["locations"], json!([{ "warehouse": { "code": "ACM1" }, "onHand": 3 }]));
        let shipped = call(&acme, &app, ship, json!({ "id": own })).await;
        assert_eq!(
            shipped["shipment"],
            json!({ "status": "SHIPPED", "carrier": "UPS", "trackingNumber": "T1" }),
            "{shipped}"
        );
        let queue = call(&acme, &app, "{ partnerShipments { nodes { id } } }", json!({})).await;
        assert_eq!(queue["nodes"], json!([]));
        let history = call(
            &acme,
            &app,
            "{ partnerShipments(status: SHIPPED, warehouseCode: \"ACM1\") { nodes { id } } }",
            json!({}),
        )
        .await;
        assert_eq!(history["nodes"][0]["id"], own);
    }
}

#[tokio::test]
async fn ids_cannot_be_counted_and_a_guess_names_nothing() {
    use infra::secrets::IdKind;
    for lane in lanes() {
        let app = seeded(lane).await;
        let mut ids = Vec::new();
        for n in 0..3 {
            let placed =
                app.ok(PLACE, order_input(&format!("count-{n}"), json!([{ "sku": "LAMP", "quantity": 1 }]))).await;
            ids.push(placed["placeOrder"]["order"]["id"].as_str().unwrap().to_owned());
        }
        let mut rows = Vec::new();
        for id in &ids {
            assert!(id.starts_with("ord_") && id.len() == 20, "{id}");
            rows.push(app.row_id(IdKind::Order, id).await);
        }
        assert_eq!(rows.windows(2).filter(|w| w[1] == w[0] + 1).count(), 2, "the rows are consecutive: {rows:?}");
        assert!(ids.windows(2).all(|w| w[0][4..10] != w[1][4..10]), "their ids are not: {ids:?}");

        // Counting is refused outright; a well-formed guess is unknown.
        for guess in ["1", "2", &rows[0].to_string()] {
            let answer = app.graphql("query($id: ID!) { order(id: $id) { id } }", json!({ "id": guess })).await;
            assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT", "[{lane:?}] {answer}");
        }
        let guess = "ord_0123456789abcdef";
        assert_eq!(
            app.ok("query($id: ID!) { order(id: $id) { id } }", json!({ "id": guess })).await["order"],
            Value::Null
        );
        let cancel = app
            .ok("mutation($id: ID!) { cancelOrder(id: $id) { userErrors { code message } } }", json!({ "id": guess }))
            .await;
        assert_eq!(
            cancel["cancelOrder"]["userErrors"][0],
            json!({ "code": "UNKNOWN_ORDER", "message": "unknown order" })
        );
        // One kind's id is never another's.
        let as_line = app
            .ok(
                "mutation($id: ID!) { cancelOrderLine(input: { lineId: $id }) { userErrors { code } } }",
                json!({ "id": ids[0] }),
            )
            .await;
        assert_eq!(as_line["cancelOrderLine"]["userErrors"][0]["code"], "INVALID_INPUT");

        // Event payloads name packages by their public ids too.
        let order = app.ok("query($id: ID!) { order(id: $id) { shipments { id } } }", json!({ "id": ids[0] })).await;
        let package = order["order"]["shipments"][0]["id"].clone();
        app.ok(
            "mutation($id: ID!) { markShipmentShipped(id: $id, trackingNumber: \"T\") { userErrors { code } } }",
            json!({ "id": package }),
        )
        .await;
        let events =
            app.ok("query($id: ID!) { order(id: $id) { events { id kind payload } } }", json!({ "id": ids[0] })).await;
        let shipped = events["order"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "SHIPMENT_SHIPPED")
            .unwrap()
            .clone();
        assert_eq!(shipped["payload"]["shipment"], package, "{shipped}");
        assert!(shipped["id"].as_str().unwrap().starts_with("evt_"));

        if lane == Lane::Sqlite {
            // The command line, as an operator translates rows it found in the tables.
            let url = app.database.url.clone();
            let run = |owned: Vec<String>| async move {
                tokio::task::spawn_blocking(move || {
                    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
                    crate::support::shipmix(&args)
                })
                .await
                .unwrap()
            };
            let args = |rest: &[&str]| {
                ["ids", "--database-url", url.as_str()].iter().chain(rest).map(|a| (*a).to_owned()).collect::<Vec<_>>()
            };
            let row = rows[0].to_string();
            let encoded = run(args(&["--kind", "order", &row])).await;
            assert_eq!(encoded.stdout.trim(), ids[0], "{}", encoded.stderr);
            let decoded = run(args(&["--kind", "ORDER", "--decode", &ids[1]])).await;
            assert_eq!(decoded.stdout.trim(), rows[1].to_string(), "{}", decoded.stderr);
            let wrong = run(args(&["--kind", "LINE", "--decode", &ids[1]])).await;
            assert_eq!(wrong.code, api::cli::EXIT_BAD_INPUT);
            let not_a_row = run(args(&["--kind", "ORDER", "0"])).await;
            assert_eq!(not_a_row.code, api::cli::EXIT_BAD_INPUT);
            assert!(not_a_row.stderr.contains("is not a row number"), "{}", not_a_row.stderr);
        }
    }
}

#[tokio::test]
async fn the_agent_finds_an_order_by_reference_and_reads_who_did_what() {
    for lane in lanes() {
        let app = seeded(lane).await;
        let shop = client_with(&key_for(&app.store, Role::Storefront, None).await);
        let agent = client_with(&key_for(&app.store, Role::Agent, None).await);
        let started = chrono::Utc::now();
        let mut placed = BTreeMap::new();
        for reference in ["CUST-100-A", "CUST-100-B", "CUST-200", "other"] {
            let answer =
                call(&shop, &app, PLACE, order_input(reference, json!([{ "sku": "RARE", "quantity": 1 }]))).await;
            placed.insert(
                reference,
                (
                    answer["order"]["id"].clone(),
                    answer["orderToken"].clone(),
                    answer["order"]["backorders"][0]["id"].clone(),
                ),
            );
        }
        let find = "query($r: String, $p: String, $a: DateTime, $b: DateTime) { orders(customerReference: $r, customerReferencePrefix: $p, placedAfter: $a, placedBefore: $b) { nodes { customerReference } } }";
        let refs = |v: &Value| -> Vec<String> {
            v["nodes"].as_array().unwrap().iter().map(|n| n["customerReference"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(refs(&call(&agent, &app, find, json!({ "r": "CUST-200" })).await), ["CUST-200"]);
        assert_eq!(refs(&call(&agent, &app, find, json!({ "p": "CUST-100" })).await), ["CUST-100-B", "CUST-100-A"]);
        assert_eq!(refs(&call(&agent, &app, find, json!({ "p": "CUST" })).await).len(), 3);
        assert_eq!(refs(&call(&agent, &app, find, json!({ "r": "CUST" })).await).len(), 0);
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let earlier = (started - chrono::Duration::hours(1)).to_rfc3339();
        assert_eq!(refs(&call(&agent, &app, find, json!({ "a": earlier, "b": later })).await).len(), 4);
        assert_eq!(refs(&call(&agent, &app, find, json!({ "a": later })).await).len(), 0);
        let both = agent
            .post(app.graphql_url())
            .json(&json!({ "query": find, "variables": { "r": "a", "p": "b" } }))
            .send()
            .await
            .unwrap();
        let both: Value = both.json().await.unwrap();
        assert_eq!(both["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{both}");

        // The timeline says who did what.
        let (id, token, backorder) = placed["CUST-200"].clone();
        call(
            &shop,
            &app,
            "mutation($id: ID!, $t: String) { confirmBackorder(id: $id, orderToken: $t) { userErrors { code } } }",
            json!({ "id": backorder, "t": token }),
        )
        .await;
        call(&agent, &app, "mutation($id: ID!) { issueCompensation(input: { orderId: $id, amount: \"1.00\", reason: \"sorry\" }) { userErrors { code } } }", json!({ "id": id })).await;
        let timeline = call(
            &agent,
            &app,
            "query($id: ID!) { order(id: $id) { events { kind causedBy { kind name role } } } }",
            json!({ "id": id }),
        )
        .await;
        let by_kind = |kind: &str| {
            timeline["events"].as_array().unwrap().iter().find(|e| e["kind"] == kind).unwrap()["causedBy"].clone()
        };
        assert_eq!(
            by_kind("ORDER_PLACED"),
            json!({ "kind": "KEY", "name": "test STOREFRONT", "role": "STOREFRONT" }),
            "{timeline}"
        );
        assert_eq!(
            by_kind("BACKORDER_CONFIRMED"),
            json!({ "kind": "KEY", "name": "test STOREFRONT", "role": "STOREFRONT" })
        );
        assert_eq!(
            by_kind("ORDER_COMPENSATED"),
            json!({ "kind": "KEY", "name": "test AGENT", "role": "AGENT" }),
            "{timeline}"
        );
    }
}

#[tokio::test]
async fn every_stock_change_is_in_its_warehouses_audit_trail() {
    for lane in lanes() {
        let app = seeded(lane).await;
        for (code, partner) in [("ACM1", "ACME"), ("BLU1", "BLUE")] {
            let upsert = format!(
                r#"mutation {{ upsertWarehouse(input: {{ code: "{code}", name: "{code}", partnerCode: "{partner}",
                    latitude: 40.0, longitude: -80.0, baseCost: "1", costPerKm: "0.001" }}) {{ userErrors {{ code }} }} }}"#
            );
            app.ok(&upsert, json!({})).await;
        }
        let acme = client_with(&key_for(&app.store, Role::Partner, Some("ACME")).await);
        call(&acme, &app, r#"mutation { setStockLevels(input: [{ warehouseCode: "ACM1", sku: "LAMP", onHand: 5, safetyStock: 1, sequence: 7 }]) { userErrors { code } } }"#, json!({})).await;
        call(&acme, &app, r#"mutation { receiveStock(input: { warehouseCode: "ACM1", sku: "LAMP", quantity: 3 }) { userErrors { code } } }"#, json!({})).await;
        call(&acme, &app, r#"mutation { adjustStock(input: { warehouseCode: "ACM1", sku: "LAMP", delta: -2, reason: "broken in aisle 4" }) { userErrors { code } } }"#, json!({})).await;
        let trail = "query($w: String!, $s: String) { stockChanges(warehouseCode: $w, sku: $s) { nodes { sku kind causedBy { kind name role } onHandBefore onHandAfter safetyStockBefore safetyStockAfter sequence note } } }";
        let seen = call(&acme, &app, trail, json!({ "w": "ACM1" })).await;
        let partner = json!({ "kind": "KEY", "name": "test PARTNER", "role": "PARTNER" });
        assert_eq!(
            seen["nodes"],
            json!([
                { "sku": "LAMP", "kind": "ADJUSTMENT", "causedBy": partner, "onHandBefore": 8, "onHandAfter": 6, "safetyStockBefore": 1, "safetyStockAfter": 1, "sequence": null, "note": "broken in aisle 4" },
                { "sku": "LAMP", "kind": "RECEIPT", "causedBy": partner, "onHandBefore": 5, "onHandAfter": 8, "safetyStockBefore": 1, "safetyStockAfter": 1, "sequence": null, "note": null },
                { "sku": "LAMP", "kind": "FEED", "causedBy": partner, "onHandBefore": 0, "onHandAfter": 5, "safetyStockBefore": 0, "safetyStockAfter": 1, "sequence": 7, "note": null },
            ]),
            "[{lane:?}]"
        );
        // A shipment leaves a trace too, the admin's who shipped it.
        let placed = app.ok(PLACE, order_input("audit", json!([{ "sku": "LAMP", "quantity": 5 }]))).await;
        let order = app
            .ok(
                "query($id: ID!) { order(id: $id) { shipments { id warehouse { code } } } }",
                json!({ "id": placed["placeOrder"]["order"]["id"] }),
            )
            .await;
        for s in order["order"]["shipments"].as_array().unwrap() {
            let ship =
                "mutation($id: ID!) { markShipmentShipped(id: $id, trackingNumber: \"T\") { userErrors { code } } }";
            app.ok(ship, json!({ "id": s["id"] })).await;
            let admin = app.ok(trail, json!({ "w": s["warehouse"]["code"], "s": "LAMP" })).await;
            let last = &admin["stockChanges"]["nodes"][0];
            let left = last["onHandBefore"].as_i64().unwrap() - last["onHandAfter"].as_i64().unwrap();
            let seen = (last["kind"].clone(), last["causedBy"]["role"].clone(), left);
            assert_eq!(seen, (json!("SHIPMENT"), json!("ADMIN"), 5), "{admin}");
        }
        // Another partner's trail does not exist for it; a shop has none.
        let other = acme
            .post(app.graphql_url())
            .json(&json!({ "query": trail, "variables": { "w": "BLU1" } }))
            .send()
            .await
            .unwrap();
        let other: Value = other.json().await.unwrap();
        assert_eq!(other["errors"][0]["extensions"]["code"], "UNKNOWN_WAREHOUSE", "{other}");
        for (variables, code) in [
            (json!({ "w": "ACM1", "s": "NOPE" }), "UNKNOWN_SKU"),
            (json!({ "w": "ACM1", "s": "bad sku!" }), "INVALID_INPUT"),
            (json!({ "w": "" }), "INVALID_INPUT"),
        ] {
            let answer = acme.post(app.graphql_url()).json(&json!({ "query": trail, "variables": variables })).send();
            let answer: Value = answer.await.unwrap().json().await.unwrap();
            assert_eq!(answer["errors"][0]["extensions"]["code"], code, "{answer}");
        }
        let bad_cursor = r#"{ stockChanges(warehouseCode: "ACM1", after: "x") { nodes { kind } } }"#;
        let (_, answer) = post(&acme, &app, bad_cursor).await;
        assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{answer}");
        let (_, answer) = post(&acme, &app, r#"{ partnerShipments(after: "x") { nodes { id } } }"#).await;
        assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{answer}");
        let shop = client_with(&key_for(&app.store, Role::Storefront, None).await);
        let (_, body) = post(&shop, &app, r#"{ stockChanges(warehouseCode: "ACM1") { nodes { kind } } }"#).await;
        assert!(forbidden(&body), "{body}");
    }
}

#[tokio::test]
async fn every_answer_reports_its_cost_and_a_key_past_its_budget_waits() {
    for lane in lanes() {
        let mut limits = api::throttle::RateLimits::default();
        limits.set(Role::Storefront, Some(domain::access::BucketSize { size: 500, per_second: 1 }));
        let gateway = api::state::GatewaySettings { rate_limits: limits, ..Default::default() };
        let first = spawn_configured(lane, crate::support::cache_for(lane), gateway.clone()).await;
        let second = crate::support::spawn_replica_with(&first, gateway).await;
        // Replicas share one bucket per key through Redis; in process, each has its own.
        let shared = first.cache.is_redis();
        let shop = client_with(&key_for(&first.store, Role::Storefront, None).await);
        let query = "{ products(first: 5) { nodes { sku name } } }";
        let started = std::time::Instant::now();
        let (mut spent, mut cost, mut last_left) = (0u64, 0u64, 0u64);
        let mut throttled = None;
        for n in 0..100 {
            let app = if shared && n % 2 == 1 { &second } else { &first };
            let response = shop.post(app.graphql_url()).json(&json!({ "query": query })).send().await.unwrap();
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                throttled = Some((retry, response.json::<Value>().await.unwrap()));
                break;
            }
            let body: Value = response.json().await.unwrap();
            let report = &body["extensions"]["cost"];
            cost = report["requestedQueryCost"].as_u64().unwrap();
            assert_eq!(report["actualQueryCost"], cost, "{report}");
            assert_eq!(report["throttleStatus"]["maximumAvailable"], 500);
            assert_eq!(report["throttleStatus"]["restoreRate"], 1);
            spent += cost;
            last_left = report["throttleStatus"]["currentlyAvailable"].as_u64().unwrap();
            // What is left is what was not spent, give or take what refilled.
            let refilled = started.elapsed().as_secs() + 1;
            assert!(last_left + spent <= 500 + refilled && last_left + spent + 1 >= 500, "[{lane:?}] {n}: {report}");
        }
        assert!(cost > 1, "[{lane:?}] a page of products costs {cost}");
        let (retry, body) = throttled.unwrap_or_else(|| panic!("[{lane:?}] never throttled"));
        assert!(last_left < cost, "[{lane:?}] throttled with {last_left} left for a cost of {cost}");
        assert!(retry >= 1 && retry <= cost, "[{lane:?}] retry after {retry}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "THROTTLED", "{body}");
        assert_eq!(body["extensions"]["cost"]["actualQueryCost"], Value::Null, "{body}");
        assert_eq!(body["extensions"]["cost"]["requestedQueryCost"], cost);
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
        // More than the bucket holds is never payable; admins are not limited.
        let huge = "{ products(first: 100) { nodes { sku name unitPrice backorderable leadTimeDays } } }";
        let response = shop.post(first.graphql_url()).json(&json!({ "query": huge })).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("more than this key's bucket holds"), "{body}");
        let admin = first.graphql(query, json!({})).await;
        assert_eq!(admin["extensions"]["cost"]["throttleStatus"], Value::Null, "{admin}");
        assert!(admin["extensions"]["cost"]["requestedQueryCost"].as_u64().unwrap() > 1);
    }
}
