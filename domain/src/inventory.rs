//! Stock levels: what a warehouse holds of a sku and how much of it can be
//! sold.

use thiserror::Error;

/// Units of one sku at one warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StockLevel {
    on_hand: u32,
    reserved: u32,
    safety_stock: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidStockLevel {
    #[error("onHand {0} must be a whole number from 0 to 4294967295")]
    OnHand(i64),
    #[error("safetyStock {0} must be a whole number from 0 to 4294967295")]
    SafetyStock(i64),
    #[error("reserved {0} must be a whole number from 0 to 4294967295")]
    Reserved(i64),
}

impl StockLevel {
    pub fn new(on_hand: i64, reserved: i64, safety_stock: i64) -> Result<Self, InvalidStockLevel> {
        Ok(Self {
            on_hand: u32::try_from(on_hand).map_err(|_| InvalidStockLevel::OnHand(on_hand))?,
            reserved: u32::try_from(reserved).map_err(|_| InvalidStockLevel::Reserved(reserved))?,
            safety_stock: u32::try_from(safety_stock).map_err(|_| InvalidStockLevel::SafetyStock(safety_stock))?,
        })
    }

    pub fn on_hand(self) -> u32 {
        self.on_hand
    }

    pub fn reserved(self) -> u32 {
        self.reserved
    }

    pub fn safety_stock(self) -> u32 {
        self.safety_stock
    }

    /// `max(0, onHand − reserved − safetyStock)`. Reserved may exceed what is
    /// on hand after a recount lowers it; nothing more is sold then, and the
    /// gap is the partner's to resolve.
    pub fn available(self) -> u32 {
        let held = u64::from(self.reserved) + u64::from(self.safety_stock);
        u32::try_from(u64::from(self.on_hand).saturating_sub(held)).expect("at most on_hand")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_is_what_is_neither_reserved_nor_held_back() {
        assert_eq!(StockLevel::new(10, 3, 2).unwrap().available(), 5);
        assert_eq!(StockLevel::new(4, 3, 2).unwrap().available(), 0);
        assert_eq!(StockLevel::new(2, 5, 0).unwrap().available(), 0);
        assert_eq!(StockLevel::new(-1, 0, 0), Err(InvalidStockLevel::OnHand(-1)));
        assert_eq!(StockLevel::new(1, 0, -3), Err(InvalidStockLevel::SafetyStock(-3)));
    }
}
