//! Reading stock levels, and the snapshot sourcing plans from: on the pool
//! for quotes and reads, or inside a write transaction that holds the
//! products' locks, where what is read cannot move before it commits.

use std::collections::{HashMap, HashSet};

use domain::inventory::StockLevel;
use domain::{Network, Sku, WarehouseCode};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{ProductRecord, Store, StoreError, WarehouseRecord};
use crate::db::entity::{stock_level, warehouse};

/// One warehouse's level of one sku.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationStock {
    pub warehouse_id: i64,
    pub warehouse: WarehouseCode,
    pub level: StockLevel,
    pub version: i64,
    pub feed_sequence: Option<i64>,
}

/// A sku's levels at every active warehouse that has a level for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuStock {
    pub sku: Sku,
    pub product_id: i64,
    /// In warehouse code order.
    pub locations: Vec<LocationStock>,
}

impl SkuStock {
    pub fn total_available(&self) -> u64 {
        self.locations.iter().map(|l| u64::from(l.level.available())).sum()
    }
}

/// The version of one stock row a plan read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StockVersion {
    pub warehouse_id: i64,
    pub product_id: i64,
    pub version: i64,
}

/// Everything sourcing needs for a set of skus, read at one moment.
#[derive(Debug, Clone)]
pub struct SourcingSnapshot {
    pub network: Network,
    pub warehouses: Vec<WarehouseRecord>,
    pub products: Vec<ProductRecord>,
    /// Stock rows read, sorted; with each warehouse's version, what a plan
    /// token pins.
    pub versions: Vec<StockVersion>,
}

impl SourcingSnapshot {
    pub fn warehouse(&self, code: &WarehouseCode) -> Option<&WarehouseRecord> {
        self.warehouses.iter().find(|w| &w.code == code)
    }

    pub fn product(&self, sku: &Sku) -> Option<&ProductRecord> {
        self.products.iter().find(|p| &p.sku == sku)
    }

    /// A fingerprint of what the plan depended on: stock versions and
    /// warehouse versions (tariffs, locations, activity).
    pub fn fingerprint(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.versions.len() * 3 + self.warehouses.len() * 2);
        for v in &self.versions {
            out.extend([v.warehouse_id, v.product_id, v.version]);
        }
        let mut ws: Vec<(i64, i64)> = self.warehouses.iter().map(|w| (w.id, w.version)).collect();
        ws.sort_unstable();
        for (id, version) in ws {
            out.extend([id, version]);
        }
        out
    }
}

/// The active ones among warehouses `ids`, by id.
pub(super) async fn active_warehouses<C: ConnectionTrait>(
    db: &C,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, warehouse::Model>, StoreError> {
    let ids: Vec<i64> = ids.collect::<HashSet<_>>().into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(warehouse::Entity::find()
        .filter(warehouse::Column::Id.is_in(ids))
        .filter(warehouse::Column::Active.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|w| (w.id, w))
        .collect())
}

/// Levels of each sku at active warehouses, in the order asked, read on
/// `db` (the pool, or a transaction holding the products' locks).
pub(super) async fn stock_of<C: ConnectionTrait>(db: &C, skus: &[Sku]) -> Result<Vec<SkuStock>, StoreError> {
    let products = super::catalog::products_by_sku(db, &skus.iter().map(Sku::as_str).collect::<Vec<_>>()).await?;
    let mut by_sku: HashMap<&str, i64> = HashMap::new();
    for p in &products {
        by_sku.insert(p.sku.as_str(), p.id);
    }
    if let Some(missing) = skus.iter().find(|s| !by_sku.contains_key(s.as_str())) {
        return Err(StoreError::UnknownSku(missing.to_string()));
    }
    let rows = stock_level::Entity::find()
        .filter(stock_level::Column::ProductId.is_in(by_sku.values().copied()))
        .all(db)
        .await?;
    let warehouses = active_warehouses(db, rows.iter().map(|r| r.warehouse_id)).await?;
    let mut per_product: HashMap<i64, Vec<LocationStock>> = HashMap::new();
    for row in rows {
        let Some(w) = warehouses.get(&row.warehouse_id) else {
            continue;
        };
        let level = StockLevel::new(row.on_hand, row.reserved, row.safety_stock)
            .map_err(|e| StoreError::Invariant(format!("stored level out of range: {e}")))?;
        per_product.entry(row.product_id).or_default().push(LocationStock {
            warehouse_id: w.id,
            warehouse: super::stored::warehouse_code(w.code.clone())?,
            level,
            version: row.version,
            feed_sequence: row.feed_sequence,
        });
    }
    Ok(skus
        .iter()
        .map(|sku| {
            let product_id = by_sku[sku.as_str()];
            // A sku no warehouse has a level for is in stock nowhere.
            let mut locations = per_product.remove(&product_id).unwrap_or_default();
            locations.sort_by(|a, b| a.warehouse.cmp(&b.warehouse));
            SkuStock { sku: sku.clone(), product_id, locations }
        })
        .collect())
}

/// Builds a snapshot from levels (fresh, or from the cache), with warehouse
/// records from `known` when given, else from the database.
pub async fn snapshot_from(
    store: &Store,
    stock: Vec<SkuStock>,
    known: Option<&crate::cache::Warehouses>,
) -> Result<SourcingSnapshot, StoreError> {
    snapshot_on(&store.db, stock, known).await
}

/// [`snapshot_from`], reading on `db`.
pub(super) async fn snapshot_on<C: ConnectionTrait>(
    db: &C,
    stock: Vec<SkuStock>,
    known: Option<&crate::cache::Warehouses>,
) -> Result<SourcingSnapshot, StoreError> {
    let skus: Vec<&str> = stock.iter().map(|s| s.sku.as_str()).collect();
    let products = super::catalog::products_by_sku(db, &skus).await?;
    let ids: Vec<i64> = stock
        .iter()
        .flat_map(|s| s.locations.iter().map(|l| l.warehouse_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let records = match known {
        Some(view) => ids.iter().filter_map(|&id| view.by_id(id).cloned()).collect(),
        None => super::network::warehouses_by_id(db, &ids).await?,
    };
    let warehouses: Vec<WarehouseRecord> = records.into_iter().filter(|w| w.active).collect();
    let mut network = Network::new(warehouses.iter().map(WarehouseRecord::to_domain).collect())
        .map_err(|e| StoreError::Invariant(e.to_string()))?;
    let mut versions = Vec::new();
    for sku_stock in &stock {
        for location in &sku_stock.locations {
            if !warehouses.iter().any(|w| w.id == location.warehouse_id) {
                continue;
            }
            network
                .set_available(&location.warehouse, sku_stock.sku.clone(), location.level.available())
                .map_err(|e| StoreError::Invariant(e.to_string()))?;
            versions.push(StockVersion {
                warehouse_id: location.warehouse_id,
                product_id: sku_stock.product_id,
                version: location.version,
            });
        }
    }
    versions.sort_unstable();
    Ok(SourcingSnapshot { network, warehouses, products, versions })
}
