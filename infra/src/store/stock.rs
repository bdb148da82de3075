//! Stock feeds: absolute levels from a warehouse, the warehouse's truth (a
//! count below what is reserved is a short pick there), and the store's
//! entry points to the reads in `levels`.

use std::collections::{HashMap, HashSet};

use domain::{Sku, WarehouseCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::levels::{SkuStock, SourcingSnapshot, snapshot_from, stock_of};
use super::locks::Locks;
use super::rows::{LevelChange, StockChange, audit};
use super::{Store, StoreError};
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
            let most = domain::limits::MAX_ON_HAND;
            if input.on_hand > most || input.safety_stock.is_some_and(|s| s > most) {
                return Err(StoreError::OutOfRange(format!(
                    "{} at {}: a level holds at most {most} units",
                    input.sku, input.warehouse
                )));
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
                    let change = LevelChange {
                        on_hand: (level.on_hand, i64::from(input.on_hand)),
                        safety: (level.safety_stock, input.safety_stock.map_or(level.safety_stock, i64::from)),
                        sequence: input.sequence,
                        note: None,
                    };
                    audit(&txn, (warehouse_id, product_id), StockChange::Feed, change, now).await?;
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
                    let change = LevelChange {
                        on_hand: (0, i64::from(input.on_hand)),
                        safety: (0, i64::from(input.safety_stock.unwrap_or(0))),
                        sequence: input.sequence,
                        note: None,
                    };
                    audit(&txn, (warehouse_id, product_id), StockChange::Feed, change, now).await?;
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
    #[tracing::instrument(name = "db.query", skip_all, fields(db.operation = "sourcing_snapshot"))]
    pub async fn sourcing_snapshot(&self, skus: &[Sku]) -> Result<SourcingSnapshot, StoreError> {
        let stock = self.stock_of(skus).await?;
        snapshot_from(self, stock, None).await
    }
}

/// One entry of a level's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChangeRecord {
    pub id: i64,
    pub warehouse: domain::WarehouseCode,
    pub sku: Sku,
    /// `FEED`, `RECEIPT`, `ADJUSTMENT`, `SHIPMENT`, `SHORT_PICK`.
    pub kind: String,
    pub actor: domain::access::Actor,
    pub on_hand: (i64, i64),
    pub safety_stock: (i64, i64),
    pub sequence: Option<i64>,
    pub note: Option<String>,
    pub created_at_ms: i64,
}

impl Store {
    /// A warehouse's stock changes (of one sku, or of all), newest first,
    /// before the change `before`.
    pub async fn stock_changes(
        &self,
        warehouse: &domain::WarehouseCode,
        sku: Option<&Sku>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<StockChangeRecord>, StoreError> {
        use crate::db::entity::{product, stock_change, warehouse as wh};
        use sea_orm::{QueryOrder, QuerySelect};
        let w = wh::Entity::find()
            .filter(wh::Column::Code.eq(warehouse.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::UnknownWarehouse(warehouse.to_string()))?;
        let mut query = stock_change::Entity::find()
            .filter(stock_change::Column::WarehouseId.eq(w.id))
            .order_by_desc(stock_change::Column::Id)
            .limit(limit);
        if let Some(sku) = sku {
            let p = product::Entity::find()
                .filter(product::Column::Sku.eq(sku.as_str()))
                .one(&self.db)
                .await?
                .ok_or_else(|| StoreError::UnknownSku(sku.to_string()))?;
            query = query.filter(stock_change::Column::ProductId.eq(p.id));
        }
        if let Some(before) = before {
            query = query.filter(stock_change::Column::Id.lt(before));
        }
        let rows = query.all(&self.db).await?;
        let product_ids: Vec<i64> = rows.iter().map(|r| r.product_id).collect();
        let skus: std::collections::HashMap<i64, String> = if product_ids.is_empty() {
            Default::default()
        } else {
            product::Entity::find()
                .filter(product::Column::Id.is_in(product_ids))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|p| (p.id, p.sku))
                .collect()
        };
        let code = super::stored::warehouse_code(w.code)?;
        rows.into_iter()
            .map(|r| {
                let sku = skus.get(&r.product_id).cloned().ok_or_else(|| {
                    StoreError::Invariant(format!("stock change {} names missing product {}", r.id, r.product_id))
                })?;
                Ok(StockChangeRecord {
                    id: r.id,
                    warehouse: code.clone(),
                    sku: super::stored::sku(sku)?,
                    kind: r.kind,
                    actor: domain::access::Actor::from_label(&r.actor),
                    on_hand: (r.on_hand_before, r.on_hand_after),
                    safety_stock: (r.safety_before, r.safety_after),
                    sequence: r.sequence,
                    note: r.note,
                    created_at_ms: r.created_at_ms,
                })
            })
            .collect()
    }
}
