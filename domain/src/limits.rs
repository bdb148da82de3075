//! The range of every number the gateway accepts.
//!
//! Each bound is far beyond what a real network needs and small enough that
//! no sum or product the gateway forms of values inside them can overflow:
//! a line's value (`MAX_UNITS × MAX_UNIT_PRICE`) and an order's (at most
//! `MAX_ORDER_VALUE`) fit in the stored micro-units of an `i64` with room to
//! spare, two levels of `MAX_ON_HAND` add up inside an `i32`, and the last
//! day is a date every calendar library can print. Inputs are checked
//! against these at the edge; stored values outside them (a hand-edited
//! database) are clamped on read rather than allowed to fail it.

use rust_decimal::Decimal;

/// Units on one order line, one receipt, one adjustment or one short pick.
pub const MAX_UNITS: u32 = 1_000_000;
/// A stock level's on-hand and safety stock, one receipt or expected
/// receipt, and what a receipt may bring a level to.
pub const MAX_ON_HAND: u32 = 1_000_000_000;

/// A unit price.
pub const MAX_UNIT_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// What an order's merchandise may add up to.
pub const MAX_ORDER_VALUE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// A warehouse's fixed cost per shipment.
pub const MAX_BASE_COST: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);
/// A warehouse's cost per kilometre.
pub const MAX_COST_PER_KM: Decimal = Decimal::from_parts(1_000, 0, 0, false, 0);
/// A fixed compensation: never more than an order can be worth.
pub const MAX_CREDIT: Decimal = MAX_ORDER_VALUE;
/// Decimal places a price, cost or credit may carry (what is stored).
pub const MAX_MONEY_PLACES: u32 = 6;

/// A product's supplier lead time: ten years.
pub const MAX_LEAD_TIME_DAYS: u32 = 3_650;
/// A warehouse's handling time: a year.
pub const MAX_HANDLING_DAYS: u32 = 365;
/// How far ahead an expected receipt may be dated: ten years.
pub const MAX_RECEIPT_HORIZON_DAYS: u32 = 3_650;

/// Warehouse preference (lower first) and backorder priority (higher
/// first) both lie in `-MAX_PRIORITY..=MAX_PRIORITY`.
pub const MAX_PRIORITY: i32 = 1_000_000;

/// A stock feed's sequence number: a counter or a Unix time (in
/// milliseconds, even), up to the largest integer every JSON client reads
/// exactly (2^53 − 1); negative numbers are refused.
pub const MAX_SEQUENCE: i64 = (1 << 53) - 1;

/// The last calendar day an estimate may name: 9999-12-31. Day arithmetic
/// saturates here, so an estimate of absurd lead times stays a date.
pub const LAST_DAY: i32 = 2_932_896;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_sum_of_values_in_range_overflows() {
        let micros = Decimal::from(1_000_000);
        let line = Decimal::from(MAX_UNITS) * MAX_UNIT_PRICE;
        assert!(line * micros < Decimal::from(i64::MAX), "a line's value fits in stored micros");
        assert!(MAX_ORDER_VALUE * micros * Decimal::from(100) < Decimal::from(i64::MAX));
        assert!(i64::from(MAX_ON_HAND) * 2 < i64::from(i32::MAX), "a receipt onto a full level fits in i32");
        assert_eq!(MAX_UNIT_PRICE, Decimal::from(1_000_000));
        assert_eq!(MAX_COST_PER_KM, Decimal::from(1_000));
    }
}
