//! Guarded writes of single rows, and the small reads every operation
//! shares. Each write checks, in its `WHERE`, the state it expects (a
//! package still open, a backorder still waiting with the units read, a
//! level that still holds the units): a write that finds the row moved
//! fails loudly instead of writing over another transaction. Writes under a
//! product's or an order's lock say which (`Locks::require_*`).
//!
//! Nothing here decides anything about an order; the modules above call
//! these with what `domain` decided.

use std::collections::HashMap;

use domain::Sku;
use domain::WarehouseCode;
use domain::backorder::{BackorderAction, Waiting, transition};
use domain::calendar::Day;
use domain::inventory::StockLevel;
use domain::order::{BackorderStatus, EventKind, ShipmentStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::locks::Locks;
use super::ranks;
use super::{BackorderRecord, StoreError, stored};
use crate::db::entity::{backorder, order, order_event, shipment, stock_change, stock_level, warehouse};

/// Backorders still waiting for units.
pub(super) const OPEN: [&str; 2] = ["AWAITING_CONFIRMATION", "CONFIRMED"];

/// Packages that have not left their warehouse.
pub(super) const UNSHIPPED: [ShipmentStatus; 2] = [ShipmentStatus::Pending, ShipmentStatus::Released];

/// Moves a package from one of the `from` states to `to` (or, with `to`
/// `None`, only locks it): guarded, so a package that moved meanwhile makes
/// this write lose the race instead of changing a package that is gone.
pub(super) async fn move_shipment<C: ConnectionTrait>(
    db: &C,
    shipment_id: i64,
    from: &[ShipmentStatus],
    to: Option<ShipmentStatus>,
    now: i64,
) -> Result<(), StoreError> {
    let mut update = shipment::Entity::update_many()
        .col_expr(shipment::Column::UpdatedAtMs, Expr::value(now))
        .filter(shipment::Column::Id.eq(shipment_id))
        .filter(shipment::Column::Status.is_in(from.iter().map(|s| s.as_str())));
    if let Some(to) = to {
        update = update.col_expr(shipment::Column::Status, Expr::value(to.as_str()));
    }
    if update.exec(db).await?.rows_affected != 1 {
        return Err(StoreError::StockMoved);
    }
    Ok(())
}

/// The waiting backorders of some orders: a line's account and an order's
/// settlement read these, through the index by order and status.
pub(super) fn waiting_of(order_ids: impl IntoIterator<Item = i64>) -> sea_orm::Select<backorder::Entity> {
    backorder::Entity::find()
        .filter(backorder::Column::OrderId.is_in(order_ids))
        .filter(backorder::Column::Status.is_in(OPEN))
}

/// A package by id, or which one is unknown.
pub(super) async fn package<C: ConnectionTrait>(db: &C, id: i64) -> Result<shipment::Model, StoreError> {
    shipment::Entity::find_by_id(id).one(db).await?.ok_or(StoreError::UnknownShipment(id))
}

/// Applies `action` (allocate, cancel, expire, substitute) to `units` of a
/// waiting backorder: the whole row, or a split-off row with the rest still
/// waiting. The one place a waiting backorder leaves the queue: the
/// domain's state machine says whether it may and what it becomes, and the
/// write is guarded by the status and quantity read. Returns the new status.
pub(super) async fn split_backorder<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    row: &backorder::Model,
    units: i64,
    action: BackorderAction,
    now: i64,
) -> Result<BackorderStatus, StoreError> {
    let to = transition(stored::backorder_status(&row.status)?, action).map_err(StoreError::InvalidTransition)?;
    if units <= 0 || units > row.quantity {
        return Err(StoreError::Invariant(format!("{units} units asked of backorder {} of {}", row.id, row.quantity)));
    }
    let guard = backorder::Entity::update_many()
        .filter(backorder::Column::Id.eq(row.id))
        .filter(backorder::Column::Status.eq(row.status.clone()))
        .filter(backorder::Column::Quantity.eq(row.quantity))
        .col_expr(backorder::Column::UpdatedAtMs, Expr::value(now));
    let updated = if units == row.quantity {
        guard.col_expr(backorder::Column::Status, Expr::value(to.as_str())).exec(db).await?
    } else {
        let result = guard.col_expr(backorder::Column::Quantity, Expr::value(row.quantity - units)).exec(db).await?;
        if result.rows_affected == 1 {
            // Allocated units are available now.
            let estimated =
                if to == BackorderStatus::Allocated { today(now).days_since_epoch() } else { row.estimated_available };
            backorder::ActiveModel {
                id: sea_orm::NotSet,
                quantity: Set(units),
                status: Set(to.as_str().to_owned()),
                estimated_available: Set(estimated),
                updated_at_ms: Set(now),
                ..backorder::ActiveModel::from(row.clone())
            }
            .insert(db)
            .await?;
        }
        result
    };
    if updated.rows_affected != 1 {
        return Err(StoreError::StockMoved);
    }
    if units == row.quantity && row.status == BackorderStatus::Confirmed.as_str() {
        // Out of the queue; a split-off part leaves the row in its place.
        ranks::moved(db, locks, [ranks::entry(row)], -1).await?;
    }
    Ok(to)
}

pub(super) fn today(now_ms: i64) -> Day {
    Day::from_days_since_epoch(i32::try_from(now_ms.div_euclid(86_400_000)).unwrap_or(i32::MAX))
}

pub(super) async fn event<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
    kind: EventKind,
    payload: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    event_row(order_id, kind, payload, now).insert(db).await?;
    Ok(())
}

/// An order event's row, for writers that insert many at once.
pub(super) fn event_row(
    order_id: i64,
    kind: EventKind,
    payload: serde_json::Value,
    now: i64,
) -> order_event::ActiveModel {
    order_event::ActiveModel {
        order_id: Set(order_id),
        kind: Set(kind.as_str().to_owned()),
        payload: Set(payload.to_string()),
        created_at_ms: Set(now),
        actor: Set(Some(super::current_actor())),
        ..Default::default()
    }
}

/// Adds `units` to one of a line's accounting columns (`cancelled`,
/// `substituted`), guarded on the line's current counts: the units leave
/// the line only if it still has them, whatever ran beside this write.
pub(super) async fn count_on_line<C: ConnectionTrait>(
    db: &C,
    line_id: i64,
    column: crate::db::entity::order_line::Column,
    units: i64,
) -> Result<(), StoreError> {
    use crate::db::entity::order_line;
    let left = Expr::col(order_line::Column::Quantity)
        .sub(Expr::col(order_line::Column::Cancelled))
        .sub(Expr::col(order_line::Column::Substituted));
    let counted = order_line::Entity::update_many()
        .col_expr(column, Expr::col(column).add(units))
        .filter(order_line::Column::Id.eq(line_id))
        .filter(left.gte(units))
        .exec(db)
        .await?;
    if counted.rows_affected != 1 {
        // Every caller holds the order's lock and read the line under it.
        return Err(StoreError::Invariant(format!("line {line_id} has fewer than {units} units left to take")));
    }
    Ok(())
}

/// What an order adds up to, from its lines, shipping and credits.
pub(super) async fn totals<C: sea_orm::ConnectionTrait>(
    db: &C,
    order_id: i64,
) -> Result<domain::compensation::OrderTotals, StoreError> {
    use super::money_from_micros;
    use super::stored::count;
    use crate::db::entity::{compensation, order_line};
    use domain::Money;
    use domain::compensation::{BilledLine, OrderTotals};
    let order = order::Entity::find_by_id(order_id).one(db).await?.ok_or(StoreError::UnknownOrder(order_id))?;
    let lines = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order_id))
        .all(db)
        .await?
        .into_iter()
        .map(|l| {
            Ok(BilledLine {
                unit_price: money_from_micros(l.unit_price_micros),
                quantity: count("line quantity", l.quantity)?,
                cancelled: count("cancelled units", l.cancelled)?,
                substituted: count("substituted units", l.substituted)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let credits: Vec<Money> = compensation::Entity::find()
        .filter(compensation::Column::OrderId.eq(order_id))
        .all(db)
        .await?
        .iter()
        .map(|c| money_from_micros(c.amount_micros))
        .collect();
    Ok(OrderTotals::add_up(
        &lines,
        money_from_micros(order.shipping_cost_micros),
        money_from_micros(order.partial_shipment_charge_micros),
        &credits,
    ))
}

/// Reverses the part of an order's credits that a cancellation or a
/// substitution left above what the order is still worth, so its total
/// never goes below zero: a negative credit of that amount and a
/// `COMPENSATION_REVERSED` event. An order never credited costs one index
/// probe. Runs under the order's lock, after its lines changed.
pub(super) async fn cap_credits<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    order_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    use crate::db::entity::compensation;
    use sea_orm::QuerySelect;
    locks.require_order(order_id)?;
    let credited = compensation::Entity::find()
        .select_only()
        .column(compensation::Column::Id)
        .filter(compensation::Column::OrderId.eq(order_id))
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    if credited.is_some()
        && let Some(excess) = totals(db, order_id).await?.excess_credit()
    {
        let reason = "credit above what the order is still worth";
        compensation::Entity::insert(compensation::ActiveModel {
            order_id: Set(order_id),
            amount_micros: Set(-super::to_micros(excess.amount())?),
            reason: Set(reason.to_owned()),
            kind: Set("REVERSAL".to_owned()),
            backorder_id: Set(None),
            created_at_ms: Set(now),
            ..Default::default()
        })
        .exec_without_returning(db)
        .await?;
        event(
            db,
            order_id,
            EventKind::CompensationReversed,
            serde_json::json!({ "amount": excess.to_string(), "reason": reason }),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Units available over all warehouses; a sum past what one count holds is
/// more than anyone can ask for, so it saturates.
pub(super) fn total_of(available: &HashMap<i64, u32>) -> u32 {
    u32::try_from(available.values().map(|&u| u64::from(u)).sum::<u64>()).unwrap_or(u32::MAX)
}

/// The available units of a product per active warehouse, with those
/// warehouses' rows.
pub(super) async fn available_of<C: ConnectionTrait>(
    db: &C,
    product_id: i64,
) -> Result<(HashMap<i64, u32>, HashMap<i64, warehouse::Model>), StoreError> {
    let levels = stock_level::Entity::find().filter(stock_level::Column::ProductId.eq(product_id)).all(db).await?;
    let warehouses = super::levels::active_warehouses(db, levels.iter().map(|l| l.warehouse_id)).await?;
    let mut available = HashMap::new();
    for l in levels.iter().filter(|l| warehouses.contains_key(&l.warehouse_id)) {
        let level = StockLevel::new(l.on_hand, l.reserved, l.safety_stock)
            .map_err(|e| StoreError::Invariant(format!("stored level out of range: {e}")))?;
        if level.available() > 0 {
            available.insert(l.warehouse_id, level.available());
        }
    }
    Ok((available, warehouses))
}

/// Locks orders (see `Locks::orders`) and reads them as they are under
/// their locks.
pub(super) async fn locked_orders<C: ConnectionTrait>(
    db: &C,
    locks: &mut Locks,
    ids: Vec<i64>,
) -> Result<HashMap<i64, order::Model>, StoreError> {
    locks.orders(db, &ids).await?;
    Ok(order::Entity::find()
        .filter(order::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect())
}

/// A waiting backorder as the queue sees it.
pub(super) fn waiting(b: &backorder::Model) -> Result<Waiting, StoreError> {
    Ok(Waiting {
        id: b.id,
        priority: b.priority,
        confirmed_at_ms: b.confirmed_at_ms.unwrap_or(b.created_at_ms),
        quantity: stored::count("backorder quantity", b.quantity)?,
    })
}

/// The rows behind a (warehouse code, sku) pair, or which one is unknown.
pub(super) async fn warehouse_and_product<C: ConnectionTrait>(
    db: &C,
    code: &WarehouseCode,
    sku: &Sku,
) -> Result<(warehouse::Model, crate::db::entity::product::Model), StoreError> {
    let w = warehouse::Entity::find()
        .filter(warehouse::Column::Code.eq(code.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| StoreError::UnknownWarehouse(code.to_string()))?;
    let p = crate::db::entity::product::Entity::find()
        .filter(crate::db::entity::product::Column::Sku.eq(sku.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| StoreError::UnknownSku(sku.to_string()))?;
    Ok((w, p))
}
/// Reserves `units` of a stock row if it still has them available: the one
/// place `reserved` grows. `StockMoved` when the row no longer holds them.
pub(super) async fn reserve<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    warehouse_id: i64,
    product_id: i64,
    units: i64,
    now: i64,
) -> Result<(), StoreError> {
    locks.require_product(product_id)?;
    let available = Expr::col(stock_level::Column::OnHand)
        .sub(Expr::col(stock_level::Column::Reserved))
        .sub(Expr::col(stock_level::Column::SafetyStock));
    let result = stock_level::Entity::update_many()
        .col_expr(stock_level::Column::Reserved, Expr::col(stock_level::Column::Reserved).add(units))
        .col_expr(stock_level::Column::Version, Expr::col(stock_level::Column::Version).add(1))
        .col_expr(stock_level::Column::UpdatedAtMs, Expr::value(now))
        .filter(stock_level::Column::WarehouseId.eq(warehouse_id))
        .filter(stock_level::Column::ProductId.eq(product_id))
        .filter(available.gte(units))
        .exec(db)
        .await?;
    if result.rows_affected != 1 {
        return Err(StoreError::StockMoved);
    }
    Ok(())
}

pub(super) fn backorder_record(m: backorder::Model) -> Result<BackorderRecord, StoreError> {
    Ok(BackorderRecord {
        id: m.id,
        order_id: m.order_id,
        sku: stored::sku(m.sku)?,
        quantity: stored::count("backorder quantity", m.quantity)?,
        status: stored::backorder_status(&m.status)?,
        estimated_available: m.estimated_available,
        promised_available: m.promised_available,
        confirmed_at_ms: m.confirmed_at_ms,
        overdue_at_ms: m.overdue_at_ms,
        created_at_ms: m.created_at_ms,
    })
}
/// Why units left what a warehouse has on hand, as the audit trail says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StockChange {
    /// An absolute level from a feed (or an admin).
    Feed,
    /// Units arrived.
    Receipt,
    /// A relative change with a reason.
    Adjustment,
    /// Units left in a package.
    Shipment,
    /// Units found missing or damaged while picking.
    ShortPick,
}

impl StockChange {
    fn as_str(self) -> &'static str {
        match self {
            StockChange::Feed => "FEED",
            StockChange::Receipt => "RECEIPT",
            StockChange::Adjustment => "ADJUSTMENT",
            StockChange::Shipment => "SHIPMENT",
            StockChange::ShortPick => "SHORT_PICK",
        }
    }
}

/// A level's values before and after a change.
pub(super) struct LevelChange {
    pub on_hand: (i64, i64),
    pub safety: (i64, i64),
    pub sequence: Option<i64>,
    pub note: Option<String>,
}

/// Records a change of a level in its audit trail, with whoever the
/// current task acts for.
pub(super) async fn audit<C: ConnectionTrait>(
    db: &C,
    (warehouse_id, product_id): (i64, i64),
    kind: StockChange,
    change: LevelChange,
    now: i64,
) -> Result<(), StoreError> {
    stock_change::ActiveModel {
        warehouse_id: Set(warehouse_id),
        product_id: Set(product_id),
        kind: Set(kind.as_str().to_owned()),
        actor: Set(super::current_actor()),
        on_hand_before: Set(change.on_hand.0),
        on_hand_after: Set(change.on_hand.1),
        safety_before: Set(change.safety.0),
        safety_after: Set(change.safety.1),
        sequence: Set(change.sequence),
        note: Set(change.note),
        created_at_ms: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Takes `units` out of a level's reservation, and out of what is on hand
/// when they physically left (`gone`: shipped, or written off).
pub(super) async fn release<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    warehouse_id: i64,
    product_id: i64,
    units: i64,
    gone: Option<StockChange>,
    now: i64,
) -> Result<(), StoreError> {
    locks.require_product(product_id)?;
    let shipped = gone.is_some();
    // Under the product's lock, what is read here is what the update changes.
    let before = match gone {
        Some(_) => stock_level::Entity::find_by_id((warehouse_id, product_id)).one(db).await?,
        None => None,
    };
    let mut update = stock_level::Entity::update_many()
        .col_expr(stock_level::Column::Reserved, Expr::col(stock_level::Column::Reserved).sub(units))
        .col_expr(stock_level::Column::Version, Expr::col(stock_level::Column::Version).add(1))
        .col_expr(stock_level::Column::UpdatedAtMs, Expr::value(now))
        .filter(stock_level::Column::WarehouseId.eq(warehouse_id))
        .filter(stock_level::Column::ProductId.eq(product_id))
        .filter(stock_level::Column::Reserved.gte(units));
    if shipped {
        update = update
            .col_expr(stock_level::Column::OnHand, Expr::col(stock_level::Column::OnHand).sub(units))
            .filter(stock_level::Column::OnHand.gte(units));
    }
    if update.exec(db).await?.rows_affected != 1 {
        // The product's lock is held and every reservation is in a package:
        // a level that holds less is a broken invariant, not a race.
        return Err(StoreError::Invariant(format!(
            "stock level (warehouse {warehouse_id}, product {product_id}) holds fewer than {units} reserved units"
        )));
    }
    if let (Some(kind), Some(level)) = (gone, before) {
        let change = LevelChange {
            on_hand: (level.on_hand, level.on_hand - units),
            safety: (level.safety_stock, level.safety_stock),
            sequence: None,
            note: None,
        };
        audit(db, (warehouse_id, product_id), kind, change, now).await?;
    }
    Ok(())
}
