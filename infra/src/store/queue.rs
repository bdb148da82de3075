//! Receipts and estimates: when waiting backorders can expect their units.
//! An estimate walks the queue in order against the expected receipts of the
//! sku (`domain::backorder::estimate_availability`), so it moves whenever the
//! queue or the receipts do; whoever changes either re-estimates here, under
//! the product's lock, and every date that moved is recorded as an event.

use std::collections::HashMap;

use domain::backorder::Waiting;
use domain::calendar::{Day, transit_days};
use domain::money::distance_meters;
use domain::order::{BackorderStatus, EventKind};
use domain::{GeoPoint, Sku, WarehouseCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use serde_json::json;

use super::locks::Locks;
use super::rows::{OPEN, event_row, today, waiting, warehouse_and_product};
use super::{Store, StoreError, stored};
use crate::db::entity::{backorder, inbound_receipt, order, warehouse};

/// Queue order over rows of `backorders`: higher order priority first,
/// then the oldest confirmation, then the oldest backorder; the order of
/// the `backorders_in_queue_order` and `backorders_page_order` indexes.
pub(super) fn in_queue_order(query: Select<backorder::Entity>) -> Select<backorder::Entity> {
    query
        .order_by_desc(backorder::Column::Priority)
        .order_by_asc(backorder::Column::ConfirmedAtMs)
        .order_by_asc(backorder::Column::Id)
}

/// The first `limit` confirmed backorders of a product's queue: what
/// arriving units go to, read through the queue index, so its cost is the
/// head read and not the length of the queue.
pub(super) fn head_of_queue(product_id: i64, limit: u64) -> Select<backorder::Entity> {
    in_queue_order(
        backorder::Entity::find()
            .filter(backorder::Column::ProductId.eq(product_id))
            .filter(backorder::Column::Status.eq(BackorderStatus::Confirmed.as_str())),
    )
    .limit(limit)
}

/// Rows ahead of `b` in queue order (`ahead`), or behind it.
fn queue_side(b: &backorder::Model, ahead: bool) -> Condition {
    let confirmed_at = b.confirmed_at_ms.unwrap_or(b.created_at_ms);
    let same_priority = Condition::all().add(backorder::Column::Priority.eq(b.priority));
    let (priority, confirmed, id) = if ahead {
        (
            backorder::Column::Priority.gt(b.priority),
            backorder::Column::ConfirmedAtMs.lt(confirmed_at),
            backorder::Column::Id.lt(b.id),
        )
    } else {
        (
            backorder::Column::Priority.lt(b.priority),
            backorder::Column::ConfirmedAtMs.gt(confirmed_at),
            backorder::Column::Id.gt(b.id),
        )
    };
    Condition::any()
        .add(priority)
        .add(same_priority.clone().add(confirmed))
        .add(same_priority.add(backorder::Column::ConfirmedAtMs.eq(confirmed_at)).add(id))
}

/// Days in transit from a warehouse to a destination.
fn transit_from(origin: GeoPoint, destination: GeoPoint) -> u32 {
    transit_days(distance_meters(origin.distance_km(destination)))
}

/// Re-estimates when the waiting backorders of `product_id` get their units,
/// from the expected receipts, and records every date that moved. Only the
/// head of the queue that the receipts reach can get a receipt's date
/// (`domain::backorder::estimate_availability` walks the queue in order),
/// so only that head is read and dated one by one; everyone behind it waits
/// for the supplier (`today + lead time`), which is a set-based write of
/// the rows whose stored date differs (none, unless the day, the lead time
/// or the receipts moved), found through the estimate index, at most
/// `TAIL_BATCH` of them: when more differ (the first refresh of a day moves
/// the whole tail), the product is left to the worker
/// (`Store::date_queues`), which dates the rest in batches, so no request
/// pays for the length of a queue. Returns whether the whole queue is dated.
pub(super) async fn refresh_estimates<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    product_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    use domain::backorder::{estimate_availability, estimation_order};
    locks.require_product(product_id)?;
    let product = crate::db::entity::product::Entity::find_by_id(product_id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Invariant(format!("backorders of missing product {product_id}")))?;
    let lead = stored::count("lead time", i64::from(product.lead_time_days))?;
    let today = today(now);
    let fallback = today.plus_days(lead);
    let (receipts, origins) = expected_receipts(db, product_id, today).await?;
    let supply: u64 = receipts.iter().map(|r| u64::from(r.quantity)).sum();

    // The head: confirmed backorders in queue order, then (only if the
    // receipts reach past all of them) the unconfirmed, oldest first, up to
    // the first one the receipts do not cover.
    let mut head: Vec<backorder::Model> = Vec::new();
    let mut demand = 0u64;
    let mut confirmed_done = false;
    while demand <= supply && supply > 0 {
        // The next batch in queue order, after the last one read.
        let next = head_of_queue(product_id, ESTIMATE_BATCH);
        let batch = match head.last() {
            Some(last) => next.filter(queue_side(last, false)),
            None => next,
        }
        .all(db)
        .await?;
        let full = batch.len() as u64 == ESTIMATE_BATCH;
        for b in batch {
            demand += u64::from(stored::count("backorder quantity", b.quantity)?);
            head.push(b);
            if demand > supply {
                break;
            }
        }
        if !full {
            confirmed_done = true;
            break;
        }
    }
    let confirmed_head = head.len();
    if confirmed_done && demand <= supply {
        // Rare: more expected than the whole queue wants.
        let mut unconfirmed = backorder::Entity::find()
            .filter(backorder::Column::ProductId.eq(product_id))
            .filter(backorder::Column::Status.eq(BackorderStatus::AwaitingConfirmation.as_str()))
            .all(db)
            .await?;
        unconfirmed.sort_by_key(|b| (b.confirmed_at_ms.unwrap_or(b.created_at_ms), b.id));
        for b in unconfirmed {
            demand += u64::from(stored::count("backorder quantity", b.quantity)?);
            head.push(b);
            if demand > supply {
                break;
            }
        }
    }

    let mut moved: Vec<(i64, i64, String, i32, Day)> = Vec::new();
    if !head.is_empty() {
        let order_ids: Vec<i64> = head.iter().map(|b| b.order_id).collect();
        let destinations: HashMap<i64, GeoPoint> = order::Entity::find()
            .filter(order::Column::Id.is_in(order_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|o| Ok((o.id, stored::point(o.latitude, o.longitude)?)))
            .collect::<Result<_, StoreError>>()?;
        let rows: HashMap<i64, &backorder::Model> = head.iter().map(|b| (b.id, b)).collect();
        let ordered = estimation_order(
            head[..confirmed_head].iter().map(waiting).collect::<Result<_, _>>()?,
            head[confirmed_head..].iter().map(waiting).collect::<Result<_, _>>()?,
        );
        let arrival = |id: i64, receipt: &domain::backorder::Receipt| {
            let destination = destinations[&rows[&id].order_id];
            receipt.expected_on.plus_days(transit_from(origins[&receipt.origin], destination))
        };
        for (id, day) in estimate_availability(&ordered, &receipts, fallback, arrival) {
            let row = rows[&id];
            if row.estimated_available != day.days_since_epoch() {
                moved.push((id, row.order_id, row.sku.clone(), row.estimated_available, day));
            }
        }
    }
    // Everyone behind the head: the supplier's date, where it is not stored
    // already (read through the estimate index: below it, or above it).
    let fallback_day = fallback.days_since_epoch();
    let in_head: std::collections::HashSet<i64> = head.iter().map(|b| b.id).collect();
    let mut complete = true;
    for (status, earlier) in OPEN.into_iter().flat_map(|status| [(status, true), (status, false)]) {
        // The head's rows may be among them (dated above): read past them.
        let limit = TAIL_BATCH + head.len() as u64;
        let behind = dated_otherwise(product_id, status, fallback_day, earlier)
            .select_only()
            .columns([
                backorder::Column::Id,
                backorder::Column::OrderId,
                backorder::Column::Sku,
                backorder::Column::EstimatedAvailable,
            ])
            .limit(limit)
            .into_tuple::<(i64, i64, String, i32)>()
            .all(db)
            .await?;
        complete &= (behind.len() as u64) < limit;
        moved.extend(
            behind
                .into_iter()
                .filter(|(id, ..)| !in_head.contains(id))
                .map(|(id, order_id, sku, from)| (id, order_id, sku, from, fallback)),
        );
    }

    // Set-based: one update per new date, one insert of the events.
    let mut by_day: std::collections::BTreeMap<i32, Vec<i64>> = std::collections::BTreeMap::new();
    for (id, _, _, _, day) in &moved {
        by_day.entry(day.days_since_epoch()).or_default().push(*id);
    }
    for (day, ids) in by_day {
        for chunk in ids.chunks(WRITE_CHUNK) {
            backorder::Entity::update_many()
                .col_expr(backorder::Column::EstimatedAvailable, Expr::value(day))
                .col_expr(backorder::Column::UpdatedAtMs, Expr::value(now))
                .filter(backorder::Column::Id.is_in(chunk.iter().copied()))
                .exec(db)
                .await?;
        }
    }
    let events: Vec<crate::db::entity::order_event::ActiveModel> = moved
        .iter()
        .map(|(id, order_id, sku, from, day)| {
            event_row(
                *order_id,
                EventKind::BackorderEtaChanged,
                json!({ "backorder": id, "sku": sku, "fromDay": from, "toDay": day.days_since_epoch() }),
                now,
            )
        })
        .collect();
    for chunk in events.chunks(WRITE_CHUNK) {
        crate::db::entity::order_event::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    if !complete {
        // Part of the tail still carries an older date: the worker's.
        crate::db::entity::product::Entity::update_many()
            .col_expr(crate::db::entity::product::Column::TailDatedOn, Expr::value(Option::<i32>::None))
            .filter(crate::db::entity::product::Column::Id.eq(product_id))
            .exec(db)
            .await?;
    }
    Ok(complete)
}

/// The backorders of a product in one waiting `status` whose stored
/// estimate is before `day` (`earlier`) or after it, in estimate order: a
/// range of the estimate index read in its order. The order is what keeps
/// the read on the index under a plan made without the values (a prepared
/// statement's generic plan): without it a limited read may be planned as
/// a scan that stops early, which on a day when nothing moved reads every
/// row to find none.
pub(super) fn dated_otherwise(product_id: i64, status: &str, day: i32, earlier: bool) -> Select<backorder::Entity> {
    let range = if earlier {
        backorder::Column::EstimatedAvailable.lt(day)
    } else {
        backorder::Column::EstimatedAvailable.gt(day)
    };
    backorder::Entity::find()
        .filter(backorder::Column::ProductId.eq(product_id))
        .filter(backorder::Column::Status.eq(status))
        .filter(range)
        .order_by_asc(backorder::Column::EstimatedAvailable)
}

/// Rows of a queue's head read at a time while dating it.
const ESTIMATE_BATCH: u64 = 256;
/// Rows of a queue's tail one refresh dates at most.
const TAIL_BATCH: u64 = 256;
/// Rows per set-based write: well under what one statement may bind.
const WRITE_CHUNK: usize = 1_000;

const EXPECTED: &str = "EXPECTED";

/// Receipts of a product still expected from `today` on, with the
/// warehouses they arrive at.
async fn expected_receipts<C: ConnectionTrait>(
    db: &C,
    product_id: i64,
    today: Day,
) -> Result<(Vec<domain::backorder::Receipt>, HashMap<i64, GeoPoint>), StoreError> {
    let rows = inbound_receipt::Entity::find()
        .filter(inbound_receipt::Column::ProductId.eq(product_id))
        .filter(inbound_receipt::Column::Status.eq(EXPECTED))
        .filter(inbound_receipt::Column::ExpectedOn.gte(today.days_since_epoch()))
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok((Vec::new(), HashMap::new()));
    }
    let origins: HashMap<i64, GeoPoint> = warehouse::Entity::find()
        .filter(warehouse::Column::Id.is_in(rows.iter().map(|r| r.warehouse_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|w| Ok((w.id, stored::point(w.latitude, w.longitude)?)))
        .collect::<Result<_, StoreError>>()?;
    let receipts = rows
        .into_iter()
        .map(|r| {
            Ok(domain::backorder::Receipt {
                expected_on: Day::from_days_since_epoch(r.expected_on),
                quantity: stored::count("receipt quantity", r.quantity)?,
                origin: r.warehouse_id,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((receipts, origins))
}

/// The availability estimate of a backorder of `quantity` joining the end of
/// `product_id`'s queue now, for an order to `destination`: `None` when no
/// receipt is expected (the lead time `fallback` stands), so the common case
/// costs one small query.
pub(super) async fn estimate_for_new<C: ConnectionTrait>(
    db: &C,
    product_id: i64,
    quantity: u32,
    destination: GeoPoint,
    fallback: Day,
    now: i64,
) -> Result<Option<Day>, StoreError> {
    use domain::backorder::estimate_availability;
    let (receipts, origins) = expected_receipts(db, product_id, today(now)).await?;
    if receipts.is_empty() {
        return Ok(None);
    }
    // Only whether the units already waiting use up the receipts matters:
    // they are counted until they pass what is expected, so the cost is
    // bounded by the receipts, not by the queue (each backorder waits for
    // at least one unit).
    let supply: u64 = receipts.iter().map(|r| u64::from(r.quantity)).sum();
    // Any supply + 1 of them already pass it.
    let quantities: Vec<i64> = backorder::Entity::find()
        .select_only()
        .column(backorder::Column::Quantity)
        .filter(backorder::Column::ProductId.eq(product_id))
        .filter(backorder::Column::Status.is_in(OPEN))
        .limit(supply.saturating_add(1))
        .into_tuple()
        .all(db)
        .await?;
    let mut ahead = 0u64;
    for q in quantities {
        ahead += u64::from(stored::count("backorder quantity", q)?);
    }
    // More units waiting than one count holds only delays the estimate.
    let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
    let queue = [
        Waiting { id: 0, priority: 0, confirmed_at_ms: 0, quantity: ahead },
        Waiting { id: 1, priority: 0, confirmed_at_ms: 1, quantity },
    ];
    let arrival =
        |_: i64, r: &domain::backorder::Receipt| r.expected_on.plus_days(transit_from(origins[&r.origin], destination));
    Ok(estimate_availability(&queue, &receipts, fallback, arrival).last().map(|&(_, day)| day))
}

/// An inbound receipt as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub id: i64,
    pub warehouse: WarehouseCode,
    pub sku: Sku,
    pub quantity: u32,
    pub expected_on: Day,
}

impl Store {
    /// Announces stock expected at a warehouse on a day; waiting backorders
    /// of the sku get new availability estimates (and events where they
    /// moved).
    pub async fn record_inbound_receipt(
        &self,
        warehouse: &WarehouseCode,
        sku: &Sku,
        quantity: u32,
        expected_on: Day,
    ) -> Result<ReceiptRecord, StoreError> {
        let now = self.now_ms();
        let expected_on =
            domain::backorder::expected_on(expected_on, today(now)).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let txn = self.write().await?;
        let (w, p) = warehouse_and_product(&txn, warehouse, sku).await?;
        let mut locks = Locks::new();
        locks.products(&txn, &[p.id]).await?;
        let id = inbound_receipt::Entity::insert(inbound_receipt::ActiveModel {
            warehouse_id: Set(w.id),
            product_id: Set(p.id),
            quantity: Set(i64::from(quantity)),
            expected_on: Set(expected_on.days_since_epoch()),
            status: Set(EXPECTED.to_owned()),
            created_at_ms: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        refresh_estimates(&txn, &locks, p.id, now).await?;
        txn.commit().await?;
        Ok(ReceiptRecord { id, warehouse: warehouse.clone(), sku: sku.clone(), quantity, expected_on })
    }
}
