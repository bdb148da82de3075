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
        Self(self.0.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    /// Whole cents, for the optimizer's integer arithmetic. Amounts are
    /// rounded to cents first; `None` only past ±92 quadrillion.
    pub fn to_cents(self) -> Option<i64> {
        let cents = self.round_to_cents().0.checked_mul(Decimal::ONE_HUNDRED)?;
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
        Ok(Self { base: Money::new(base), per_km })
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

    /// [`cost`](Self::cost) for a distance in whole metres, in integer
    /// arithmetic: the optimizer prices every candidate warehouse of every
    /// order, and decimal rounding would dominate its run time.
    pub fn cost_at_meters(&self, meters: u64) -> Money {
        self.cents_at_meters(meters)
            .map(Money::from_cents)
            .unwrap_or_else(|| self.cost(Decimal::new(i64::try_from(meters).unwrap_or(i64::MAX), 3)))
    }

    /// `base + per_km × meters / 1000` scaled to a common exponent as i128,
    /// then rounded half away from zero to cents (both terms are
    /// non-negative, so that is half up). `None` on overflow, which only
    /// absurd tariffs reach.
    pub fn cents_at_meters(&self, meters: u64) -> Option<i64> {
        let (base, per_km) = (self.base.amount(), self.per_km);
        let scale = base.scale().max(per_km.scale() + 3).max(MONEY_SCALE);
        let pow = |e: u32| 10i128.checked_pow(e);
        let base_part = base.mantissa().checked_mul(pow(scale - base.scale())?)?;
        let distance_part =
            per_km.mantissa().checked_mul(i128::from(meters))?.checked_mul(pow(scale - per_km.scale() - 3)?)?;
        let exact = base_part.checked_add(distance_part)?;
        let unit = pow(scale - MONEY_SCALE)?;
        let cents = (exact + unit / 2) / unit;
        i64::try_from(cents).ok()
    }
}

/// Whole metres of a measured distance, the precision costs are priced at.
pub fn distance_meters(km: f64) -> u64 {
    // `as` saturates: a non-finite or negative value, which no distance on
    // earth is, becomes 0 or u64::MAX rather than undefined behaviour.
    (km * 1000.0).round() as u64
}

/// A measured distance in km as a decimal with metre precision.
pub fn distance_to_decimal(km: f64) -> Decimal {
    Decimal::new(i64::try_from(distance_meters(km)).unwrap_or(i64::MAX), 3)
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
        assert_eq!(ShippingRate::new(d("-1"), d("0")), Err(InvalidRate::NegativeBase(d("-1"))));
        assert_eq!(ShippingRate::new(d("1"), d("-0.1")), Err(InvalidRate::NegativePerKm(d("-0.1"))));
        assert!(ShippingRate::new(d("-0"), d("0")).is_ok());
    }

    #[test]
    fn integer_pricing_agrees_with_decimal_pricing() {
        for (base, per_km) in [("5.5", "0.0025"), ("0", "0"), ("4.999", "0.00015"), ("7", "1.5"), ("0.01", "0.123456")]
        {
            let rate = ShippingRate::new(d(base), d(per_km)).unwrap();
            for meters in [0u64, 1, 499, 500, 1_002_000, 1_000_002, 3_853_092, 20_037_508] {
                let km = Decimal::new(meters as i64, 3);
                assert_eq!(rate.cost_at_meters(meters), rate.cost(km), "{base} + {per_km} × {km}");
            }
        }
    }

    #[test]
    fn distances_are_priced_at_metre_precision() {
        assert_eq!(distance_to_decimal(12.345_678), d("12.346"));
        assert_eq!(distance_to_decimal(0.0), d("0"));
        assert_eq!(Money::from_cents(1234).to_string(), "12.34");
        assert_eq!(Money::new(d("3")).to_string(), "3.00");
    }
}
