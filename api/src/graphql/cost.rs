//! Every request's calculated cost, charged to its key's bucket once the
//! document validated (`crate::throttle`), and reported in
//! `extensions.cost` of every answer, throttled or not.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextValidation};
use async_graphql::{Response, ServerError, ValidationResult, Value};
use domain::access::Caller;

use crate::error::ErrorCode;
use crate::state::AppState;
use crate::throttle::Charge;

pub(crate) struct Cost;

impl ExtensionFactory for Cost {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostCheck { report: Mutex::new(None) })
    }
}

struct CostCheck {
    report: Mutex<Option<Value>>,
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

#[async_trait::async_trait]
impl Extension for CostCheck {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        if let Some(cost) = self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
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
        let (Some(state), Some(caller)) = (ctx.data_opt::<AppState>(), ctx.data_opt::<Caller>()) else {
            return Ok(result);
        };
        let cost = result.complexity as u64;
        let charge = state.throttle.charge(&state.cache, caller.key_id, caller.role(), cost).await;
        let refused = matches!(charge, Charge::Refused { .. });
        *self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(report(cost, !refused, charge));
        let Charge::Refused { retry_after_ms, .. } = charge else { return Ok(result) };
        let message = if retry_after_ms == i64::MAX {
            format!("this request costs {cost} points, more than this key's bucket holds: ask for less")
        } else {
            format!("this request costs {cost} points; this key's bucket has them again in {retry_after_ms} ms")
        };
        let mut error = ServerError::new(message, None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", Value::Enum(async_graphql::Name::new(ErrorCode::Throttled.name())));
        extensions.set("retryAfterMs", retry_after_ms.min(i64::from(i32::MAX)));
        error.extensions = Some(extensions);
        Err(vec![error])
    }
}
