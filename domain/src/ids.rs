//! The ids of what an order is made of, one type each, so that a line's id
//! can never be passed where a package's is meant. An id is a positive
//! whole number; what it names is the store's to find.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{0} is not an id (ids are positive)")]
pub struct InvalidId(pub i64);

macro_rules! id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            pub fn new(value: i64) -> Result<Self, InvalidId> {
                if value > 0 { Ok(Self(value)) } else { Err(InvalidId(value)) }
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// An order.
    OrderId
);
id!(
    /// One line of an order.
    OrderLineId
);
id!(
    /// A package: the units one warehouse sends for one order.
    ShipmentId
);
id!(
    /// Units of a line waiting for stock.
    BackorderId
);
id!(
    /// A substitution, proposed or applied.
    SubstitutionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive() {
        assert_eq!(OrderId::new(7).unwrap().get(), 7);
        assert_eq!(ShipmentId::new(0), Err(InvalidId(0)));
        assert_eq!(BackorderId::new(-3).unwrap_err().to_string(), "-3 is not an id (ids are positive)");
        assert_eq!(OrderLineId::new(12).unwrap().to_string(), "12");
    }
}
