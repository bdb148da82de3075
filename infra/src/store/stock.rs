//! Stock feeds: absolute levels from a warehouse, the warehouse's truth (a
//! count below what is reserved is a short pick there), and the store's
//! entry points to the reads in `levels`.

use std::collections::{HashMap, HashSet};

use domain::{Sku, WarehouseCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::levels::{SkuStock, SourcingSnapshot, snapshot_from, stock_of};
use super::locks::Locks;
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
