//! A deployment's fulfillment policy: the choices of the partial-shipment
//! and backorder playbook that are not made per order.
//!
//! Times are milliseconds since the epoch, passed in by the caller; the
//! domain never reads the clock.

use rust_decimal::Decimal;
use thiserror::Error;

use crate::money::Money;

/// What a split order costs the shopper beyond its first package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartialShipmentCharge {
    /// The merchant pays for extra packages.
    #[default]
    Absorb,
    /// Each package after the first is charged this amount.
    PerExtraPackage(Money),
}

impl PartialShipmentCharge {
    /// The charge for an order that ships in `packages` packages.
    pub fn for_packages(self, packages: usize) -> Money {
        match self {
            PartialShipmentCharge::Absorb => Money::ZERO,
            PartialShipmentCharge::PerExtraPackage(each) => {
                let extra = packages.saturating_sub(1);
                Money::new(each.amount() * Decimal::from(extra as u64))
            }
        }
    }
}

/// A percentage credit for a backorder whose availability estimate slipped
/// more than `threshold_days` past what was promised when it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayCompensation {
    pub threshold_days: u32,
    /// Of the delayed units' merchandise value; above 0, at most 100.
    pub percent: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidPolicy {
    #[error("the charge per extra package must not be negative, got {0}")]
    NegativeCharge(Money),
    #[error("the delay compensation percentage must be above 0 and at most 100, got {0}")]
    Percentage(Decimal),
    #[error("{0} must be positive")]
    ZeroWindow(&'static str),
}

/// The policy of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FulfillmentPolicy {
    pub partial_shipment_charge: PartialShipmentCharge,
    /// How long a backorder may wait before it is overdue; `None`: forever.
    pub max_backorder_ms: Option<i64>,
    /// Overdue backorders are cancelled, not only flagged.
    pub cancel_overdue: bool,
    /// How long a backorder may await the shopper's confirmation before it
    /// expires; `None`: it waits until answered.
    pub unconfirmed_expiry_ms: Option<i64>,
    pub delay_compensation: Option<DelayCompensation>,
}

impl FulfillmentPolicy {
    /// Rejects settings that make no sense.
    pub fn validate(self) -> Result<Self, InvalidPolicy> {
        if let PartialShipmentCharge::PerExtraPackage(each) = self.partial_shipment_charge
            && each < Money::ZERO
        {
            return Err(InvalidPolicy::NegativeCharge(each));
        }
        if let Some(c) = self.delay_compensation
            && (c.percent <= Decimal::ZERO || c.percent > Decimal::ONE_HUNDRED)
        {
            return Err(InvalidPolicy::Percentage(c.percent));
        }
        if self.max_backorder_ms.is_some_and(|ms| ms <= 0) {
            return Err(InvalidPolicy::ZeroWindow("the maximum backorder duration"));
        }
        if self.unconfirmed_expiry_ms.is_some_and(|ms| ms <= 0) {
            return Err(InvalidPolicy::ZeroWindow("the confirmation window"));
        }
        Ok(self)
    }

    /// At `now_ms`, an unconfirmed backorder has expired if it was created
    /// at or before the instant returned; `None` when nothing expires. A
    /// cutoff rather than a predicate, so that a store can find what is due
    /// through an index on creation time.
    pub fn expired_if_created_by(&self, now_ms: i64) -> Option<i64> {
        self.unconfirmed_expiry_ms.map(|window| now_ms.saturating_sub(window))
    }

    /// At `now_ms`, a waiting backorder is overdue if it was created at or
    /// before the instant returned; `None` when nothing goes overdue.
    pub fn overdue_if_created_by(&self, now_ms: i64) -> Option<i64> {
        self.max_backorder_ms.map(|limit| now_ms.saturating_sub(limit))
    }

    /// The credit owed for a backorder worth `value` whose estimate moved
    /// `slipped_days` past its promise, rounded to cents; `None` when the
    /// policy grants nothing for it.
    pub fn delay_credit(&self, slipped_days: i32, value: Money) -> Option<Money> {
        let c = self.delay_compensation?;
        let slipped = u32::try_from(slipped_days).ok()?;
        if slipped <= c.threshold_days {
            return None;
        }
        let amount = Money::new(value.amount() * c.percent / Decimal::ONE_HUNDRED).round_to_cents();
        (amount > Money::ZERO).then_some(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::new(s.parse().unwrap())
    }

    #[test]
    fn extra_packages_are_charged_only_beyond_the_first() {
        let each = PartialShipmentCharge::PerExtraPackage(m("4.95"));
        assert_eq!(each.for_packages(0), Money::ZERO);
        assert_eq!(each.for_packages(1), Money::ZERO);
        assert_eq!(each.for_packages(3), m("9.90"));
        assert_eq!(PartialShipmentCharge::Absorb.for_packages(5), Money::ZERO);
    }

    #[test]
    fn windows_start_at_creation_and_are_inclusive() {
        let policy =
            FulfillmentPolicy { max_backorder_ms: Some(1_000), unconfirmed_expiry_ms: Some(500), ..Default::default() };
        let expired = |created: i64, now: i64| policy.expired_if_created_by(now).is_some_and(|by| created <= by);
        let overdue = |created: i64, now: i64| policy.overdue_if_created_by(now).is_some_and(|by| created <= by);
        assert!(!expired(10_000, 10_499));
        assert!(expired(10_000, 10_500));
        assert!(!overdue(10_000, 10_999));
        assert!(overdue(10_000, 11_000));
        assert_eq!(policy.overdue_if_created_by(i64::MIN + 5), Some(i64::MIN), "never overflows");
        let lenient = FulfillmentPolicy::default();
        assert_eq!(lenient.expired_if_created_by(i64::MAX), None);
        assert_eq!(lenient.overdue_if_created_by(i64::MAX), None);
    }

    #[test]
    fn delay_credit_is_owed_only_past_the_threshold() {
        let policy = FulfillmentPolicy {
            delay_compensation: Some(DelayCompensation { threshold_days: 3, percent: "10".parse().unwrap() }),
            ..Default::default()
        };
        assert_eq!(policy.delay_credit(3, m("50")), None);
        assert_eq!(policy.delay_credit(4, m("50")), Some(m("5.00")));
        assert_eq!(policy.delay_credit(-10, m("50")), None);
        assert_eq!(policy.delay_credit(9, m("0.04")), None, "a credit that rounds to nothing is not issued");
        assert_eq!(FulfillmentPolicy::default().delay_credit(100, m("50")), None);
    }

    #[test]
    fn nonsense_settings_are_rejected() {
        let charge = FulfillmentPolicy {
            partial_shipment_charge: PartialShipmentCharge::PerExtraPackage(m("-1")),
            ..Default::default()
        };
        assert_eq!(
            charge.validate().unwrap_err().to_string(),
            "the charge per extra package must not be negative, got -1.00"
        );
        let percent = FulfillmentPolicy {
            delay_compensation: Some(DelayCompensation { threshold_days: 0, percent: "120".parse().unwrap() }),
            ..Default::default()
        };
        assert!(matches!(percent.validate(), Err(InvalidPolicy::Percentage(_))));
        let window = FulfillmentPolicy { unconfirmed_expiry_ms: Some(0), ..Default::default() };
        assert_eq!(window.validate().unwrap_err().to_string(), "the confirmation window must be positive");
        let overdue = FulfillmentPolicy { max_backorder_ms: Some(-5), ..Default::default() };
        assert!(overdue.validate().is_err());
        assert!(FulfillmentPolicy::default().validate().is_ok());
    }
}
