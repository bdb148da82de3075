//! Products as the sourcing engine sees them: a sku and a quantity.
//!
//! Names, prices and substitutes belong to the catalog the gateway stores;
//! sourcing needs only to know which units of which sku are asked for.

use std::fmt;

use thiserror::Error;

/// The longest sku accepted; long enough for GTINs and partner prefixes, short
/// enough to index cheaply.
pub const MAX_SKU_LEN: usize = 64;

/// A stock keeping unit: 1 to 64 characters of ASCII letters, digits, `-`,
/// `_`, `.` or `/`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid sku {value:?}: {reason}")]
pub struct InvalidSku {
    value: String,
    reason: &'static str,
}

impl Sku {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidSku> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("must not be empty")
        } else if value.len() > MAX_SKU_LEN {
            Some("must be at most 64 characters")
        } else if !value.bytes().all(is_code_byte) {
            Some("may hold only ASCII letters, digits, '-', '_', '.' and '/'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidSku { value, reason }),
            None => Ok(Self(value)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn is_code_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/')
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sku({})", self.0)
    }
}

/// A positive number of units. Zero is not a quantity anyone orders; an empty
/// line is an input error, not a line that ships nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid quantity {0}: must be a whole number of units from 1 to 1000000")]
pub struct InvalidQuantity(pub i64);

impl Quantity {
    pub fn new(units: i64) -> Result<Self, InvalidQuantity> {
        match u32::try_from(units) {
            Ok(u) if (1..=crate::limits::MAX_UNITS).contains(&u) => Ok(Self(u)),
            _ => Err(InvalidQuantity(units)),
        }
    }

    pub fn units(self) -> u32 {
        self.0
    }
}

/// One line of an order: so many units of one sku.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    sku: Sku,
    quantity: Quantity,
}

impl OrderLine {
    pub fn new(sku: Sku, quantity: Quantity) -> Self {
        Self { sku, quantity }
    }

    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_rejects_empty_long_and_odd_characters() {
        assert!(Sku::new("SKU-001/a.b_c").is_ok());
        assert_eq!(Sku::new("").unwrap_err().reason, "must not be empty");
        assert!(Sku::new("x".repeat(65)).is_err());
        assert!(Sku::new("x".repeat(64)).is_ok());
        let err = Sku::new("has space").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sku \"has space\": may hold only ASCII letters, digits, '-', '_', '.' and '/'"
        );
    }

    #[test]
    fn quantity_must_be_positive_and_fit_u32() {
        assert_eq!(Quantity::new(3).unwrap().units(), 3);
        assert_eq!(Quantity::new(0), Err(InvalidQuantity(0)));
        assert_eq!(Quantity::new(-2), Err(InvalidQuantity(-2)));
        assert!(Quantity::new(i64::from(u32::MAX) + 1).is_err());
        assert!(Quantity::new(i64::from(crate::limits::MAX_UNITS)).is_ok());
        assert!(Quantity::new(i64::from(crate::limits::MAX_UNITS) + 1).is_err());
    }
}
