//! Stock levels: feeds that set them, and the reads sourcing plans from.

use std::collections::{HashMap, HashSet};

use domain::inventory::StockLevel;
use domain::{Network, Sku, WarehouseCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::locks::Locks;
use super::{ProductRecord, Store, StoreError, WarehouseRecord};
use crate::db::entity::{product, stock_level, warehouse};

/// An absolute stock level from a feed.
#[derive(Debug, Clone)]
pub struct StockInput {
    pub warehouse: WarehouseCode,
    pub sku: Sku,
    pub on_hand: u32,
    /// Left as it is when `None` (zero for a new level).
    pub safety_stock: Option<u32>,
    /// The feed's sequence number or timestamp; a level set by a newer feed
    /// is never overwritten by an older one.
    pub sequence: Option<i64>,
}

/// What a feed row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOutcome {
    Applied {
        version: i64,
    },
    /// A newer feed already set this level.
    IgnoredOlder {
        current_sequence: i64,
    },
}

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

impl Store {
    /// Applies absolute levels from a feed in one transaction. Unknown
    /// warehouses or skus reject the whole batch before anything changes.
    pub async fn set_stock_levels(&self, inputs: &[StockInput]) -> Result<Vec<FeedOutcome>, StoreError> {
        let codes: Vec<String> = inputs.iter().map(|i| i.warehouse.to_string()).collect();
        let skus: Vec<&str> = inputs.iter().map(|i| i.sku.as_str()).collect();
        let txn = self.write().await?;
        let warehouses: HashMap<String, i64> = warehouse::Entity::find()
            .filter(warehouse::Column::Code.is_in(codes.iter().map(String::as_str)))
            .all(&txn)
            .await?
            .into_iter()
            .map(|w| (w.code, w.id))
            .collect();
        let products: HashMap<String, i64> = product::Entity::find()
            .filter(product::Column::Sku.is_in(skus.iter().copied()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|p| (p.sku, p.id))
            .collect();
        let mut seen = HashSet::new();
        for input in inputs {
            if !warehouses.contains_key(input.warehouse.as_str()) {
                return Err(StoreError::UnknownWarehouse(input.warehouse.to_string()));
            }
            if !products.contains_key(input.sku.as_str()) {
                return Err(StoreError::UnknownSku(input.sku.to_string()));
            }
            if !seen.insert((input.warehouse.as_str(), input.sku.as_str())) {
                return Err(StoreError::Invalid(format!(
                    "{} at {} appears twice in one feed",
                    input.sku, input.warehouse
                )));
            }
        }
        let now = self.now_ms();
        // The feed's products, in the lock order, before any level is read:
        // two feeds of one level apply one after the other, each comparing
        // its count with what is reserved as it stands.
        let mut locks = Locks::new();
        let touched: Vec<i64> = inputs.iter().map(|i| products[i.sku.as_str()]).collect();
        locks.products(&txn, &touched).await?;
        let mut outcomes = Vec::with_capacity(inputs.len());
        let mut short = Vec::new();
        for input in inputs {
            let (warehouse_id, product_id) = (warehouses[input.warehouse.as_str()], products[input.sku.as_str()]);
            let existing = stock_level::Entity::find_by_id((warehouse_id, product_id)).one(&txn).await?;
            let outcome = match existing {
                Some(level) => {
                    if let (Some(new), Some(current)) = (input.sequence, level.feed_sequence)
                        && new <= current
                    {
                        outcomes.push(FeedOutcome::IgnoredOlder { current_sequence: current });
                        continue;
                    }
                    let mut update = stock_level::Entity::update_many()
                        .col_expr(stock_level::Column::OnHand, Expr::value(i64::from(input.on_hand)))
                        .col_expr(stock_level::Column::Version, Expr::col(stock_level::Column::Version).add(1))
                        .col_expr(stock_level::Column::UpdatedAtMs, Expr::value(now))
                        .filter(stock_level::Column::WarehouseId.eq(warehouse_id))
                        .filter(stock_level::Column::ProductId.eq(product_id));
                    if let Some(safety) = input.safety_stock {
                        update = update.col_expr(stock_level::Column::SafetyStock, Expr::value(i64::from(safety)));
                    }
                    if let Some(sequence) = input.sequence {
                        update = update.col_expr(stock_level::Column::FeedSequence, Expr::value(sequence));
                    }
                    update.exec(&txn).await?;
                    if level.reserved > i64::from(input.on_hand) {
                        short.push((level.clone(), input.on_hand));
                    }
                    FeedOutcome::Applied { version: level.version + 1 }
                }
                None => {
                    stock_level::Entity::insert(stock_level::ActiveModel {
                        warehouse_id: Set(warehouse_id),
                        product_id: Set(product_id),
                        on_hand: Set(i64::from(input.on_hand)),
                        reserved: Set(0),
                        safety_stock: Set(i64::from(input.safety_stock.unwrap_or(0))),
                        version: Set(1),
                        feed_sequence: Set(input.sequence),
                        updated_at_ms: Set(now),
                    })
                    .exec_without_returning(&txn)
                    .await?;
                    FeedOutcome::Applied { version: 1 }
                }
            };
            outcomes.push(outcome);
        }
        // A count below what is reserved: the missing units are a short pick
        // at that warehouse, re-sourced or backordered now.
        for (level, counted) in &short {
            let moved = super::amend::absorb_shortfall(&txn, &mut locks, level, *counted, now).await?;
            tracing::warn!(
                warehouse_id = level.warehouse_id,
                product_id = level.product_id,
                counted,
                reserved = level.reserved,
                moved,
                "stock feed counted fewer units than were reserved"
            );
        }
        // Arriving units go to confirmed backorders before anyone else sees them.
        super::backorders::allocate_arrivals(&txn, &mut locks, &touched, now).await?;
        txn.commit().await?;
        Ok(outcomes)
    }

    /// Levels of each sku at active warehouses, in the order asked. An unknown
    /// sku is an error.
    pub async fn stock_of(&self, skus: &[Sku]) -> Result<Vec<SkuStock>, StoreError> {
        stock_of(&self.db, skus).await
    }

    /// What sourcing needs to plan `skus`, read from the database.
    pub async fn sourcing_snapshot(&self, skus: &[Sku]) -> Result<SourcingSnapshot, StoreError> {
        let stock = self.stock_of(skus).await?;
        snapshot_from(self, stock, None).await
    }
}

/// The active ones among warehouses `ids`, by id.
pub(super) async fn active_warehouses<C: ConnectionTrait>(
    db: &C,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, warehouse::Model>, StoreError> {
    let ids: Vec<i64> = ids.collect::<HashSet<_>>().into_iter().collect();
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
