//! The HTTP surface: `/graphql` (GraphQL over HTTP), `/healthz`, `/readyz`.
//!
//! The GraphQL handler is our own rather than the stock actix one, which
//! answers `application/graphql-response+json` with 200 whatever `Accept`
//! says. Here, per the GraphQL-over-HTTP spec: the response type is
//! negotiated from `Accept` (406 if neither JSON type is acceptable);
//! queries work over GET and POST, mutations only over POST (405 on GET);
//! a body that is not a GraphQL request is 400; a document that does not
//! parse or validate is 400 under `application/graphql-response+json` and
//! 200 with `errors` under `application/json`; bodies above the limit are 413.

use actix_web::http::header::{self, ContentType};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};

use crate::graphql::{AppSchema, Loaders};
use crate::state::AppState;

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

async fn execute(
    schema: &AppSchema,
    state: &AppState,
    request: async_graphql::Request,
    media: &'static str,
) -> HttpResponse {
    let response = schema.execute(request.data(Loaders::new(&state.store))).await;
    // A request error (the document did not parse or validate) has no data
    // and errors without a path; field errors always carry one.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    // Serialized straight from the response, which keeps fields in the
    // order the query selected them.
    let (status, body) = if request_error {
        let status = if media == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        (status, serde_json::to_string(&serde_json::json!({ "errors": response.errors })))
    } else {
        (StatusCode::OK, serde_json::to_string(&response))
    };
    match body {
        Ok(body) => HttpResponse::build(status).insert_header((header::CONTENT_TYPE, media)).body(body),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize a GraphQL response");
            error_body(StatusCode::INTERNAL_SERVER_ERROR, media, "internal error")
        }
    }
}

pub(crate) async fn graphql_post(
    req: HttpRequest,
    body: web::Bytes,
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
) -> HttpResponse {
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
    execute(&schema, &state, request, media).await
}

pub(crate) async fn graphql_get(
    req: HttpRequest,
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if req.query_string().is_empty() && wants_html(&req) {
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
            .body(serde_json::json!({ "errors": [{ "message": "mutations must be sent with POST" }] }).to_string());
    }
    execute(&schema, &state, request, media).await
}

pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("ok")
}

/// Ready when the database answers.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type(ContentType::plaintext()).body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            HttpResponse::ServiceUnavailable().content_type(ContentType::plaintext()).body("database unavailable")
        }
    }
}
