//! What a request must pass before it runs: the access table
//! (`crate::access`) and its key's cost bucket (`crate::throttle`).
//!
//! The gate is a second schema, identical to the served one but with this
//! extension, that parses and validates a request and then stops, never
//! resolving a field: async-graphql calls every installed extension around
//! every field it resolves, which cut availability's throughput by more
//! than half, so the served schema has none. The gate sees the document
//! and its computed complexity (the request's cost), decides, and hands the
//! served schema a request known to be allowed and paid for.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextRequest, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Response, ServerError, ValidationResult, Value};
use domain::access::Caller;

use crate::error::ErrorCode;
use crate::state::AppState;
use crate::throttle::Charge;

pub(crate) struct Gate;

impl ExtensionFactory for Gate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GateCheck::default())
    }
}

/// The request's document as the HTTP layer parsed it, handed to the gate
/// as request data rather than copied again inside it.
pub struct Parsed(pub Arc<ExecutableDocument>);

#[derive(Default)]
struct GateCheck {
    complexity: Mutex<usize>,
    report: Mutex<Option<Value>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `extensions.cost`, its keys in the order clients know them in.
fn report(cost: u64, ran: bool, charge: Charge) -> Value {
    let object = |pairs: Vec<(&str, Value)>| {
        Value::Object(pairs.into_iter().map(|(k, v)| (async_graphql::Name::new(k), v)).collect())
    };
    let status = match charge {
        Charge::Unlimited => Value::Null,
        Charge::Paid { left, size } | Charge::Refused { available: left, size, .. } => object(vec![
            ("maximumAvailable", Value::from(size.size)),
            ("currentlyAvailable", Value::from(left.max(0.0).floor() as u64)),
            ("restoreRate", Value::from(size.per_second)),
        ]),
    };
    object(vec![
        ("requestedQueryCost", Value::from(cost)),
        ("actualQueryCost", if ran { Value::from(cost) } else { Value::Null }),
        ("throttleStatus", status),
    ])
}

fn error(code: ErrorCode, message: String, path: Vec<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    error.path = path.into_iter().map(async_graphql::PathSegment::Field).collect();
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", Value::Enum(async_graphql::Name::new(code.name())));
    error.extensions = Some(extensions);
    error
}

#[async_trait::async_trait]
impl Extension for GateCheck {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        if let Some(cost) = lock(&self.report).take() {
            response.extensions.insert("cost".to_owned(), cost);
        }
        response
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        *lock(&self.complexity) = result.complexity;
        Ok(result)
    }

    /// Decides instead of executing: never calls `next`.
    async fn execute(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>, _: NextExecute<'_>) -> Response {
        let caller = ctx.data_opt::<Caller>();
        // Every request the HTTP layer sends here comes with its document.
        let Some(Parsed(document)) = ctx.data_opt::<Parsed>() else { return Response::new(Value::Null) };
        let operation = match &document.operations {
            DocumentOperations::Single(op) => Some(op),
            DocumentOperations::Multiple(ops) => operation_name.and_then(|n| ops.get(n)),
        };
        if let Some(operation) = operation
            && let Some((path, field)) = crate::access::refused_field(
                &ctx.schema_env.registry,
                document,
                &operation.node,
                caller.map(Caller::role),
            )
        {
            let who =
                caller.map_or_else(|| "a request without a key".to_owned(), |c| format!("a key of role {}", c.role()));
            return Response::from_errors(vec![error(
                ErrorCode::Forbidden,
                format!("{who} may not use {field}"),
                path,
            )]);
        }
        let (Some(state), Some(caller)) = (ctx.data_opt::<AppState>(), caller) else {
            return Response::new(Value::Null);
        };
        let cost = *lock(&self.complexity) as u64;
        let charge = state.throttle.charge(&state.cache, caller.key_id, caller.role(), cost).await;
        let refused = matches!(charge, Charge::Refused { .. });
        *lock(&self.report) = Some(report(cost, !refused, charge));
        let Charge::Refused { retry_after_ms, .. } = charge else { return Response::new(Value::Null) };
        let message = if retry_after_ms == i64::MAX {
            format!("this request costs {cost} points, more than this key's bucket holds: ask for less")
        } else {
            format!("this request costs {cost} points; this key's bucket has them again in {retry_after_ms} ms")
        };
        let mut throttled = error(ErrorCode::Throttled, message, Vec::new());
        if let Some(extensions) = throttled.extensions.as_mut() {
            extensions.set("retryAfterMs", retry_after_ms.min(i64::from(i32::MAX)));
        }
        Response::from_errors(vec![throttled])
    }
}
