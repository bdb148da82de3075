//! Exact money and the per-shipment shipping cost model.
//!
//! Amounts are decimals, never binary floats: a shipping charge shown to a
//! shopper must add up to the cent. Distances are measured in floating point
//! (trigonometry has no exact form) and rounded to the metre before they meet
//! money, so the same coordinates always price the same.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Sub};

use rust_decimal::{Decimal, RoundingStrategy};
use thiserror::Error;

/// Minor units money is rounded to: cents.
pub const MONEY_SCALE: u32 = 2;

/// An exact amount of money in the network's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn new(amount: Decimal) -> Self {
        Self(amount)
    }

    /// Rounds half away from zero to cents, as invoices do.
    pub fn round_to_cents(self) -> Self {
        Self(
            self.0
                .round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero),
        )
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// Whole cents, for the optimizer's integer arithmetic. Amounts are
    /// rounded to cents first; `None` only past ±92 quadrillion.
    pub fn to_cents(self) -> Option<i64> {
        let cents = self.round_to_cents().0 * Decimal::ONE_HUNDRED;
        i64::try_from(cents.trunc()).ok()
    }

    pub fn from_cents(cents: i64) -> Self {
        Self(Decimal::new(cents, MONEY_SCALE))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always two decimals: "5.50", never "5.5".
        let mut d = self.round_to_cents().0;
        d.rescale(MONEY_SCALE);
        write!(f, "{d}")
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

/// What one shipment from a warehouse costs: `base + per_km × distance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippingRate {
    base: Money,
    per_km: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidRate {
    #[error("base cost {0} must not be negative")]
    NegativeBase(Decimal),
    #[error("cost per km {0} must not be negative")]
    NegativePerKm(Decimal),
}

impl ShippingRate {
    pub fn new(base: Decimal, per_km: Decimal) -> Result<Self, InvalidRate> {
        if base.is_sign_negative() && !base.is_zero() {
            return Err(InvalidRate::NegativeBase(base));
        }
        if per_km.is_sign_negative() && !per_km.is_zero() {
            return Err(InvalidRate::NegativePerKm(per_km));
        }
        Ok(Self {
            base: Money::new(base),
            per_km,
        })
    }

    pub fn base(&self) -> Money {
        self.base
    }

    pub fn per_km(&self) -> Decimal {
        self.per_km
    }

    /// The cost of one shipment over `distance_km`, rounded to cents.
    pub fn cost(&self, distance_km: Decimal) -> Money {
        Money::new(self.base.amount() + self.per_km * distance_km).round_to_cents()
    }
}

/// Rounds a measured distance to the metre, the precision costs are priced at.
pub fn distance_to_decimal(km: f64) -> Decimal {
    // Distances on earth are below 20,040 km, so the conversion cannot fail;
    // zero is the harmless answer if a caller ever passes a non-finite value.
    Decimal::from_f64_retain(km)
        .unwrap_or_default()
        .round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn shipment_cost_is_exact_and_rounded_to_cents() {
        let rate = ShippingRate::new(d("5.5"), d("0.0025")).unwrap();
        // 5.5 + 0.0025 × 1000.002 = 8.000005 → 8.00
        assert_eq!(rate.cost(d("1000.002")).to_string(), "8.00");
        // 5.5 + 0.0025 × 1002 = 8.005 → 8.01 (half away from zero)
        assert_eq!(rate.cost(d("1002")).to_string(), "8.01");
        assert_eq!(rate.cost(d("1002")).to_cents(), Some(801));
    }

    #[test]
    fn negative_rates_are_rejected() {
        assert_eq!(
            ShippingRate::new(d("-1"), d("0")),
            Err(InvalidRate::NegativeBase(d("-1")))
        );
        assert_eq!(
            ShippingRate::new(d("1"), d("-0.1")),
            Err(InvalidRate::NegativePerKm(d("-0.1")))
        );
        assert!(ShippingRate::new(d("-0"), d("0")).is_ok());
    }

    #[test]
    fn distances_are_priced_at_metre_precision() {
        assert_eq!(distance_to_decimal(12.345_678), d("12.346"));
        assert_eq!(distance_to_decimal(0.0), d("0"));
        assert_eq!(Money::from_cents(1234).to_string(), "12.34");
        assert_eq!(Money::new(d("3")).to_string(), "3.00");
    }
}
