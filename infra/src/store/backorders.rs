//! Backorders after placement: confirmation, cancellation, and allocation
//! of arriving stock to the queue, oldest first.
//!
//! Allocation runs inside the transaction that makes stock available (a
//! feed, a confirmation), so arriving units reach confirmed backorders before
//! any new order can see them. Every step is guarded twice: the stock row by
//! the same conditional update placement uses, the backorder row by its
//! expected status and quantity. A concurrent writer makes a guard fail and
//! the whole transaction roll back, so no unit is allocated twice.

use std::collections::HashMap;

use domain::Sku;
use domain::backorder::{BackorderAction, Waiting, allocate, transition};
use domain::order::{BackorderStatus, EventKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use super::locks::Locks;
use super::placing::{LineRef, add_to_shipment, choose_sources, settle_order};
use super::queue::refresh_estimates;
use super::rows::{available_of, count_on_line, event, locked_orders, split_backorder, total_of, waiting};
use super::stored::backorder_status;
use super::{BackorderRecord, Store, StoreError};
use crate::db::entity::backorder;

/// Moves arriving units of `products` to their confirmed backorders, head
/// of the queue first. Takes the products' locks (a no-op where the caller
/// holds them already), then the locks of the orders it serves.
///
/// Returns the products whose queue moved (and whose estimates were
/// refreshed with it).
pub(crate) async fn allocate_arrivals<C: ConnectionTrait>(
    db: &C,
    locks: &mut Locks,
    products: &[i64],
    now: i64,
) -> Result<std::collections::BTreeSet<i64>, StoreError> {
    locks.products(db, products).await?;
    // One query finds the few products anyone waits for, so a feed of
    // thousands of levels does not cost a query per level.
    let waited_for: std::collections::BTreeSet<i64> = backorder::Entity::find()
        .select_only()
        .column(backorder::Column::ProductId)
        .filter(backorder::Column::ProductId.is_in(products.iter().copied()))
        .filter(backorder::Column::Status.eq(BackorderStatus::Confirmed.as_str()))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut moved = std::collections::BTreeSet::new();
    for product_id in waited_for {
        let (mut available, warehouses) = available_of(db, product_id).await?;
        let total = total_of(&available);
        if total == 0 {
            continue;
        }
        let waiting_rows = backorder::Entity::find()
            .filter(backorder::Column::ProductId.eq(product_id))
            .filter(backorder::Column::Status.eq(BackorderStatus::Confirmed.as_str()))
            .all(db)
            .await?;
        let queue: Vec<Waiting> = waiting_rows.iter().map(waiting).collect::<Result<_, _>>()?;
        let allocations = allocate(queue, total);
        if allocations.is_empty() {
            continue;
        }
        let rows: HashMap<i64, &backorder::Model> = waiting_rows.iter().map(|b| (b.id, b)).collect();
        let order_ids: Vec<i64> = allocations.iter().map(|(id, _)| rows[id].order_id).collect();
        let orders = locked_orders(db, locks, order_ids).await?;
        for (backorder_id, units) in allocations {
            let row = rows[&backorder_id];
            let order = orders.get(&row.order_id).ok_or(StoreError::UnknownOrder(row.order_id))?;
            let line = LineRef::of(row);
            let sources = choose_sources(db, order, &row.sku, units, &available, &warehouses).await?;
            for &(warehouse_id, take) in &sources {
                super::rows::reserve(db, locks, warehouse_id, product_id, i64::from(take), now).await?;
                *available.get_mut(&warehouse_id).expect("chosen from available") -= take;
                add_to_shipment(db, locks, order, &line, &warehouses[&warehouse_id], take, now).await?;
            }
            split_backorder(db, row, i64::from(units), BackorderAction::Allocate, now).await?;
            let codes: Vec<&str> = sources.iter().map(|(w, _)| warehouses[w].code.as_str()).collect();
            event(
                db,
                order.id,
                EventKind::BackorderAllocated,
                json!({ "sku": row.sku, "quantity": units, "warehouses": codes }),
                now,
            )
            .await?;
            settle_order(db, locks, order.id, now).await?;
        }
        // The queue moved: later backorders may now wait for other receipts.
        refresh_estimates(db, locks, product_id, now).await?;
        moved.insert(product_id);
    }
    Ok(moved)
}

fn record(m: backorder::Model) -> Result<BackorderRecord, StoreError> {
    super::rows::backorder_record(m)
}

impl Store {
    async fn change_backorder(&self, id: i64, action: BackorderAction) -> Result<BackorderRecord, StoreError> {
        let now = self.now_ms();
        let txn = self.write().await?;
        let seen = backorder::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::UnknownBackorder(id))?;
        // The queue is the product's, the backorder the order's: both locks,
        // then the row again as it is under them.
        let mut locks = Locks::new();
        locks.products(&txn, &[seen.product_id]).await?;
        locks.orders(&txn, &[seen.order_id]).await?;
        let row = backorder::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::UnknownBackorder(id))?;
        let to = match action {
            // Confirming keeps the backorder waiting, now in the queue: its
            // confirmation time is its place there.
            BackorderAction::Confirm => {
                let from = backorder_status(&row.status)?;
                let to = transition(from, action).map_err(StoreError::InvalidTransition)?;
                let confirmed = backorder::Entity::update_many()
                    .col_expr(backorder::Column::Status, Expr::value(to.as_str()))
                    .col_expr(backorder::Column::ConfirmedAtMs, Expr::value(now))
                    .col_expr(backorder::Column::UpdatedAtMs, Expr::value(now))
                    .filter(backorder::Column::Id.eq(id))
                    .filter(backorder::Column::Status.eq(from.as_str()))
                    .exec(&txn)
                    .await?;
                if confirmed.rows_affected != 1 {
                    return Err(StoreError::StockMoved);
                }
                to
            }
            _ => split_backorder(&txn, &row, row.quantity, action, now).await?,
        };
        if to == BackorderStatus::Cancelled {
            count_on_line(&txn, row.order_line_id, crate::db::entity::order_line::Column::Cancelled, row.quantity)
                .await?;
        }
        let kind = match action {
            BackorderAction::Confirm => EventKind::BackorderConfirmed,
            _ => EventKind::BackorderCancelled,
        };
        event(&txn, row.order_id, kind, json!({ "backorder": id, "sku": row.sku, "quantity": row.quantity }), now)
            .await?;
        // Stock that is already there goes to a confirmed backorder at once.
        let moved = if to == BackorderStatus::Confirmed {
            allocate_arrivals(&txn, &mut locks, &[row.product_id], now).await?
        } else {
            Default::default()
        };
        settle_order(&txn, &locks, row.order_id, now).await?;
        if !moved.contains(&row.product_id) {
            refresh_estimates(&txn, &locks, row.product_id, now).await?;
        }
        txn.commit().await?;
        let fresh = backorder::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::UnknownBackorder(id))?;
        record(fresh)
    }

    /// `AWAITING_CONFIRMATION → CONFIRMED`; stock already available is
    /// allocated at once, oldest first.
    pub async fn confirm_backorder(&self, id: i64) -> Result<BackorderRecord, StoreError> {
        self.change_backorder(id, BackorderAction::Confirm).await
    }

    /// A waiting backorder is cancelled; the order is re-evaluated (a held
    /// `SHIP_COMPLETE` order with nothing left waiting is released).
    pub async fn cancel_backorder(&self, id: i64) -> Result<BackorderRecord, StoreError> {
        self.change_backorder(id, BackorderAction::Cancel).await
    }

    /// Where confirmed backorders stand in their sku's queue (1 is served
    /// next); backorders not in a queue are left out.
    pub async fn queue_positions(&self, ids: &[i64]) -> Result<HashMap<i64, u32>, StoreError> {
        let confirmed = BackorderStatus::Confirmed.as_str();
        let products: std::collections::BTreeSet<i64> = backorder::Entity::find()
            .select_only()
            .column(backorder::Column::ProductId)
            .filter(backorder::Column::Id.is_in(ids.iter().copied()))
            .filter(backorder::Column::Status.eq(confirmed))
            .into_tuple::<i64>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        let wanted: std::collections::HashSet<i64> = ids.iter().copied().collect();
        let mut positions = HashMap::new();
        for product_id in products {
            let waiting = backorder::Entity::find()
                .filter(backorder::Column::ProductId.eq(product_id))
                .filter(backorder::Column::Status.eq(confirmed))
                .all(&self.db)
                .await?
                .iter()
                .map(waiting)
                .collect::<Result<_, _>>()?;
            for (place, w) in domain::backorder::queue(waiting).into_iter().enumerate() {
                if wanted.contains(&w.id) {
                    positions.insert(w.id, u32::try_from(place + 1).unwrap_or(u32::MAX));
                }
            }
        }
        Ok(positions)
    }

    /// The first `limit` backorders in queue order (higher priority, then
    /// older confirmation; unconfirmed ones last, on every database),
    /// optionally of one sku or status.
    pub async fn backorders_page(
        &self,
        sku: Option<&Sku>,
        status: Option<BackorderStatus>,
        limit: u64,
    ) -> Result<Vec<BackorderRecord>, StoreError> {
        let mut query = backorder::Entity::find()
            .order_by_asc(sea_orm::sea_query::ExprTrait::is_null(Expr::col(backorder::Column::ConfirmedAtMs)))
            .order_by_desc(backorder::Column::Priority)
            .order_by_asc(backorder::Column::ConfirmedAtMs)
            .order_by_asc(backorder::Column::Id)
            .limit(limit);
        if let Some(sku) = sku {
            query = query.filter(backorder::Column::Sku.eq(sku.as_str()));
        }
        if let Some(status) = status {
            query = query.filter(backorder::Column::Status.eq(status.as_str()));
        }
        query.all(&self.db).await?.into_iter().map(record).collect()
    }
}
