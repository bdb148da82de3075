//! What a collector receives when the gateway exports traces: the spans of
//! a `placeOrder` (the request, the resolver's use case, its database work
//! and the sourcing run), each under the right parent and all in the
//! caller's trace.
//!
//! A binary of its own, apart from `tests/it`: the exporter hangs off the
//! process's global subscriber, which only one test per process can set,
//! and which every other test of a shared binary would then export into.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use api::server::{Application, ServeSettings};
use infra::cache::CacheSettings;
use infra::db::DatabaseSettings;
use infra::telemetry::{LogStyle, TelemetrySettings};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP collector on port 0 that answers every export 200 and
/// hands each body over.
fn collector() -> (String, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the collector");
    let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 65536];
                // The exporter keeps its connection: several requests may come on one.
                loop {
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
                        .and_then(Result::ok)
                        .unwrap_or(0);
                    while buffer.len() < end + 4 + length {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = buffer[end + 4..end + 4 + length].to_vec();
                    buffer.drain(..end + 4 + length);
                    if head.starts_with("post /v1/traces") {
                        let _ = sender.send(body);
                    }
                    if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, received)
}

#[derive(Debug)]
struct Span {
    name: String,
    trace: String,
    id: String,
    parent: String,
    attributes: HashMap<String, String>,
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_is_traced_from_the_callers_span_to_the_database_and_the_search() {
    let (endpoint, exports) = collector();
    let settings = TelemetrySettings {
        style: LogStyle::Json,
        otlp_endpoint: Some(endpoint.clone()),
        service_name: "shipmix".into(),
        service_version: "0.0.0-test".into(),
        instance: "replica-a".into(),
    };
    let provider = infra::telemetry::provider(&settings, &endpoint).expect("an exporter");
    tracing::subscriber::set_global_default(infra::telemetry::subscriber(
        LogStyle::Json,
        std::io::sink,
        Some(&provider),
    ))
    .expect("the only subscriber of this binary");

    let data = tempfile::tempdir().expect("a data directory");
    let serve = ServeSettings {
        listen: "127.0.0.1:0".into(),
        database: DatabaseSettings::sqlite_in(data.path()),
        cache: CacheSettings::default(),
        migrate: true,
        demo: true,
        http: api::server::HttpLimits::default(),
        gateway: api::state::GatewaySettings::default(),
    };
    let app = Application::build(&serve).await.expect("the gateway starts");
    let (url, handle) = (app.url(), app.handle());
    let served = tokio::spawn(app.run_until_stopped());

    let query = r#"mutation { placeOrder(input: {lines: [{sku: "SKU00001", quantity: 1}],
        destination: {latitude: 40.71, longitude: -74.0}, customerReference: "traced-1", idempotencyKey: "traced-1"}) {
        order { id } userErrors { code message } } }"#;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(&url)
        .header("authorization", "Bearer shm_demo_storefront")
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .expect("the gateway answers")
        .json()
        .await
        .expect("a JSON answer");
    assert!(answer["data"]["placeOrder"]["order"]["id"].is_string(), "{answer}");

    handle.stop(true).await;
    served.await.expect("the server task").expect("the server stops cleanly");
    tokio::task::spawn_blocking(move || provider.shutdown()).await.expect("flushing").expect("the export succeeds");

    let mut spans = Vec::new();
    let mut resources = Vec::new();
    while let Ok(body) = exports.recv_timeout(Duration::from_millis(200)) {
        let export = ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP trace export");
        for resource in export.resource_spans {
            if let Some(r) = &resource.resource {
                resources.extend(r.attributes.iter().map(|a| (a.key.clone(), text(a.value.as_ref()))));
            }
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| Span {
                    name: s.name,
                    trace: hex(&s.trace_id),
                    id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    attributes: s.attributes.iter().map(|a| (a.key.clone(), text(a.value.as_ref()))).collect(),
                }));
            }
        }
    }
    for (key, value) in
        [("service.name", "shipmix"), ("service.version", "0.0.0-test"), ("service.instance.id", "replica-a")]
    {
        assert!(resources.iter().any(|(k, v)| k == key && v == value), "{key}={value} in {resources:?}");
    }
    let one = |name: &str| {
        let found: Vec<&Span> = spans.iter().filter(|s| s.name == name && s.trace == CALLER_TRACE).collect();
        assert_eq!(found.len(), 1, "one {name} span in the caller's trace: {spans:#?}");
        found[0]
    };
    let request = one("request");
    assert_eq!(request.parent, CALLER_SPAN, "the request continues the caller's span");
    let resolver = one("placeOrder");
    assert_eq!(resolver.parent, request.id);
    assert_eq!(resolver.attributes.get("graphql.field").map(String::as_str), Some("Mutation.placeOrder"));
    let snapshot = one("db.query");
    assert_eq!(snapshot.parent, resolver.id);
    let transaction = one("db.transaction");
    assert_eq!(transaction.parent, resolver.id);
    assert_eq!(transaction.attributes.get("db.operation").map(String::as_str), Some("place_order"));
    let sourcing = one("sourcing");
    assert_eq!(sourcing.parent, resolver.id, "the search on the planning pool stays under its request");
    assert_eq!(sourcing.attributes.get("lines").map(String::as_str), Some("1"));
    assert_eq!(sourcing.attributes.get("optimal").map(String::as_str), Some("true"));
    assert_eq!(sourcing.attributes.get("shipments").map(String::as_str), Some("1"));
    assert!(sourcing.attributes.get("warehouses").and_then(|w| w.parse::<u32>().ok()).is_some_and(|w| w > 0));
    assert!(sourcing.attributes.get("nodes").and_then(|n| n.parse::<u64>().ok()).is_some());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
