//! GraphQL over HTTP: content negotiation, methods, status codes, limits,
//! and the health endpoints.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::support::{Lane, spawn_app};

const GRJ: &str = "application/graphql-response+json";

async fn post(
    app: &crate::support::TestApp,
    accept: Option<&str>,
    content_type: &str,
    body: String,
) -> (StatusCode, String, String) {
    let mut request = app.client.post(app.graphql_url()).header(CONTENT_TYPE, content_type).body(body);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let media = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, media, response.text().await.unwrap())
}

#[tokio::test]
async fn the_response_type_follows_accept() {
    let app = spawn_app(Lane::Sqlite).await;
    let body = json!({ "query": "{ warehouses { edges { cursor } } }" }).to_string();
    for (accept, media) in [
        (None, "application/json"),
        (Some("application/json"), "application/json"),
        (Some(GRJ), GRJ),
        (Some("*/*"), "application/json"),
        (Some("application/json;q=0.5, application/graphql-response+json"), GRJ),
    ] {
        let (status, got, text) = post(&app, accept, "application/json", body.clone()).await;
        assert_eq!((status, got.as_str()), (StatusCode::OK, media), "{accept:?}");
        let body = serde_json::from_str::<Value>(&text).unwrap();
        assert_eq!(body["data"], json!({ "warehouses": { "edges": [] } }), "{body}");
        assert!(body["extensions"]["cost"]["requestedQueryCost"].is_u64(), "{body}");
    }
    let (status, _, _) = post(&app, Some("text/plain"), "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let (status, _, _) = post(&app, None, "text/plain", body).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn bad_requests_and_bad_documents_get_the_spec_status_codes() {
    let app = spawn_app(Lane::Sqlite).await;
    // Not a GraphQL request at all: 400 whatever the media type.
    for accept in [GRJ, "application/json"] {
        let (status, _, text) = post(&app, Some(accept), "application/json", "{not json".into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{accept}");
        assert!(text.contains("not a GraphQL request"), "{text}");
        let (status, _, _) = post(&app, Some(accept), "application/json", json!({ "variables": {} }).to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // A document that does not parse or validate: 400 with the GraphQL
    // response type, 200 with errors under application/json.
    for query in ["{ warehouses {", "{ noSuchField }"] {
        let body = json!({ "query": query }).to_string();
        let (status, _, text) = post(&app, Some(GRJ), "application/json", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {text}");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert!(parsed.get("data").is_none(), "{parsed}");
        assert!(parsed["errors"][0]["message"].is_string());
        let (status, _, _) = post(&app, Some("application/json"), "application/json", body).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn queries_work_over_get_but_mutations_need_post() {
    let app = spawn_app(Lane::Sqlite).await;
    let url = app.graphql_url();
    let response =
        app.client.get(&url).query(&[("query", "{ warehouses { edges { cursor } } }")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["data"], json!({ "warehouses": { "edges": [] } }));

    let mutation =
        "mutation { upsertProducts(input: [{sku: \"A\", name: \"A\", unitPrice: \"1\"}]) { userErrors { code } } }";
    let response = app.client.get(&url).query(&[("query", mutation)]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let none = app.ok(r#"{ product(sku: "A") { sku } }"#, json!({})).await;
    assert_eq!(none["product"], json!(null));

    // GraphiQL is served only where introspection is public (access.rs).
    let page = app.client.get(&url).header(ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oversized_bodies_and_queries_are_refused() {
    let app = spawn_app(Lane::Sqlite).await;
    // The test server accepts 64 KiB.
    let huge =
        json!({ "query": format!("{{ warehouses {{ edges {{ cursor }} }} }} #{}", "x".repeat(70_000)) }).to_string();
    let (status, _, _) = post(&app, None, "application/json", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let mut deep = String::from("{ product(sku: \"A\") { ");
    for _ in 0..12 {
        deep.push_str("substitutes { ");
    }
    deep.push_str("sku");
    deep.push_str(&" }".repeat(13));
    deep.push_str(" }");
    let answer = app.graphql(&deep, json!({})).await;
    // Refused for its depth, or before that for what its nested lists weigh.
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nested too deep") || message.contains("too complex"), "{answer}");

    let wide = format!(
        "{{{}}}",
        (0..900)
            .map(|i| format!("a{i}:warehouses{{edges{{cursor node{{code name active}}}}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let answer = app.graphql(&wide, json!({})).await;
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{answer}");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app(Lane::Sqlite).await;
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({ "status": "ready", "database": "ok", "redis": "not configured" })
    );
    // Redis away: reported, but the gateway serves from the database.
    let away = infra::cache::CacheSettings {
        redis_url: Some("redis://127.0.0.1:1".to_owned()),
        redis_timeout: std::time::Duration::from_millis(200),
        ..crate::support::cache_for(Lane::Sqlite)
    };
    let app = crate::support::spawn_app_with(Lane::Sqlite, away).await;
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["redis"], "unavailable");
    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        let there = infra::cache::CacheSettings { redis_url: Some(url), ..crate::support::cache_for(Lane::Sqlite) };
        let app = crate::support::spawn_app_with(Lane::Sqlite, there).await;
        let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
        assert_eq!(ready.json::<Value>().await.unwrap()["redis"], "ok");
    }
}

#[tokio::test]
async fn metrics_count_requests_errors_plans_and_the_cache() {
    let app = crate::support::seeded(Lane::Sqlite).await;
    let quote = r#"{ quoteFulfillment(input: {lines: [{sku: "TENT", quantity: 3}], destination: {latitude: 40.7, longitude: -74.0}}) { shipmentCount } }"#;
    app.ok(quote, json!({})).await;
    let bad = r#"{ quoteFulfillment(input: {lines: [{sku: "TENT", quantity: 0}], destination: {latitude: 40.7, longitude: -74.0}}) { shipmentCount } }"#;
    app.graphql(bad, json!({})).await;
    app.graphql("{ nosuchfield }", json!({})).await;
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    for line in [
        "shipmix_graphql_requests_total{operation=\"quoteFulfillment\",outcome=\"ok\"} 1",
        "shipmix_graphql_requests_total{operation=\"quoteFulfillment\",outcome=\"error\"} 1",
        "shipmix_graphql_requests_total{operation=\"invalid\",outcome=\"error\"} 1",
        "shipmix_user_errors_total{code=\"BAD_QUANTITY\"} 1",
        "shipmix_plans_total{optimal=\"true\"} 2",
        "shipmix_plan_shipments_count 2",
        "shipmix_stock_cache_misses_total 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(text.contains("shipmix_db_pool_connections "), "{text}");
}

#[tokio::test]
async fn browsers_of_allowed_origins_get_cors_headers_and_no_one_else_does() {
    let shop = "https://shop.example.com";
    let gateway = api::state::GatewaySettings { cors_origins: vec![shop.to_owned()], ..Default::default() };
    let app = crate::support::spawn_configured(Lane::Sqlite, crate::support::cache_for(Lane::Sqlite), gateway).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.graphql_url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight(shop).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(allowed.headers()["access-control-allow-origin"], shop);
    assert!(allowed.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    assert_eq!(allowed.headers()["vary"], "Origin");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(other.headers().get("access-control-allow-headers").is_none());
    let query = json!({ "query": "{ products { nodes { sku } } }" });
    let answer = app.client.post(app.graphql_url()).header("origin", shop).json(&query).send().await.unwrap();
    assert_eq!(answer.headers()["access-control-allow-origin"], shop);
    assert!(answer.headers()["access-control-expose-headers"].to_str().unwrap().contains("retry-after"));
    // A refused request from an allowed origin is readable by its page too.
    let refused =
        reqwest::Client::new().post(app.graphql_url()).header("origin", shop).json(&query).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["access-control-allow-origin"], shop);
    // Off by default.
    let plain = spawn_app(Lane::Sqlite).await;
    let answer = plain.client.post(plain.graphql_url()).header("origin", shop).json(&query).send().await.unwrap();
    assert!(answer.headers().get("access-control-allow-origin").is_none());
}
