//! The HTTP surface: `/graphql` (GraphQL over HTTP), `/healthz`, `/readyz`.
//!
//! The GraphQL handler is our own rather than the stock actix one, which
//! answers `application/graphql-response+json` with 200 whatever `Accept`
//! says. Here, per the GraphQL-over-HTTP spec: the response type is
//! negotiated from `Accept` (406 if neither JSON type is acceptable);
//! queries work over GET and POST, mutations only over POST (405 on GET);
//! a body that is not a GraphQL request is 400; a document that does not
//! parse or validate is 400 under `application/graphql-response+json` and
//! 200 with `errors` under `application/json`; bodies above the limit are 413,
//! bodies that do not arrive in time 408.
//!
//! Every request gets an id (the caller's `X-Request-Id` when it is a
//! plausible one), answered in the `X-Request-Id` header, carried by every
//! log line of the request and by every `INTERNAL` error. A panic anywhere
//! in execution is caught here: the request answers `INTERNAL` (whatever
//! it had open is dropped, which rolls a transaction back) and the worker
//! goes on serving.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::Positioned;
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, FragmentDefinition, OperationType, Selection, SelectionSet};
use futures_util::{FutureExt as _, StreamExt as _};
use tracing::Instrument as _;

use crate::error::ErrorCode;
use crate::graphql::{AppSchema, GateSchema, Loaders};
use crate::state::AppState;

/// Default request body limit: a 5,000-row stock feed fits comfortably.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Default response limit: a full page of every connection with every
/// field selected stays well below it.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// What one connection and one request may hold of the server: bytes in
/// and out, time to send headers and body, idle time between requests,
/// and connections per worker. A client that sends too slowly or too
/// much is cut off; none can hold a connection, memory or a worker
/// without bound.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub workers: usize,
    pub max_body_bytes: usize,
    pub max_response_bytes: usize,
    /// From the connection's first byte to the end of its request headers.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// Open connections per worker; beyond it new ones wait in the backlog.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            workers: 2,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            max_connections: 1_024,
        }
    }
}

/// Longest error message a response repeats: a parse error quotes the
/// document, which can be as large as the body limit.
const MAX_ERROR_MESSAGE: usize = 500;

/// The request's id: the caller's, when it is 1 to 64 characters of
/// letters, digits, `-`, `_` and `.`, else a fresh one, unique in this
/// process (a counter) and across replicas (the process's start time).
fn request_id(req: &HttpRequest) -> String {
    static INSTANCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let given =
        req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if let Some(given) = given {
        return given.to_owned();
    }
    let instance = *INSTANCE.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
    });
    format!("{:012x}-{:x}", instance & 0xffff_ffff_ffff, NEXT.fetch_add(1, Ordering::Relaxed))
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type the client accepts, `None` when it accepts neither.
fn negotiate(req: &HttpRequest) -> Option<&'static str> {
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(JSON);
    };
    let mut json = false;
    let mut graphql = false;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        if refused {
            continue;
        }
        match media.as_str() {
            GRAPHQL_RESPONSE => graphql = true,
            JSON | "application/*" | "*/*" => json = true,
            _ => {}
        }
    }
    if graphql {
        Some(GRAPHQL_RESPONSE)
    } else if json {
        Some(JSON)
    } else {
        None
    }
}

fn wants_html(req: &HttpRequest) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

fn bad_request(media: &'static str, detail: &dyn std::fmt::Display) -> HttpResponse {
    error_body(StatusCode::BAD_REQUEST, media, &format!("not a GraphQL request: {detail}"))
}

fn error_body(status: StatusCode, media: &'static str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, media))
        .body(serde_json::json!({ "errors": [{ "message": message }] }).to_string())
}

/// The operation a request would run, if its document parses.
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match document.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => {
            let name = request.operation_name.as_deref()?;
            ops.iter().find(|(n, _)| n.as_str() == name).map(|(_, op)| op.node.ty)
        }
    }
}

/// What a panic carried, for the log.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

fn internal_error(request_id: &str) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new("internal error", None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", async_graphql::Value::Enum(async_graphql::Name::new(ErrorCode::Internal.name())));
    extensions.set("requestId", request_id);
    error.extensions = Some(extensions);
    error
}

/// Every error of a response as a client may see it: internal ones carry
/// the request id (the log has the cause under the same id), and no
/// message repeats more than `MAX_ERROR_MESSAGE` characters of the input.
fn finish_errors(errors: &mut [async_graphql::ServerError], request_id: &str) {
    for error in errors {
        if let Some((cut, _)) = error.message.char_indices().nth(MAX_ERROR_MESSAGE) {
            error.message.truncate(cut);
            error.message.push('…');
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        let internal = extensions.get("code").is_some_and(
            |code| matches!(code, async_graphql::Value::Enum(name) if name.as_str() == ErrorCode::Internal.name()),
        );
        if internal {
            extensions.set("requestId", request_id);
            if let Some(trace) = infra::telemetry::trace_id(&tracing::Span::current()) {
                extensions.set("traceId", trace);
            }
        }
    }
}

/// Counts a request, by its first top-level field (schema names only: a
/// request that did not validate is `invalid`), and the codes of the
/// errors it answered, in payloads or as GraphQL errors.
fn record(
    state: &AppState,
    response: &async_graphql::Response,
    request_error: bool,
    document: Option<&async_graphql::parser::types::ExecutableDocument>,
    operation_name: Option<&str>,
    seconds: f64,
) {
    let operation = if request_error { None } else { document.and_then(|d| first_field(d, operation_name)) };
    let mut ok = response.errors.is_empty();
    for error in &response.errors {
        let code = error.extensions.as_ref().and_then(|e| e.get("code")).map(|c| c.to_string());
        state.metrics.user_error(code.as_deref().unwrap_or("REQUEST"));
    }
    if let async_graphql::Value::Object(fields) = &response.data {
        for value in fields.values() {
            let async_graphql::Value::Object(payload) = value else { continue };
            let Some(async_graphql::Value::List(errors)) = payload.get("userErrors") else { continue };
            for error in errors {
                if let async_graphql::Value::Object(error) = error
                    && let Some(async_graphql::Value::Enum(code)) = error.get("code")
                {
                    ok = false;
                    state.metrics.user_error(code.as_str());
                }
            }
        }
    }
    state.metrics.request(operation.as_deref().unwrap_or("invalid"), ok, seconds);
}

/// The name of the first top-level field the operation selects.
fn first_field(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<String> {
    operation_of(document, operation_name)?.node.selection_set.node.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) if field.node.name.node != "__typename" => Some(field.node.name.node.to_string()),
        _ => None,
    })
}

/// Runs an execution, answering `INTERNAL` if it panics.
async fn guarded(
    run: impl std::future::Future<Output = async_graphql::Response>,
    request_id: &str,
) -> async_graphql::Response {
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(panic = panic_message(panic.as_ref()), "a request panicked");
            async_graphql::Response::from_errors(vec![internal_error(request_id)])
        }
    }
}

/// What a request's `Authorization` header holds.
enum Credentials {
    Absent,
    Malformed,
    Bearer(String),
}

fn credentials(req: &HttpRequest) -> Credentials {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Credentials::Absent;
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty() => {
            Credentials::Bearer(secret.trim().to_owned())
        }
        _ => Credentials::Malformed,
    }
}

fn unauthenticated(media: &'static str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "errors": [{ "message": message,
        "extensions": { "code": ErrorCode::Unauthenticated.name() } }] });
    HttpResponse::build(StatusCode::UNAUTHORIZED)
        .insert_header((header::CONTENT_TYPE, media))
        .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"shipmix\""))
        .body(body.to_string())
}

const NO_KEY: &str = "send an API key: Authorization: Bearer <key>";

/// The caller a request acts as, or the 401 it is answered with. Without
/// a key, only introspection is answered, and only where the deployment
/// allows it (`None`: no caller).
async fn authenticate(
    state: &AppState,
    credentials: Credentials,
    document: Option<&async_graphql::parser::types::ExecutableDocument>,
    operation_name: Option<&str>,
    media: &'static str,
) -> Result<Option<domain::access::Caller>, HttpResponse> {
    match credentials {
        Credentials::Bearer(secret) => match state.keys.authenticate(&secret).await {
            Ok(Some(caller)) => Ok(Some(caller)),
            Ok(None) => Err(unauthenticated(media, "unknown or revoked API key")),
            Err(e) => {
                tracing::error!(error = %e, "cannot look up an API key");
                Err(error_body(StatusCode::SERVICE_UNAVAILABLE, media, "cannot check the API key now; retry"))
            }
        },
        Credentials::Malformed => Err(unauthenticated(media, "the Authorization header must be: Bearer <key>")),
        Credentials::Absent => {
            let introspection = document.and_then(|d| operation_of(d, operation_name)).is_some_and(|op| {
                op.node
                    .selection_set
                    .node
                    .items
                    .iter()
                    .all(|item| matches!(&item.node, Selection::Field(f) if f.node.name.node.starts_with("__")))
            });
            if introspection && state.settings.public_introspection {
                Ok(None)
            } else {
                Err(unauthenticated(media, NO_KEY))
            }
        }
    }
}

async fn execute(
    (schema, gate): (&AppSchema, &GateSchema),
    state: &AppState,
    limits: &HttpLimits,
    request: async_graphql::Request,
    credentials: Credentials,
    media: &'static str,
    request_id: &str,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let document = async_graphql::parser::parse_query(&request.query).ok().map(std::sync::Arc::new);
    let operation_name = request.operation_name.clone();
    let caller = match authenticate(state, credentials, document.as_deref(), operation_name.as_deref(), media).await {
        Ok(caller) => caller,
        Err(refused) => {
            state.metrics.user_error(ErrorCode::Unauthenticated.name());
            return refused;
        }
    };
    // The gate parses and validates the request, checks the access table
    // and charges its cost; only a request it lets through runs.
    let mut check = async_graphql::Request::new(request.query.clone()).variables(request.variables.clone());
    check.operation_name = request.operation_name.clone();
    // Parsed once, here, for the gate, the served schema and the answer's
    // order (a document that does not parse is left to the schemas to refuse).
    if let Some(document) = &document {
        check.set_parsed_query(document.as_ref().clone());
        check = check.data(crate::graphql::Parsed(document.clone()));
    }
    if let Some(caller) = &caller {
        check = check.data(caller.clone());
    }
    let verdict = guarded(gate.0.execute(check), request_id).await;
    let mut response = if verdict.errors.is_empty() {
        let mut request = request.data(Loaders::new(&state.store)).data(state.planner.deadline());
        if let Some(document) = &document {
            request.set_parsed_query(document.as_ref().clone());
        }
        let actor = caller.as_ref().map(domain::access::Caller::actor);
        if let Some(caller) = caller {
            request = request.data(caller);
        }
        // Every change the request makes is recorded as the key's.
        let mut response = match actor {
            Some(actor) => guarded(infra::store::acting_as(actor, schema.execute(request)), request_id).await,
            None => guarded(schema.execute(request), request_id).await,
        };
        response.extensions.extend(verdict.extensions);
        response
    } else {
        verdict
    };
    if let Some(document) = &document {
        order_as_asked(&mut response.data, document, operation_name.as_deref());
    }
    finish_errors(&mut response.errors, request_id);
    // A request error (the document did not parse or validate) has no data
    // and errors without a path; field errors always carry one.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    record(
        state,
        &response,
        request_error,
        document.as_deref(),
        operation_name.as_deref(),
        started.elapsed().as_secs_f64(),
    );
    // A request its key's bucket could not pay: 429, and when to retry.
    let throttled = response.errors.iter().find_map(|e| {
        let extensions = e.extensions.as_ref()?;
        let code = extensions.get("code")?;
        if !matches!(code, async_graphql::Value::Enum(name) if name.as_str() == ErrorCode::Throttled.name()) {
            return None;
        }
        match extensions.get("retryAfterMs") {
            Some(async_graphql::Value::Number(ms)) => Some(ms.as_i64().unwrap_or(i64::MAX)),
            _ => Some(i64::MAX),
        }
    });
    if let Some(retry_after_ms) = throttled {
        let body = serde_json::to_string(&response).unwrap_or_default();
        let seconds = (retry_after_ms.max(0) as u64).div_ceil(1_000).max(1);
        return HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
            .insert_header((header::CONTENT_TYPE, media))
            .insert_header((header::RETRY_AFTER, seconds.to_string()))
            .body(body);
    }
    // Serialized straight from the response, which keeps fields in the
    // order the query selected them.
    let (status, body) = if request_error {
        let status = if media == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        (status, serde_json::to_string(&serde_json::json!({ "errors": response.errors })))
    } else {
        (StatusCode::OK, serde_json::to_string(&response))
    };
    match body {
        Ok(body) if body.len() > limits.max_response_bytes => {
            tracing::warn!(bytes = body.len(), limit = limits.max_response_bytes, "response above the limit refused");
            let message = format!(
                "the response would be {} bytes, above the limit of {}: select fewer fields or smaller pages",
                body.len(),
                limits.max_response_bytes
            );
            let body = serde_json::json!({ "data": null, "errors": [{ "message": message,
                "extensions": { "code": ErrorCode::ResponseTooLarge.name() } }] });
            HttpResponse::build(StatusCode::OK).insert_header((header::CONTENT_TYPE, media)).body(body.to_string())
        }
        Ok(body) => HttpResponse::build(status).insert_header((header::CONTENT_TYPE, media)).body(body),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize a GraphQL response");
            error_body(StatusCode::INTERNAL_SERVER_ERROR, media, "internal error")
        }
    }
}

/// Reads a body of at most `limit` bytes that must arrive within
/// `timeout`: 413 beyond the limit, 408 when the client stalls.
async fn read_body(
    mut payload: web::Payload,
    limits: &HttpLimits,
    media: &'static str,
) -> Result<web::BytesMut, HttpResponse> {
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| bad_request(media, &e))?;
            if body.len() + chunk.len() > limits.max_body_bytes {
                let message = format!("the body is larger than {} bytes", limits.max_body_bytes);
                return Err(error_body(StatusCode::PAYLOAD_TOO_LARGE, media, &message));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(read) => read,
        Err(_) => Err(error_body(StatusCode::REQUEST_TIMEOUT, media, "the body did not arrive in time")),
    }
}

/// The operation a request runs, parsed once for the response's order and
/// the metrics.
fn operation_of<'d>(
    document: &'d async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d Positioned<async_graphql::parser::types::OperationDefinition>> {
    match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops.get(name),
            None if ops.len() == 1 => ops.values().next(),
            None => None,
        },
    }
}

/// Puts every object of `data` in the order its selection set asks for.
/// async-graphql resolves a query's fields concurrently and assembles each
/// object in the order they finish, while the GraphQL spec orders a
/// response by the query. Type conditions are not looked at: a key's place
/// is its first appearance in the selection set with its fragments
/// expanded, which only differs from the spec when fragments on different
/// types select the same keys in different orders.
fn order_as_asked(
    data: &mut async_graphql::Value,
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) {
    if let Some(operation) = operation_of(document, operation_name) {
        let plan = KeyOrder::of(&[&operation.node.selection_set.node], &document.fragments, &mut Vec::new());
        plan.apply(data);
    }
}

type Fragments = std::collections::HashMap<async_graphql::Name, Positioned<FragmentDefinition>>;

/// The response keys of a selection, fragments expanded, in order of first
/// appearance, each with the order of its own selection: built once per
/// request and applied to every object (and every item of a list) it shapes.
struct KeyOrder<'a> {
    keys: Vec<(&'a str, KeyOrder<'a>)>,
}

impl<'a> KeyOrder<'a> {
    fn of(sets: &[&'a SelectionSet], fragments: &'a Fragments, expanding: &mut Vec<&'a str>) -> Self {
        let mut fields: Vec<(&'a str, Vec<&'a SelectionSet>)> = Vec::new();
        collect(sets, fragments, expanding, &mut fields);
        let keys =
            fields.into_iter().map(|(key, children)| (key, KeyOrder::of(&children, fragments, expanding))).collect();
        Self { keys }
    }

    fn apply(&self, value: &mut async_graphql::Value) {
        match value {
            async_graphql::Value::List(items) => items.iter_mut().for_each(|item| self.apply(item)),
            async_graphql::Value::Object(map) => {
                let rank = |key: &str| self.keys.iter().position(|(k, _)| *k == key).unwrap_or(usize::MAX);
                // Most objects already are in order: those are left as they are.
                let ordered = map.keys().map(|k| rank(k.as_str())).is_sorted();
                if !ordered {
                    map.sort_by_cached_key(|k, _| rank(k.as_str()));
                }
                for (key, child) in map.iter_mut() {
                    if let Some((_, order)) = self.keys.iter().find(|(k, _)| *k == key.as_str()) {
                        order.apply(child);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The fields of `sets`, fragments expanded, by response key in order of
/// first appearance, with the selection sets each key's fields select.
fn collect<'a>(
    sets: &[&'a SelectionSet],
    fragments: &'a Fragments,
    expanding: &mut Vec<&'a str>,
    out: &mut Vec<(&'a str, Vec<&'a SelectionSet>)>,
) {
    for set in sets {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.as_str();
                    let child = &field.node.selection_set.node;
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, children)) => children.push(child),
                        None => out.push((key, vec![child])),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    collect(&[&fragment.node.selection_set.node], fragments, expanding, out);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    // A fragment already being expanded would recurse
                    // forever; validation refuses such cycles anyway.
                    if expanding.contains(&name) {
                        continue;
                    }
                    if let Some(fragment) = fragments.get(name) {
                        expanding.push(name);
                        collect(&[&fragment.node.selection_set.node], fragments, expanding, out);
                        expanding.pop();
                    }
                }
            }
        }
    }
}

/// Runs a handler inside the request's span and answers its id.
async fn traced(req: &HttpRequest, handle: impl AsyncFnOnce(&str) -> HttpResponse) -> HttpResponse {
    let id = request_id(req);
    let span = tracing::info_span!("request", request_id = %id, trace_id = tracing::field::Empty);
    let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok());
    infra::telemetry::continue_trace(&span, traceparent);
    if let Some(trace) = infra::telemetry::trace_id(&span) {
        span.record("trace_id", trace.as_str());
    }
    let mut response = handle(&id).instrument(span).await;
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
    }
    response
}

pub(crate) async fn graphql_post(
    req: HttpRequest,
    payload: web::Payload,
    schema: web::Data<AppSchema>,
    gate: web::Data<GateSchema>,
    state: web::Data<AppState>,
    limits: web::Data<HttpLimits>,
) -> HttpResponse {
    traced(&req, async |request_id| {
        let Some(media) = negotiate(&req) else {
            return error_body(
                StatusCode::NOT_ACCEPTABLE,
                JSON,
                "accept application/graphql-response+json or application/json",
            );
        };
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.to_ascii_lowercase().starts_with(JSON) {
            return error_body(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, "send the request as application/json");
        }
        let body = match read_body(payload, &limits, media).await {
            Ok(body) => body,
            Err(refused) => return refused,
        };
        let request = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value) if !value.get("query").is_some_and(serde_json::Value::is_string) => {
                return bad_request(media, &"no \"query\" string");
            }
            Ok(value) => serde_json::from_value::<async_graphql::Request>(value),
            Err(e) => Err(e),
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                return bad_request(media, &e);
            }
        };
        execute((&schema, &gate), &state, &limits, request, credentials(&req), media, request_id).await
    })
    .await
}

pub(crate) async fn graphql_get(
    req: HttpRequest,
    schema: web::Data<AppSchema>,
    gate: web::Data<GateSchema>,
    state: web::Data<AppState>,
    limits: web::Data<HttpLimits>,
) -> HttpResponse {
    traced(&req, async |request_id| {
        if req.query_string().is_empty() && wants_html(&req) {
            // The page holds no data; it is served where introspection is
            // public, and its headers pane is where the key goes.
            if !state.settings.public_introspection {
                return unauthenticated(JSON, NO_KEY);
            }
            let page = GraphiQLSource::build().endpoint("/graphql").title("shipmix").finish();
            return HttpResponse::Ok().content_type(ContentType::html()).body(page);
        }
        let Some(media) = negotiate(&req) else {
            return error_body(
                StatusCode::NOT_ACCEPTABLE,
                JSON,
                "accept application/graphql-response+json or application/json",
            );
        };
        let request = match async_graphql::http::parse_query_string(req.query_string()) {
            Ok(request) if request.query.is_empty() => {
                return bad_request(media, &"no query parameter");
            }
            Ok(request) => request,
            Err(e) => {
                return bad_request(media, &e);
            }
        };
        if operation_type(&request) == Some(OperationType::Mutation) {
            return HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, Method::POST.as_str()))
                .insert_header((header::CONTENT_TYPE, media))
                .body(
                    serde_json::json!({ "errors": [{ "message": "mutations must be sent with POST" }] }).to_string(),
                );
        }
        execute((&schema, &gate), &state, &limits, request, credentials(&req), media, request_id).await
    })
    .await
}

/// CORS for browser storefronts: the origins a deployment allows (none by
/// default) get the headers a browser needs, and preflight requests an
/// answer; any other origin gets no CORS header, so its browser refuses.
pub(crate) fn allowed_origin(state: &AppState, headers: &header::HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let allowed = &state.settings.cors_origins;
    allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)).then(|| origin.to_owned())
}

/// `OPTIONS /graphql`: the methods, and for an allowed origin's preflight
/// what it may send (the origin itself is added with every answer's CORS
/// headers).
pub(crate) async fn graphql_options(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    response.insert_header((header::ALLOW, "GET, POST, OPTIONS"));
    if allowed_origin(&state, req.headers()).is_some() {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "authorization, content-type, accept, x-request-id, traceparent",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
    }
    response.finish()
}

/// The CORS headers of an answer to an allowed origin.
pub(crate) fn with_cors(headers: &mut actix_web::http::header::HeaderMap, origin: &str) {
    if let Ok(value) = header::HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, header::HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::HeaderValue::from_static("x-request-id, retry-after"),
        );
    }
}

pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("ok")
}

/// Prometheus metrics, the gauges read now.
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = state.cache.counts();
    let text = state.metrics.render((counts.hits.load(Relaxed), counts.misses.load(Relaxed)), state.store.pool_use());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text)
}

/// Ready when the database answers. Redis is reported beside it but does
/// not make the gateway unready: the cache is best effort, and reads go to
/// the database while it is away.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (database, redis) = futures_util::join!(state.store.ping(), state.cache.ping());
    let database_ok = match database {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            false
        }
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = serde_json::json!({
        "status": if database_ok { "ready" } else { "unavailable" },
        "database": word(database_ok),
        "redis": redis.map_or("not configured", word),
    });
    let status = if database_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    HttpResponse::build(status).content_type(ContentType::json()).body(body.to_string())
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn fine(&self) -> i32 {
            1
        }

        async fn broken(&self) -> i32 {
            let stored: Vec<i32> = Vec::new();
            stored[3]
        }
    }

    #[tokio::test]
    async fn a_panicking_resolver_answers_internal_and_the_next_request_is_served() {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let mut answer = guarded(schema.execute("{ fine broken }"), "req-1").await;
        finish_errors(&mut answer.errors, "req-1");
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            json["errors"],
            serde_json::json!([{ "message": "internal error", "extensions": { "code": "INTERNAL", "requestId": "req-1" } }])
        );
        let next = guarded(schema.execute("{ fine }"), "req-2").await;
        assert_eq!(serde_json::to_value(&next).unwrap(), serde_json::json!({ "data": { "fine": 1 } }));
    }

    #[test]
    fn objects_come_back_in_the_order_of_the_query() {
        let query = "query { b: x { z y ...F } a: x { y } } fragment F on X { w y }";
        let mut data = async_graphql::Value::from_json(serde_json::json!({
            "a": { "y": 1 }, "b": [{ "w": 1, "y": 2, "z": 3 }]
        }))
        .unwrap();
        order_as_asked(&mut data, &async_graphql::parser::parse_query(query).unwrap(), None);
        assert_eq!(serde_json::to_string(&data).unwrap(), r#"{"b":[{"z":3,"y":2,"w":1}],"a":{"y":1}}"#);
    }

    #[tokio::test]
    async fn a_request_continues_the_callers_trace_and_answers_its_id() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = infra::telemetry::subscriber(infra::telemetry::LogStyle::Text, std::io::sink, Some(&provider));
        let _default = tracing::subscriber::set_default(subscriber);
        let req = actix_web::test::TestRequest::default()
            .insert_header(("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
            .insert_header(("x-request-id", "abc-1"))
            .to_http_request();
        let response = traced(&req, async |id| {
            let trace = infra::telemetry::trace_id(&tracing::Span::current()).unwrap_or_default();
            HttpResponse::Ok().body(format!("{id} {trace}"))
        })
        .await;
        assert_eq!(response.headers().get("x-request-id").unwrap(), "abc-1");
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        assert_eq!(body, "abc-1 4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn error_messages_are_cut_and_internal_ones_carry_the_request_id() {
        let mut errors = vec![async_graphql::ServerError::new("x".repeat(5_000), None), internal_error("a")];
        finish_errors(&mut errors, "req-9");
        assert_eq!(errors[0].message.chars().count(), MAX_ERROR_MESSAGE + 1);
        let id = errors[1].extensions.as_ref().and_then(|e| e.get("requestId")).cloned();
        assert_eq!(id, Some(async_graphql::Value::from("req-9")));
    }
}
