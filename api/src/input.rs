//! What callers send, parsed into domain values at the edge ("parse, don't
//! validate"). Knows nothing of GraphQL: every use case validates its own
//! input with these, so one rule (a positive quantity, a reason's length, an
//! id's form) is written once and reads the same in every operation. Every
//! failure is a typed user error naming its field.

use domain::ids::InvalidId;
use domain::{Sku, WarehouseCode};

use crate::error::{ApiError, ErrorCode, UserError};

/// Longest free text (a reason, a note) a caller may attach.
pub const MAX_TEXT: usize = 500;
/// Longest tracking number.
pub const MAX_TRACKING: usize = 100;

fn at(code: ErrorCode, message: impl Into<String>, field: &[&str]) -> ApiError {
    ApiError::User(UserError::new(code, message).at(field))
}

pub fn sku(value: &str, field: &[&str]) -> Result<Sku, ApiError> {
    Sku::new(value).map_err(|e| at(ErrorCode::InvalidInput, e.to_string(), field))
}

pub fn warehouse_code(value: &str, field: &[&str]) -> Result<WarehouseCode, ApiError> {
    WarehouseCode::new(value).map_err(|e| at(ErrorCode::InvalidInput, e.to_string(), field))
}

/// An object's id, typed by `make` (`OrderId::new`, …); `what` carries its
/// article ("an order", "a shipment").
pub fn id<T>(value: &str, what: &str, make: impl Fn(i64) -> Result<T, InvalidId>) -> Result<T, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .and_then(|id| make(id).ok())
        .ok_or_else(|| ApiError::user(ErrorCode::InvalidInput, format!("{value:?} is not {what} id")))
}

/// A batch of 1 to `max` `what` (levels, products) in one call.
pub fn batch(len: usize, max: usize, what: &str) -> Result<(), ApiError> {
    if len == 0 || len > max {
        return Err(at(ErrorCode::InvalidInput, format!("send between 1 and {max} {what}"), &["input"]));
    }
    Ok(())
}

/// A number of units that must be at least one.
pub fn units(value: i32, field: &[&str]) -> Result<u32, ApiError> {
    u32::try_from(value).ok().filter(|&v| v > 0).ok_or_else(|| {
        let name = field.last().copied().unwrap_or("quantity");
        at(ErrorCode::BadQuantity, format!("{name} must be positive, got {value}"), field)
    })
}

/// A count that may be zero (a level, a safety stock).
pub fn count(value: i32, field: &[&str]) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| {
        let name = field.last().copied().unwrap_or("count");
        at(ErrorCode::BadQuantity, format!("{name} must not be negative, got {value}"), field)
    })
}

/// Free text, trimmed: `default` when omitted, 1 to `max` characters.
pub fn text(value: Option<&str>, default: &str, max: usize, field: &[&str]) -> Result<String, ApiError> {
    let value = value.map(str::trim).unwrap_or(default);
    let name = field.last().copied().unwrap_or("text");
    if value.is_empty() || value.chars().count() > max {
        return Err(at(ErrorCode::InvalidInput, format!("{name} must be 1 to {max} characters"), field));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: ApiError) -> (ErrorCode, String) {
        match e {
            ApiError::User(u) => (u.code, u.message),
            other => panic!("not a user error: {other:?}"),
        }
    }

    #[test]
    fn every_rule_names_the_field_it_refuses() {
        assert_eq!(units(3, &["quantity"]).unwrap(), 3);
        assert_eq!(
            message(units(0, &["quantity"]).unwrap_err()),
            (ErrorCode::BadQuantity, "quantity must be positive, got 0".into())
        );
        assert_eq!(message(count(-1, &["input", "0", "onHand"]).unwrap_err()).1, "onHand must not be negative, got -1");
        assert_eq!(count(0, &["onHand"]).unwrap(), 0);
        assert_eq!(text(None, "by request", MAX_TEXT, &["reason"]).unwrap(), "by request");
        assert_eq!(text(Some("  late  "), "", MAX_TEXT, &["reason"]).unwrap(), "late");
        assert_eq!(
            message(text(Some(" "), "x", MAX_TEXT, &["reason"]).unwrap_err()).1,
            "reason must be 1 to 500 characters"
        );
        assert!(text(Some(&"é".repeat(MAX_TEXT)), "", MAX_TEXT, &["note"]).is_ok(), "characters, not bytes");
        assert!(text(Some(&"a".repeat(MAX_TEXT + 1)), "", MAX_TEXT, &["note"]).is_err());
        use domain::ids::{OrderId, OrderLineId};
        assert!(batch(1, 5, "levels").is_ok() && batch(5, 5, "levels").is_ok());
        assert_eq!(message(batch(0, 5, "levels").unwrap_err()).1, "send between 1 and 5 levels");
        assert_eq!(message(batch(6, 5, "products").unwrap_err()).1, "send between 1 and 5 products");
        assert_eq!(id("42", "an order", OrderId::new).unwrap().get(), 42);
        assert_eq!(
            message(id("x1", "an order line", OrderLineId::new).unwrap_err()).1,
            "\"x1\" is not an order line id"
        );
        assert!(id("-3", "an order", OrderId::new).is_err(), "ids are positive");
    }
}
