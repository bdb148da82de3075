//! Backorders after placement: confirmation, cancellation, and allocation
//! of arriving stock to the queue, oldest first.
//!
//! Allocation runs inside the transaction that makes stock available (a
//! feed, a confirmation), so arriving units reach confirmed backorders before
//! any new order can see them. Every step is guarded twice: the stock row by
//! the same conditional update placement uses, the backorder row by its
//! expected status and quantity. A concurrent writer makes a guard fail and
//! the whole transaction roll back, so no unit is allocated twice.

use domain::backorder::rank::queue_key;
use std::collections::HashMap;

use domain::Sku;
use domain::backorder::{BackorderAction, Waiting, allocate, transition};
use domain::ids::BackorderId;
use domain::order::{BackorderStatus, EventKind};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select,
};
use serde_json::json;

use super::locks::Locks;
use super::placing::{LineRef, Packing, settle_order, settle_orders};
use super::queue::{dated_otherwise, head_of_queue, in_queue_order, refresh_estimates};
use super::ranks;
use super::rows::{available_of, cap_credits, count_on_line, event, locked_orders, split_backorder, total_of, waiting};
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
    let products: std::collections::BTreeSet<i64> = products.iter().copied().collect();
    let mut moved = std::collections::BTreeSet::new();
    for product_id in products {
        // The head of the queue, through its index: nobody waiting costs one
        // probe, and serving k backorders reads about k rows, whatever the
        // length of the queue behind them.
        let mut head = head_of_queue(product_id, QUEUE_BATCH).all(db).await?;
        if head.is_empty() {
            continue;
        }
        let (mut available, warehouses) = available_of(db, product_id).await?;
        let mut served = false;
        while !head.is_empty() {
            let units = total_of(&available);
            if units == 0 {
                break;
            }
            let full_batch = head.len() as u64 == QUEUE_BATCH;
            let allocations = serve_head(db, locks, &head, units, &mut available, &warehouses, now).await?;
            served |= allocations > 0;
            if !full_batch || total_of(&available) == 0 {
                break;
            }
            // Every row of this batch was served in full: the next ones.
            head = head_of_queue(product_id, QUEUE_BATCH).all(db).await?;
        }
        if served {
            // The queue moved: later backorders may now wait for other receipts.
            refresh_estimates(db, locks, product_id, now).await?;
            moved.insert(product_id);
        }
    }
    Ok(moved)
}

/// How many backorders of a queue's head allocation reads at a time.
const QUEUE_BATCH: u64 = 64;
/// Positions one read of a queue's rank tree answers at most.
const POSITIONS_PER_READ: usize = 50;

/// Hands `units` to the head of a queue (rows in queue order) and places
/// them for each order served, set-based (`Packing`, `settle_orders`): the
/// statements a batch costs do not grow with the backorders it serves.
/// Returns how many backorders were served.
async fn serve_head<C: ConnectionTrait>(
    db: &C,
    locks: &mut Locks,
    head: &[backorder::Model],
    units: u32,
    available: &mut HashMap<i64, u32>,
    warehouses: &HashMap<i64, crate::db::entity::warehouse::Model>,
    now: i64,
) -> Result<usize, StoreError> {
    let queue: Vec<Waiting> = head.iter().map(waiting).collect::<Result<_, _>>()?;
    let allocations = allocate(queue, units);
    if allocations.is_empty() {
        return Ok(0);
    }
    let rows: HashMap<i64, &backorder::Model> = head.iter().map(|b| (b.id, b)).collect();
    let order_ids: Vec<i64> = allocations.iter().map(|(id, _)| rows[id].order_id).collect();
    let orders = locked_orders(db, locks, order_ids.clone()).await?;
    let mut packing = Packing::of_orders(db, &order_ids).await?;
    let mut whole = Vec::new();
    let mut split = Vec::new();
    for &(backorder_id, units) in &allocations {
        let row = rows[&backorder_id];
        let order = orders.get(&row.order_id).ok_or(StoreError::UnknownOrder(row.order_id))?;
        let sources = packing.place(order, &LineRef::of(row), units, available, warehouses, now)?;
        if sources.iter().map(|s| s.1).sum::<u32>() != units {
            return Err(StoreError::Invariant(format!(
                "{units} units allocated to backorder {backorder_id} not placed"
            )));
        }
        if i64::from(units) == row.quantity {
            whole.push(row);
        } else {
            split.push((row, units));
        }
        let codes: Vec<&str> = sources.iter().map(|(w, _)| warehouses[w].code.as_str()).collect();
        packing.event(
            order.id,
            EventKind::BackorderAllocated,
            json!({ "sku": row.sku, "quantity": units, "warehouses": codes }),
            now,
        );
    }
    packing.write(db, locks, now).await?;
    allocate_whole(db, locks, &whole, now).await?;
    for (row, units) in split {
        split_backorder(db, locks, row, i64::from(units), BackorderAction::Allocate, now).await?;
    }
    settle_orders(db, locks, &order_ids, now).await?;
    Ok(allocations.len())
}

/// Marks backorders allocated in full: one write, guarded by the status
/// and quantity each was read with (`split_backorder` for one row).
async fn allocate_whole<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    rows: &[&backorder::Model],
    now: i64,
) -> Result<(), StoreError> {
    let mut by_from: HashMap<(&str, i64), Vec<i64>> = HashMap::new();
    for row in rows {
        let to = transition(backorder_status(&row.status)?, BackorderAction::Allocate)
            .map_err(StoreError::InvalidTransition)?;
        if to != BackorderStatus::Allocated {
            return Err(StoreError::Invariant(format!("allocating backorder {} makes it {to:?}", row.id)));
        }
        by_from.entry((row.status.as_str(), row.quantity)).or_default().push(row.id);
    }
    for ((status, quantity), ids) in by_from {
        let allocated = backorder::Entity::update_many()
            .col_expr(backorder::Column::Status, Expr::value(BackorderStatus::Allocated.as_str()))
            .col_expr(backorder::Column::UpdatedAtMs, Expr::value(now))
            .filter(backorder::Column::Id.is_in(ids.iter().copied()))
            .filter(backorder::Column::Status.eq(status))
            .filter(backorder::Column::Quantity.eq(quantity))
            .exec(db)
            .await?;
        if allocated.rows_affected != ids.len() as u64 {
            return Err(StoreError::StockMoved);
        }
    }
    ranks::moved(db, locks, rows.iter().map(|r| ranks::entry(r)), -1).await
}

/// A page of the backorders of one product or all, of one status or all,
/// in queue order (unconfirmed ones last).
fn page_query(product: Option<i64>, status: Option<BackorderStatus>, limit: u64) -> Select<backorder::Entity> {
    let mut query = backorder::Entity::find();
    if let Some(product) = product {
        query = query.filter(backorder::Column::ProductId.eq(product));
    }
    if let Some(status) = status {
        query = query.filter(backorder::Column::Status.eq(status.as_str()));
    }
    let query = match status {
        // Every row waits the same way (all confirmed, or none): queue order
        // is the index's order.
        Some(BackorderStatus::Confirmed | BackorderStatus::AwaitingConfirmation) => in_queue_order(query),
        // Unconfirmed ones last, which no index orders: a page of every
        // status sorts what it reads.
        _ => in_queue_order(
            query.order_by_asc(sea_orm::sea_query::ExprTrait::is_null(Expr::col(backorder::Column::ConfirmedAtMs))),
        ),
    };
    query.limit(limit)
}

/// The queue reads, as they are sent to `backend`, with sample values, and
/// the column their index search must lead with: what a test asks each
/// database to plan, so that a read whose cost would grow with the queue (a
/// full scan, a sort of every row, a search on the wrong index) fails there.
pub fn queue_reads(backend: DatabaseBackend) -> Vec<(&'static str, String, &'static str)> {
    let sample = backorder::Model {
        id: 7,
        order_id: 3,
        order_line_id: 5,
        product_id: 2,
        sku: "SKU".to_owned(),
        quantity: 1,
        status: BackorderStatus::Confirmed.as_str().to_owned(),
        estimated_available: 0,
        promised_available: None,
        priority: 1,
        confirmed_at_ms: Some(1_000),
        overdue_at_ms: None,
        delay_settled_at_ms: None,
        created_at_ms: 900,
        updated_at_ms: 1_000,
    };
    [
        ("head of a queue", head_of_queue(2, QUEUE_BATCH), "product_id"),
        ("ties in a queue", ranks::same_key_ahead(2, &[&sample, &sample]), "product_id"),
        ("page of a sku's queue", page_query(Some(2), Some(BackorderStatus::Confirmed), 50), "product_id"),
        ("page of every queue", page_query(None, Some(BackorderStatus::Confirmed), 50), "status"),
        ("page of the unconfirmed", page_query(None, Some(BackorderStatus::AwaitingConfirmation), 50), "status"),
        ("behind the head, dated earlier", dated_otherwise(2, "CONFIRMED", 20_000, true).limit(256), "product_id"),
        ("behind the head, dated later", dated_otherwise(2, "CONFIRMED", 20_000, false).limit(256), "product_id"),
        ("waiting backorders of a page of orders", super::rows::waiting_of([3, 4, 5]), "order_id"),
    ]
    .into_iter()
    .map(|(name, query, leading)| (name, query.build(backend).to_string(), leading))
    .chain([(
        "nodes of a queue's rank tree",
        ranks::tree_nodes(2, &[1, 2, 3]).build(backend).to_string(),
        "product_id",
    )])
    .collect()
}

fn record(m: backorder::Model) -> Result<BackorderRecord, StoreError> {
    super::rows::backorder_record(m)
}

impl Store {
    async fn change_backorder(&self, id: BackorderId, action: BackorderAction) -> Result<BackorderRecord, StoreError> {
        let id = id.get();
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
                let queued = (row.product_id, queue_key(row.priority, now));
                ranks::moved(&txn, &locks, [queued], 1).await?;
                to
            }
            _ => split_backorder(&txn, &locks, &row, row.quantity, action, now).await?,
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
        cap_credits(&txn, &locks, row.order_id, now).await?;
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
    pub async fn confirm_backorder(&self, id: BackorderId) -> Result<BackorderRecord, StoreError> {
        self.change_backorder(id, BackorderAction::Confirm).await
    }

    /// A waiting backorder is cancelled; the order is re-evaluated (a held
    /// `SHIP_COMPLETE` order with nothing left waiting is released).
    pub async fn cancel_backorder(&self, id: BackorderId) -> Result<BackorderRecord, StoreError> {
        self.change_backorder(id, BackorderAction::Cancel).await
    }

    /// Where confirmed backorders stand in their sku's queue (1 is served
    /// next); backorders not in a queue are left out. Per sku, one read of
    /// its rank tree and one of ties (`ranks::ahead`) for up to
    /// `POSITIONS_PER_READ` of its backorders, whatever the queue's length.
    pub async fn queue_positions(&self, ids: &[i64]) -> Result<HashMap<i64, u32>, StoreError> {
        let confirmed = backorder::Entity::find()
            .filter(backorder::Column::Id.is_in(ids.iter().copied()))
            .filter(backorder::Column::Status.eq(BackorderStatus::Confirmed.as_str()))
            .all(&self.db)
            .await?;
        let mut by_product: std::collections::BTreeMap<i64, Vec<&backorder::Model>> = Default::default();
        for b in &confirmed {
            by_product.entry(b.product_id).or_default().push(b);
        }
        let mut positions = HashMap::new();
        for (product_id, rows) in by_product {
            for chunk in rows.chunks(POSITIONS_PER_READ) {
                let ahead = ranks::ahead(&self.db, product_id, chunk).await?;
                for (b, ahead) in chunk.iter().zip(ahead) {
                    positions.insert(b.id, u32::try_from(ahead.saturating_add(1)).unwrap_or(u32::MAX));
                }
            }
        }
        Ok(positions)
    }

    /// The first `limit` backorders in queue order (higher priority, then
    /// older confirmation; unconfirmed ones last, on every database),
    /// optionally of one sku or status, with the queue position of each
    /// confirmed one. The page is the start of a total order whose
    /// restriction to a sku's confirmed backorders is that sku's queue, so
    /// the confirmed rows of a sku on it are the head of its queue: their
    /// positions are their ranks on the page, with nothing else to read.
    pub async fn backorders_page(
        &self,
        sku: Option<&Sku>,
        status: Option<BackorderStatus>,
        limit: u64,
    ) -> Result<Vec<(BackorderRecord, Option<u32>)>, StoreError> {
        let product = match sku {
            // By product, which the queue index leads with.
            Some(sku) => {
                let id: Option<i64> = crate::db::entity::product::Entity::find()
                    .select_only()
                    .column(crate::db::entity::product::Column::Id)
                    .filter(crate::db::entity::product::Column::Sku.eq(sku.as_str()))
                    .into_tuple()
                    .one(&self.db)
                    .await?;
                match id {
                    Some(id) => Some(id),
                    None => return Ok(Vec::new()),
                }
            }
            None => None,
        };
        let mut ranks: HashMap<i64, u32> = HashMap::new();
        page_query(product, status, limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                let position = (m.status == BackorderStatus::Confirmed.as_str()).then(|| {
                    let rank = ranks.entry(m.product_id).or_default();
                    *rank += 1;
                    *rank
                });
                Ok((record(m)?, position))
            })
            .collect()
    }
}
