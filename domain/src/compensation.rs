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
