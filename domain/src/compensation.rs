//! Compensation: exact-money credits on an order, for delays or by goodwill.

use rust_decimal::Decimal;
use thiserror::Error;

use crate::money::Money;

/// What an agent grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A fixed amount.
    Amount(Money),
    /// A percentage of the order's total (merchandise plus shipping).
    Percentage(Decimal),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidCompensation {
    #[error("a compensation amount must be positive, got {0}")]
    NotPositive(Money),
    #[error("a compensation percentage must be above 0 and at most 100, got {0}")]
    Percentage(Decimal),
    #[error("credits would exceed the order total: {remaining} left of {total}, asked {asked}")]
    ExceedsTotal { total: Money, remaining: Money, asked: Money },
}

/// One line as an order's total counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BilledLine {
    pub unit_price: Money,
    pub quantity: u32,
    /// Cancelled and substituted units are not paid for (a substitute line
    /// is billed at its own price).
    pub cancelled: u32,
    pub substituted: u32,
}

/// What an order adds up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderTotals {
    /// Σ units still owed × unit price.
    pub merchandise: Money,
    pub shipping: Money,
    /// What the partial-shipment policy charged for extra packages.
    pub partial_shipment_charge: Money,
    pub compensation: Money,
    /// merchandise + shipping + partial-shipment charge − compensation.
    pub total: Money,
}

impl OrderTotals {
    pub fn add_up(lines: &[BilledLine], shipping: Money, partial_shipment_charge: Money, credits: &[Money]) -> Self {
        let merchandise: Money = lines
            .iter()
            .map(|l| {
                let owed = l.quantity.saturating_sub(l.cancelled).saturating_sub(l.substituted);
                Money::new(l.unit_price.amount() * Decimal::from(owed))
            })
            .sum();
        let compensation: Money = credits.iter().copied().sum();
        OrderTotals {
            merchandise,
            shipping,
            partial_shipment_charge,
            compensation,
            total: merchandise + shipping + partial_shipment_charge - compensation,
        }
    }

    /// What credits are measured against: the order before any credit.
    pub fn before_credits(&self) -> Money {
        self.total + self.compensation
    }

    /// Credit above what the order is still worth, which a cancellation or
    /// a cheaper substitute leaves behind: the part of earlier credits to
    /// reverse so that the total is zero rather than negative.
    pub fn excess_credit(&self) -> Option<Money> {
        (self.total < Money::ZERO).then(|| Money::ZERO - self.total)
    }

    /// The credit `grant` gives on this order (see [`credit`]).
    pub fn credit(&self, grant: Grant) -> Result<Money, InvalidCompensation> {
        credit(grant, self.before_credits(), self.compensation)
    }
}

/// The credit a grant gives on an order of `total` that has been credited
/// `credited` so far, rounded to cents. Credits never exceed the total.
pub fn credit(grant: Grant, total: Money, credited: Money) -> Result<Money, InvalidCompensation> {
    let asked = match grant {
        Grant::Amount(amount) if amount <= Money::ZERO => return Err(InvalidCompensation::NotPositive(amount)),
        Grant::Amount(amount) => amount.round_to_cents(),
        Grant::Percentage(p) if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED => {
            return Err(InvalidCompensation::Percentage(p));
        }
        Grant::Percentage(p) => Money::new(total.amount() * p / Decimal::ONE_HUNDRED).round_to_cents(),
    };
    let remaining = total - credited;
    if asked > remaining || asked <= Money::ZERO {
        return Err(InvalidCompensation::ExceedsTotal { total, remaining, asked });
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::new(s.parse().unwrap())
    }

    #[test]
    fn an_order_owes_its_units_left_plus_shipping_less_credits() {
        let lines = [
            BilledLine { unit_price: m("10.00"), quantity: 3, cancelled: 1, substituted: 0 },
            BilledLine { unit_price: m("2.50"), quantity: 2, cancelled: 0, substituted: 2 },
            BilledLine { unit_price: m("3.00"), quantity: 2, cancelled: 0, substituted: 0 },
        ];
        let totals = OrderTotals::add_up(&lines, m("7.00"), m("4.95"), &[m("1.00"), m("0.50")]);
        assert_eq!(totals.merchandise, m("26.00"));
        assert_eq!(totals.compensation, m("1.50"));
        assert_eq!(totals.total, m("36.45"));
        assert_eq!(totals.before_credits(), m("37.95"));
        assert_eq!(totals.credit(Grant::Amount(m("36.45"))), Ok(m("36.45")));
        assert!(totals.credit(Grant::Amount(m("36.46"))).is_err(), "never more than what is left");
    }

    #[test]
    fn a_cancellation_leaves_no_credit_above_what_is_owed() {
        let line = |cancelled| BilledLine { unit_price: m("10.00"), quantity: 3, cancelled, substituted: 0 };
        let credited = OrderTotals::add_up(&[line(0)], m("5.00"), Money::ZERO, &[m("35.00")]);
        assert_eq!(credited.total, Money::ZERO);
        assert_eq!(credited.excess_credit(), None);
        let cancelled = OrderTotals::add_up(&[line(3)], m("5.00"), Money::ZERO, &[m("35.00")]);
        assert_eq!(cancelled.excess_credit(), Some(m("30.00")));
        let reversed = OrderTotals::add_up(&[line(3)], m("5.00"), Money::ZERO, &[m("35.00"), m("-30.00")]);
        assert_eq!((reversed.total, reversed.excess_credit()), (Money::ZERO, None));
    }

    #[test]
    fn credits_are_exact_and_bounded_by_the_order_total() {
        assert_eq!(credit(Grant::Amount(m("5")), m("100"), Money::ZERO), Ok(m("5.00")));
        assert_eq!(credit(Grant::Percentage("12.5".parse().unwrap()), m("99.99"), Money::ZERO), Ok(m("12.50")));
        assert_eq!(
            credit(Grant::Percentage("100".parse().unwrap()), m("10"), m("4")).unwrap_err().to_string(),
            "credits would exceed the order total: 6.00 left of 10.00, asked 10.00"
        );
        assert_eq!(
            credit(Grant::Amount(m("-1")), m("10"), Money::ZERO).unwrap_err().to_string(),
            "a compensation amount must be positive, got -1.00"
        );
        assert!(credit(Grant::Percentage("0".parse().unwrap()), m("10"), Money::ZERO).is_err());
        assert!(credit(Grant::Percentage("100.01".parse().unwrap()), m("10"), Money::ZERO).is_err());
        assert!(credit(Grant::Amount(m("10.01")), m("10"), Money::ZERO).is_err());
    }
}
