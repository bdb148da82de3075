//! The network as the sourcing engine sees it: warehouses with a location, a
//! shipping rate and a priority, and the units of each sku each can sell now.
//!
//! "Available" here is already `max(0, onHand − reserved − safetyStock)`; how
//! it is derived from stored levels is the gateway's business. Inactive
//! warehouses are simply not part of the network handed to the engine.

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

use crate::catalog::{Sku, is_code_byte};
use crate::geo::GeoPoint;
use crate::money::ShippingRate;

/// A warehouse code such as `WH001`: 1 to 32 ASCII letters, digits, `-`, `_`,
/// `.` or `/`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WarehouseCode(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid warehouse code {value:?}: must be 1 to 32 ASCII letters, digits, '-', '_', '.' or '/'")]
pub struct InvalidWarehouseCode {
    value: String,
}

impl WarehouseCode {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidWarehouseCode> {
        let value = value.into();
        if value.is_empty() || value.len() > 32 || !value.bytes().all(is_code_byte) {
            return Err(InvalidWarehouseCode { value });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WarehouseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WarehouseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WarehouseCode({})", self.0)
    }
}

/// A warehouse as sourcing needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Warehouse {
    code: WarehouseCode,
    location: GeoPoint,
    rate: ShippingRate,
    priority: i32,
}

impl Warehouse {
    /// `priority`: lower is preferred when everything else ties.
    pub fn new(code: WarehouseCode, location: GeoPoint, rate: ShippingRate, priority: i32) -> Self {
        Self { code, location, rate, priority }
    }

    pub fn code(&self) -> &WarehouseCode {
        &self.code
    }

    pub fn location(&self) -> GeoPoint {
        self.location
    }

    pub fn rate(&self) -> &ShippingRate {
        &self.rate
    }

    pub fn priority(&self) -> i32 {
        self.priority
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetworkError {
    #[error("warehouse {0} appears more than once")]
    DuplicateWarehouse(WarehouseCode),
    #[error("unknown warehouse {0}")]
    UnknownWarehouse(WarehouseCode),
}

/// Index of a warehouse in a [`Network`]. Indices follow the deterministic
/// tie-break order (priority, then code), so comparing indices compares
/// preference.
pub type WarehouseIndex = usize;

/// Warehouses and the units each can sell now, per sku.
#[derive(Debug, Clone, Default)]
pub struct Network {
    // Invariant: sorted by (priority, code); codes unique.
    warehouses: Vec<Warehouse>,
    by_code: HashMap<WarehouseCode, WarehouseIndex>,
    // Invariant: per sku, sorted by warehouse index, no zero quantities, no
    // index twice.
    stock: HashMap<Sku, Vec<(WarehouseIndex, u32)>>,
}

impl Network {
    pub fn new(mut warehouses: Vec<Warehouse>) -> Result<Self, NetworkError> {
        warehouses.sort_by(|a, b| (a.priority, &a.code).cmp(&(b.priority, &b.code)));
        let mut by_code = HashMap::with_capacity(warehouses.len());
        for (index, w) in warehouses.iter().enumerate() {
            if by_code.insert(w.code.clone(), index).is_some() {
                return Err(NetworkError::DuplicateWarehouse(w.code.clone()));
            }
        }
        Ok(Self { warehouses, by_code, stock: HashMap::new() })
    }

    /// Warehouses in tie-break order.
    pub fn warehouses(&self) -> &[Warehouse] {
        &self.warehouses
    }

    pub fn warehouse(&self, index: WarehouseIndex) -> &Warehouse {
        &self.warehouses[index]
    }

    pub fn index_of(&self, code: &WarehouseCode) -> Option<WarehouseIndex> {
        self.by_code.get(code).copied()
    }

    /// Sets the units of `sku` that `code` can sell now (an absolute level).
    pub fn set_available(&mut self, code: &WarehouseCode, sku: Sku, units: u32) -> Result<(), NetworkError> {
        let index = self.index_of(code).ok_or_else(|| NetworkError::UnknownWarehouse(code.clone()))?;
        self.set_available_at(index, sku, units);
        Ok(())
    }

    fn set_available_at(&mut self, index: WarehouseIndex, sku: Sku, units: u32) {
        let entries = self.stock.entry(sku).or_default();
        match entries.binary_search_by_key(&index, |&(w, _)| w) {
            Ok(pos) if units == 0 => {
                entries.remove(pos);
            }
            Ok(pos) => entries[pos].1 = units,
            Err(_) if units == 0 => {}
            Err(pos) => entries.insert(pos, (index, units)),
        }
    }

    /// Units of `sku` that `code` can sell now; zero for anything unknown.
    pub fn available(&self, code: &WarehouseCode, sku: &Sku) -> u32 {
        let Some(index) = self.index_of(code) else {
            return 0;
        };
        self.stock_of(sku).iter().find(|&&(w, _)| w == index).map_or(0, |&(_, units)| units)
    }

    /// Where `sku` can be had: (warehouse index, units), in index order.
    pub fn stock_of(&self, sku: &Sku) -> &[(WarehouseIndex, u32)] {
        self.stock.get(sku).map_or(&[], Vec::as_slice)
    }

    pub fn total_available(&self, sku: &Sku) -> u64 {
        self.stock_of(sku).iter().map(|&(_, u)| u64::from(u)).sum()
    }

    /// Takes `units` of `sku` from a warehouse, as a committed shipment does.
    /// Saturates at zero: what was planned against this network never asks
    /// for more than it holds.
    pub fn take(&mut self, index: WarehouseIndex, sku: &Sku, units: u32) {
        let left =
            self.stock_of(sku).iter().find(|&&(w, _)| w == index).map_or(0, |&(_, have)| have.saturating_sub(units));
        self.set_available_at(index, sku.clone(), left);
    }

    /// Skus with stock somewhere, sorted.
    pub fn skus(&self) -> Vec<&Sku> {
        let mut skus: Vec<&Sku> = self.stock.iter().filter(|(_, v)| !v.is_empty()).map(|(s, _)| s).collect();
        skus.sort();
        skus
    }

    /// Number of distinct skus with stock somewhere.
    pub fn sku_count(&self) -> usize {
        self.stock.values().filter(|v| !v.is_empty()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn wh(code: &str, priority: i32) -> Warehouse {
        Warehouse::new(
            WarehouseCode::new(code).unwrap(),
            GeoPoint::new(0.0, 0.0).unwrap(),
            ShippingRate::new(Decimal::ONE, Decimal::ZERO).unwrap(),
            priority,
        )
    }

    #[test]
    fn warehouses_are_ordered_by_priority_then_code() {
        let net = Network::new(vec![wh("B", 1), wh("A", 2), wh("C", 1)]).unwrap();
        let codes: Vec<_> = net.warehouses().iter().map(|w| w.code().as_str()).collect();
        assert_eq!(codes, ["B", "C", "A"]);
    }

    #[test]
    fn duplicate_codes_and_unknown_warehouses_are_errors() {
        let dup = Network::new(vec![wh("A", 1), wh("A", 2)]).unwrap_err();
        assert_eq!(dup.to_string(), "warehouse A appears more than once");
        let mut net = Network::new(vec![wh("A", 1)]).unwrap();
        let err = net.set_available(&WarehouseCode::new("Z").unwrap(), Sku::new("S").unwrap(), 3).unwrap_err();
        assert_eq!(err.to_string(), "unknown warehouse Z");
        assert_eq!(net.total_available(&Sku::new("S").unwrap()), 0);
    }

    #[test]
    fn levels_are_absolute_and_take_saturates() {
        let mut net = Network::new(vec![wh("A", 1), wh("B", 1)]).unwrap();
        let (a, sku) = (WarehouseCode::new("A").unwrap(), Sku::new("S").unwrap());
        net.set_available(&a, sku.clone(), 5).unwrap();
        net.set_available(&a, sku.clone(), 7).unwrap();
        assert_eq!(net.available(&a, &sku), 7);
        net.take(0, &sku, 10);
        assert_eq!(net.available(&a, &sku), 0);
        assert!(net.stock_of(&sku).is_empty());
        assert_eq!(
            WarehouseCode::new("").unwrap_err().to_string(),
            "invalid warehouse code \"\": must be 1 to 32 ASCII letters, digits, '-', '_', '.' or '/'"
        );
    }
}
