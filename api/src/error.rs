//! The one error type of the API and the table of client-visible codes.
//!
//! A client's mistake becomes a `UserError` with a stable code (in mutation
//! payloads, or as a GraphQL error with `extensions.code` in queries). Our own
//! failures are logged with their cause chain and shown only as
//! "internal error".

use async_graphql::{Enum, ErrorExtensions, SimpleObject};
use infra::store::StoreError;

/// Every code a client can see. Stable: clients switch on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ErrorCode {
    /// The input is malformed in a way no more specific code covers.
    InvalidInput,
    UnknownSku,
    UnknownWarehouse,
    /// A quantity is zero, negative or too large.
    BadQuantity,
    /// A latitude or longitude is off the globe.
    BadCoordinates,
    /// The stock a plan token relied on changed; a fresh plan is attached.
    StalePlan,
    /// The plan token is malformed or belongs to another request.
    InvalidPlanToken,
    /// The idempotency key was used before with a different request.
    IdempotencyConflict,
    /// Units of a product that cannot be backordered are not in stock.
    NotBackorderable,
    /// Too many placements raced for the same stock; retry.
    Contention,
    UnknownBackorder,
    UnknownShipment,
    UnknownOrder,
    UnknownOrderLine,
    UnknownSubstitution,
    /// Units that already left the warehouse cannot be cancelled.
    AlreadyShipped,
    /// The object is not in a state that allows this, e.g. confirming a
    /// cancelled backorder.
    InvalidTransition,
    /// The answer would exceed the response size limit; ask for less.
    ResponseTooLarge,
    /// No API key, a malformed `Authorization` header, or a key that is
    /// unknown or revoked (HTTP 401).
    Unauthenticated,
    /// The key's role may not use this operation or field.
    Forbidden,
    /// The key's cost budget cannot pay for this request now (HTTP 429).
    Throttled,
    /// A line's unit price is not the catalog's; the current price is in
    /// the message: quote again.
    PriceChanged,
    UnknownKey,
    Internal,
}

impl ErrorCode {
    /// The GraphQL name, e.g. `UNKNOWN_SKU`.
    pub fn name(self) -> &'static str {
        <Self as async_graphql::resolver_utils::EnumType>::items()
            .iter()
            .find(|item| item.value == self)
            .map_or("INTERNAL", |item| item.name)
    }
}

/// A typed error in a mutation payload.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct UserError {
    pub code: ErrorCode,
    pub message: String,
    /// Path to the offending input field, e.g. `["lines", "2", "quantity"]`.
    pub field: Vec<String>,
}

impl UserError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: Vec::new() }
    }

    pub fn at(mut self, field: &[&str]) -> Self {
        self.field = field.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", .0.message)]
    User(UserError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn user(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::User(UserError::new(code, message))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::User(e) => e.code,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Logs internal errors with their cause chain (once, where they surface).
    pub fn log(self) -> Self {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error.cause_chain = ?e, "internal error");
        }
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownSku(sku) => ApiError::user(ErrorCode::UnknownSku, format!("unknown sku {sku}")),
            StoreError::UnknownWarehouse(code) => {
                ApiError::user(ErrorCode::UnknownWarehouse, format!("unknown warehouse {code}"))
            }
            StoreError::IdempotencyConflict(key) => ApiError::user(
                ErrorCode::IdempotencyConflict,
                format!("idempotency key {key:?} was already used with a different request"),
            ),
            StoreError::Invalid(message) => ApiError::user(ErrorCode::InvalidInput, message),
            StoreError::OutOfRange(message) => ApiError::user(ErrorCode::BadQuantity, message),
            // Row numbers stay inside: clients know these by their public ids.
            StoreError::UnknownShipment(_) => ApiError::user(ErrorCode::UnknownShipment, "unknown shipment"),
            StoreError::UnknownKey(id) => ApiError::user(ErrorCode::UnknownKey, format!("unknown API key {id}")),
            StoreError::UnknownOrder(_) => ApiError::user(ErrorCode::UnknownOrder, "unknown order"),
            StoreError::UnknownLine(_) => ApiError::user(ErrorCode::UnknownOrderLine, "unknown order line"),
            StoreError::UnknownSubstitution(_) => {
                ApiError::user(ErrorCode::UnknownSubstitution, "unknown substitution")
            }
            StoreError::AlreadyShipped(message) => ApiError::user(ErrorCode::AlreadyShipped, message),
            StoreError::Conflict(message) => ApiError::user(ErrorCode::InvalidTransition, message),
            StoreError::UnknownBackorder(_) => ApiError::user(ErrorCode::UnknownBackorder, "unknown backorder"),
            StoreError::InvalidTransition(e) => ApiError::user(ErrorCode::InvalidTransition, e.to_string()),
            StoreError::StockMoved => ApiError::user(ErrorCode::Contention, "stock moved; retry"),
            StoreError::Database(e) => ApiError::Internal(anyhow::Error::new(e)),
            e @ StoreError::Invariant(_) => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        self.extend_with(|err, e| {
            // The enum's GraphQL name, e.g. UNKNOWN_SKU.
            e.set("code", async_graphql::Value::Enum(async_graphql::Name::new(err.code().name())));
        })
    }
}

/// Splits a result for a mutation payload: user errors go to `userErrors`,
/// internal ones become a GraphQL error.
pub fn into_payload<T>(result: Result<T, ApiError>) -> async_graphql::Result<(Option<T>, Vec<UserError>)> {
    match result {
        Ok(value) => Ok((Some(value), Vec::new())),
        Err(ApiError::User(e)) => Ok((None, vec![e])),
        Err(e) => Err(e.log().extend()),
    }
}
