//! Reading stored columns back into domain values, in one place.
//!
//! Everything was validated on its way in, so a value that does not parse
//! (an unknown status, a negative count, a malformed sku) is a broken
//! invariant — a bug or a hand-edited row — and is reported as one. It is
//! never replaced by a default, which would act on made-up data.

use domain::amend::SubstitutionStatus;
use domain::order::{BackorderStatus, OrderStatus, ShipmentStatus};
use domain::sourcing::SplitPolicy;
use domain::{GeoPoint, Sku, WarehouseCode};

use super::StoreError;

fn broken(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Invariant(format!("stored {what} {value:?} does not parse"))
}

/// A count of units, days or positions (never negative, fits 32 bits).
pub(super) fn count(what: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| broken(what, value))
}

pub(super) fn sku(value: String) -> Result<Sku, StoreError> {
    Sku::new(value.clone()).map_err(|_| broken("sku", value))
}

pub(super) fn warehouse_code(value: String) -> Result<WarehouseCode, StoreError> {
    WarehouseCode::new(value.clone()).map_err(|_| broken("warehouse code", value))
}

pub(super) fn point(latitude: f64, longitude: f64) -> Result<GeoPoint, StoreError> {
    GeoPoint::new(latitude, longitude).map_err(|_| broken("location", (latitude, longitude)))
}

pub(super) fn shipment_status(value: &str) -> Result<ShipmentStatus, StoreError> {
    ShipmentStatus::parse(value).ok_or_else(|| broken("package status", value))
}

pub(super) fn backorder_status(value: &str) -> Result<BackorderStatus, StoreError> {
    BackorderStatus::parse(value).ok_or_else(|| broken("backorder status", value))
}

pub(super) fn order_status(value: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::parse(value).ok_or_else(|| broken("order status", value))
}

pub(super) fn substitution_status(value: &str) -> Result<SubstitutionStatus, StoreError> {
    SubstitutionStatus::parse(value).ok_or_else(|| broken("substitution status", value))
}

pub(super) fn split_policy(value: &str) -> Result<SplitPolicy, StoreError> {
    match value {
        "SHIP_AVAILABLE" => Ok(SplitPolicy::ShipAvailable),
        "SHIP_COMPLETE" => Ok(SplitPolicy::ShipComplete),
        other => Err(broken("order policy", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_value_that_does_not_parse_is_a_broken_invariant() {
        assert_eq!(count("quantity", 3).unwrap(), 3);
        assert!(matches!(count("quantity", -1), Err(StoreError::Invariant(_))));
        assert!(matches!(count("quantity", i64::from(u32::MAX) + 1), Err(StoreError::Invariant(_))));
        assert!(matches!(shipment_status("LOST"), Err(StoreError::Invariant(_))));
        assert!(matches!(backorder_status(""), Err(StoreError::Invariant(_))));
        assert!(matches!(order_status("DONE"), Err(StoreError::Invariant(_))));
        assert!(matches!(split_policy("SHIP_SOME"), Err(StoreError::Invariant(_))));
        assert!(matches!(substitution_status("MAYBE"), Err(StoreError::Invariant(_))));
        assert!(matches!(point(91.0, 0.0), Err(StoreError::Invariant(_))));
        assert!(matches!(sku(String::new()), Err(StoreError::Invariant(_))));
        assert_eq!(split_policy("SHIP_COMPLETE").unwrap(), SplitPolicy::ShipComplete);
    }
}
