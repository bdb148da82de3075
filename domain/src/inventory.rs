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

    /// `max(0, onHand − reserved − safetyStock)`. Reserved never stays above
    /// what is on hand (a short count is re-sourced in the transaction that
    /// records it), but in that transaction it is for a moment, and nothing
    /// of such a level is for sale.
    pub fn available(self) -> u32 {
        let held = u64::from(self.reserved) + u64::from(self.safety_stock);
        u32::try_from(u64::from(self.on_hand).saturating_sub(held)).expect("at most on_hand")
    }
}

/// Units reserved at a level for one order's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub id: i64,
    /// The order's queue priority (higher is served first).
    pub priority: i32,
    pub placed_at_ms: i64,
    pub units: u32,
}

/// A warehouse counted `counted` units where `reserved` are promised: the
/// reservations that lose their units, and how many each. The
/// lowest-priority, newest reservations give theirs up first, so the
/// shoppers who have waited longest keep what they were promised.
pub fn shortfall(reserved: u32, counted: u32, mut held: Vec<Reservation>) -> Vec<(i64, u32)> {
    let mut missing = reserved.saturating_sub(counted);
    held.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.placed_at_ms), std::cmp::Reverse(r.id)));
    let mut out = Vec::new();
    for r in held {
        if missing == 0 {
            break;
        }
        let take = r.units.min(missing);
        if take > 0 {
            out.push((r.id, take));
            missing -= take;
        }
    }
    out
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

    #[test]
    fn a_short_count_takes_units_from_the_lowest_priority_newest_reservations() {
        let r = |id, priority, placed_at_ms, units| Reservation { id, priority, placed_at_ms, units };
        let held = vec![r(1, 0, 100, 3), r(2, 0, 200, 2), r(3, 5, 300, 4), r(4, 0, 150, 1)];
        // 10 reserved, 6 counted: 4 missing, taken from order 2, then 4, then 1.
        assert_eq!(shortfall(10, 6, held.clone()), vec![(2, 2), (4, 1), (1, 1)]);
        assert_eq!(shortfall(10, 10, held.clone()), vec![]);
        assert_eq!(shortfall(10, 12, held.clone()), vec![]);
        // Nothing left on the shelf: everyone loses, the priority order last.
        assert_eq!(shortfall(10, 0, held), vec![(2, 2), (4, 1), (1, 3), (3, 4)]);
    }
}
