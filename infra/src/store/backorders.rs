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

use domain::backorder::{BackorderAction, Waiting, allocate, transition};
use domain::calendar::{Day, transit_days};
use domain::inventory::StockLevel;
use domain::money::distance_meters;
use domain::order::{BackorderStatus, EventKind, ShipmentStatus};
use domain::sourcing::{SearchBudget, SplitPolicy, source_more};
use domain::{GeoPoint, Network, Quantity, Sku, WarehouseCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde_json::json;

use super::locks::Locks;
use super::stored::{self, backorder_status, shipment_status, split_policy};
use super::{BackorderRecord, Store, StoreError, to_micros};
use crate::db::entity::{
    backorder, inbound_receipt, order, order_event, shipment, shipment_line, stock_level, warehouse,
};

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

/// Marks `units` of a waiting backorder `to` (allocated, cancelled,
/// substituted): the whole row, or a split-off row with the rest still
/// waiting. Guarded by the status and quantity read.
pub(super) async fn split_backorder<C: ConnectionTrait>(
    db: &C,
    row: &backorder::Model,
    units: i64,
    to: BackorderStatus,
    now: i64,
) -> Result<(), StoreError> {
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
    Ok(())
}

fn today(now_ms: i64) -> Day {
    Day::from_days_since_epoch(i32::try_from(now_ms.div_euclid(86_400_000)).unwrap_or(i32::MAX))
}

pub(super) async fn event<C: ConnectionTrait>(
    db: &C,
    order_id: i64,
    kind: EventKind,
    payload: serde_json::Value,
    now: i64,
) -> Result<(), StoreError> {
    order_event::ActiveModel {
        order_id: Set(order_id),
        kind: Set(kind.as_str().to_owned()),
        payload: Set(payload.to_string()),
        created_at_ms: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Settles an order after anything of it changed: its status and its
/// `SHIP_COMPLETE` hold, as `domain::order::OrderProgress` derives them from
/// the committed rows. Runs under the order's lock, so what it reads is what
/// every earlier writer of the order committed and nobody writes beside it.
pub(super) async fn settle_order<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    order_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    use domain::order::OrderProgress;
    locks.require_order(order_id)?;
    let order = order::Entity::find_by_id(order_id).one(db).await?.ok_or(StoreError::UnknownOrder(order_id))?;
    let waiting = backorder::Entity::find()
        .filter(backorder::Column::OrderId.eq(order_id))
        .filter(backorder::Column::Status.is_in(OPEN))
        .count(db)
        .await?;
    let packages = shipment::Entity::find().filter(shipment::Column::OrderId.eq(order_id)).all(db).await?;
    let mut progress = OrderProgress {
        complete_only: split_policy(&order.policy)? == SplitPolicy::ShipComplete,
        waiting: u32::try_from(waiting)
            .map_err(|_| StoreError::Invariant(format!("order {order_id} has {waiting} backorders")))?,
        ..Default::default()
    };
    let mut by_status: Vec<(ShipmentStatus, &shipment::Model)> = Vec::with_capacity(packages.len());
    for p in &packages {
        let status = shipment_status(&p.status)?;
        match status {
            ShipmentStatus::Pending => progress.pending += 1,
            ShipmentStatus::Released => progress.released += 1,
            ShipmentStatus::Shipped => progress.shipped += 1,
            ShipmentStatus::Cancelled => {}
        }
        by_status.push((status, p));
    }
    let settlement = progress.settle();
    for &(status, p) in &by_status {
        let (to, kind, reason) = match status {
            ShipmentStatus::Pending if settlement.release_held => {
                (ShipmentStatus::Released, EventKind::ShipmentReleased, "order complete")
            }
            // The shopper asked for one delivery: what was released waits again.
            ShipmentStatus::Released if settlement.hold_released => {
                (ShipmentStatus::Pending, EventKind::ShipmentHeld, "waiting for backordered units")
            }
            _ => continue,
        };
        move_shipment(db, p.id, &[status], Some(to), now).await?;
        let code = warehouse::Entity::find_by_id(p.warehouse_id).one(db).await?.map(|w| w.code).unwrap_or_default();
        event(db, order_id, kind, json!({ "shipment": p.id, "warehouse": code, "reason": reason }), now).await?;
    }
    if order.status != settlement.status.as_str() {
        order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(settlement.status.as_str()))
            .col_expr(order::Column::UpdatedAtMs, Expr::value(now))
            .filter(order::Column::Id.eq(order_id))
            .exec(db)
            .await?;
    }
    Ok(())
}

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
            transition(backorder_status(&row.status)?, BackorderAction::Allocate)
                .map_err(StoreError::InvalidTransition)?;
            let line = LineRef::of(row);
            let sources = choose_sources(db, order, &row.sku, units, &available, &warehouses).await?;
            for &(warehouse_id, take) in &sources {
                super::orders::reserve(db, locks, warehouse_id, product_id, i64::from(take), now).await?;
                *available.get_mut(&warehouse_id).expect("chosen from available") -= take;
                add_to_shipment(db, locks, order, &line, &warehouses[&warehouse_id], take, now).await?;
            }
            split_backorder(db, row, i64::from(units), BackorderStatus::Allocated, now).await?;
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
fn waiting(b: &backorder::Model) -> Result<Waiting, StoreError> {
    Ok(Waiting {
        id: b.id,
        priority: b.priority,
        confirmed_at_ms: b.confirmed_at_ms.unwrap_or(b.created_at_ms),
        quantity: stored::count("backorder quantity", b.quantity)?,
    })
}

/// Units available over all warehouses; a sum past what one count holds is
/// more than anyone can ask for, so it saturates.
fn total_of(available: &HashMap<i64, u32>) -> u32 {
    u32::try_from(available.values().map(|&u| u64::from(u)).sum::<u64>()).unwrap_or(u32::MAX)
}

/// The available units of a product per active warehouse, with those
/// warehouses' rows.
pub(super) async fn available_of<C: ConnectionTrait>(
    db: &C,
    product_id: i64,
) -> Result<(HashMap<i64, u32>, HashMap<i64, warehouse::Model>), StoreError> {
    let levels = stock_level::Entity::find().filter(stock_level::Column::ProductId.eq(product_id)).all(db).await?;
    let warehouses = super::stock::active_warehouses(db, levels.iter().map(|l| l.warehouse_id)).await?;
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

/// The order line units are placed for.
pub(super) struct LineRef<'a> {
    pub order_line_id: i64,
    pub product_id: i64,
    pub sku: &'a str,
}

impl<'a> LineRef<'a> {
    fn of(row: &'a backorder::Model) -> Self {
        Self { order_line_id: row.order_line_id, product_id: row.product_id, sku: &row.sku }
    }
}

/// Where `units` of `sku` for an order come from, as
/// `domain::sourcing::source_more` decides: the warehouse of one of the
/// order's open packages if it holds them all (no new package), otherwise
/// the fewest-packages, cheapest plan for the one line. `units` must not
/// exceed what `available` holds in all.
async fn choose_sources<C: ConnectionTrait>(
    db: &C,
    order: &order::Model,
    sku: &str,
    units: u32,
    available: &HashMap<i64, u32>,
    warehouses: &HashMap<i64, warehouse::Model>,
) -> Result<Vec<(i64, u32)>, StoreError> {
    let open: Vec<i64> = shipment::Entity::find()
        .select_only()
        .column(shipment::Column::WarehouseId)
        .filter(shipment::Column::OrderId.eq(order.id))
        .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)))
        .order_by_asc(shipment::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let records: Vec<domain::Warehouse> = available
        .keys()
        .map(|id| Ok(super::network::record(warehouses[id].clone(), None)?.to_domain()))
        .collect::<Result<_, StoreError>>()?;
    let mut network = Network::new(records).map_err(|e| StoreError::Invariant(e.to_string()))?;
    let sku = stored::sku(sku.to_owned())?;
    let mut ids: HashMap<WarehouseCode, i64> = HashMap::new();
    for (&id, &units) in available {
        let code = stored::warehouse_code(warehouses[&id].code.clone())?;
        network.set_available(&code, sku.clone(), units).map_err(|e| StoreError::Invariant(e.to_string()))?;
        ids.insert(code, id);
    }
    let open: Vec<WarehouseCode> =
        open.iter().filter_map(|w| ids.iter().find(|&(_, id)| id == w).map(|(code, _)| code.clone())).collect();
    let destination = stored::point(order.latitude, order.longitude)?;
    let quantity = Quantity::new(i64::from(units)).map_err(|e| StoreError::Invariant(e.to_string()))?;
    Ok(source_more(&sku, quantity, destination, &open, &network, SearchBudget::default())
        .into_iter()
        .map(|(code, take)| (ids[&code], take))
        .collect())
}

/// Adds units to the order's open shipment from that warehouse, or opens a
/// new one (held while a `SHIP_COMPLETE` order still waits).
async fn add_to_shipment<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    order: &order::Model,
    row: &LineRef<'_>,
    warehouse: &warehouse::Model,
    units: u32,
    now: i64,
) -> Result<(), StoreError> {
    // Invariant: at most one open package per order and warehouse (a
    // unique index backs it); the order's lock makes this read the truth.
    locks.require_order(order.id)?;
    let existing = shipment::Entity::find()
        .filter(shipment::Column::OrderId.eq(order.id))
        .filter(shipment::Column::WarehouseId.eq(warehouse.id))
        .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)))
        .one(db)
        .await?;
    let shipment_id = match existing {
        Some(s) => {
            // Still open when the units join it.
            move_shipment(db, s.id, &UNSHIPPED, None, now).await?;
            s.id
        }
        None => {
            let destination = stored::point(order.latitude, order.longitude)?;
            let origin = super::network::record(warehouse.clone(), None)?.to_domain();
            let meters = distance_meters(origin.location().distance_km(destination));
            let rate = *origin.rate();
            let days = stored::count("handling days", i64::from(warehouse.handling_days))?
                .saturating_add(transit_days(meters));
            // A new package of an order that ships complete waits with the
            // rest; the order's settlement releases them together.
            let status = match split_policy(&order.policy)? {
                SplitPolicy::ShipComplete => ShipmentStatus::Pending,
                SplitPolicy::ShipAvailable => ShipmentStatus::Released,
            };
            let id = shipment::Entity::insert(shipment::ActiveModel {
                order_id: Set(order.id),
                warehouse_id: Set(warehouse.id),
                status: Set(status.as_str().to_owned()),
                tracking_number: Set(None),
                cost_micros: Set(to_micros(rate.cost_at_meters(meters).amount())?),
                distance_m: Set(i64::try_from(meters).unwrap_or(i64::MAX)),
                estimated_delivery: Set(today(now).plus_days(days).days_since_epoch()),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
                ..Default::default()
            })
            .exec(db)
            .await?
            .last_insert_id;
            let kind =
                if status == ShipmentStatus::Pending { EventKind::ShipmentHeld } else { EventKind::ShipmentReleased };
            event(db, order.id, kind, json!({ "warehouse": warehouse.code }), now).await?;
            id
        }
    };
    shipment_line::ActiveModel {
        shipment_id: Set(shipment_id),
        order_line_id: Set(row.order_line_id),
        product_id: Set(row.product_id),
        sku: Set(row.sku.to_owned()),
        quantity: Set(i64::from(units)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Reserves up to `units` of a line's product for an order wherever they are
/// available, joining the order's open packages where that avoids a new one. Returns (warehouse code, units) per
/// source; what it could not place is `units` minus their sum.
pub(super) async fn place_units<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    order: &order::Model,
    line: &LineRef<'_>,
    units: u32,
    now: i64,
) -> Result<Vec<(String, u32)>, StoreError> {
    // What is not placed here waits as a confirmed backorder, so nobody may
    // make the product's units available beside it.
    locks.require_product(line.product_id)?;
    let (available, warehouses) = available_of(db, line.product_id).await?;
    let units = units.min(total_of(&available));
    if units == 0 {
        return Ok(Vec::new());
    }
    let sources = choose_sources(db, order, line.sku, units, &available, &warehouses).await?;
    let mut placed = Vec::new();
    for (warehouse_id, take) in sources {
        super::orders::reserve(db, locks, warehouse_id, line.product_id, i64::from(take), now).await?;
        add_to_shipment(db, locks, order, line, &warehouses[&warehouse_id], take, now).await?;
        placed.push((warehouses[&warehouse_id].code.clone(), take));
    }
    Ok(placed)
}

/// Opens a confirmed backorder for units of a line that the order already
/// holds a promise for (a substitute, a short pick): it joins the queue now.
/// The order's settlement holds its released packages if it ships complete.
pub(super) async fn open_backorder<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    order: &order::Model,
    line: &LineRef<'_>,
    units: u32,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    locks.require_product(line.product_id)?;
    locks.require_order(order.id)?;
    let product = crate::db::entity::product::Entity::find_by_id(line.product_id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::UnknownSku(line.sku.to_owned()))?;
    let fallback = today(now).plus_days(stored::count("lead time", i64::from(product.lead_time_days))?);
    let destination = stored::point(order.latitude, order.longitude)?;
    let eta = estimate_for_new(db, line.product_id, units, destination, fallback, now).await?.unwrap_or(fallback);
    let confirmed = BackorderStatus::Confirmed;
    backorder::ActiveModel {
        order_id: Set(order.id),
        order_line_id: Set(line.order_line_id),
        product_id: Set(line.product_id),
        sku: Set(line.sku.to_owned()),
        quantity: Set(i64::from(units)),
        status: Set(confirmed.as_str().to_owned()),
        estimated_available: Set(eta.days_since_epoch()),
        promised_available: Set(Some(eta.days_since_epoch())),
        priority: Set(order.priority),
        confirmed_at_ms: Set(Some(now)),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    event(
        db,
        order.id,
        EventKind::LineBackordered,
        json!({ "sku": line.sku, "quantity": units, "status": confirmed.as_str(), "estimatedAvailableDay": eta.days_since_epoch(), "reason": reason }),
        now,
    )
    .await?;
    Ok(())
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
    use sea_orm::sea_query::ExprTrait;
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

fn record(m: backorder::Model) -> Result<BackorderRecord, StoreError> {
    super::orders::backorder_record(m)
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
        let from = backorder_status(&row.status)?;
        let to = transition(from, action).map_err(StoreError::InvalidTransition)?;
        let mut update = backorder::Entity::update_many()
            .col_expr(backorder::Column::Status, Expr::value(to.as_str()))
            .col_expr(backorder::Column::UpdatedAtMs, Expr::value(now))
            .filter(backorder::Column::Id.eq(id))
            .filter(backorder::Column::Status.eq(from.as_str()));
        if to == BackorderStatus::Confirmed {
            update = update.col_expr(backorder::Column::ConfirmedAtMs, Expr::value(now));
        }
        if update.exec(&txn).await?.rows_affected != 1 {
            // Someone else changed it between our read and our write.
            return Err(StoreError::StockMoved);
        }
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

/// Days in transit from a warehouse to a destination.
fn transit_from(origin: GeoPoint, destination: GeoPoint) -> u32 {
    transit_days(distance_meters(origin.distance_km(destination)))
}

/// Re-estimates when the waiting backorders of `product_id` get their units,
/// from the expected receipts, and records every date that moved.
pub(super) async fn refresh_estimates<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    product_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    use domain::backorder::{estimate_availability, estimation_order};
    locks.require_product(product_id)?;
    let open = backorder::Entity::find()
        .filter(backorder::Column::ProductId.eq(product_id))
        .filter(backorder::Column::Status.is_in(OPEN))
        .all(db)
        .await?;
    if open.is_empty() {
        return Ok(());
    }
    let product = crate::db::entity::product::Entity::find_by_id(product_id).one(db).await?;
    let lead = match product {
        Some(p) => stored::count("lead time", i64::from(p.lead_time_days))?,
        None => return Err(StoreError::Invariant(format!("backorders of missing product {product_id}"))),
    };
    let today = today(now);
    let (receipts, origins) = expected_receipts(db, product_id, today).await?;
    let order_ids: Vec<i64> = open.iter().map(|b| b.order_id).collect();
    let orders: HashMap<i64, order::Model> = order::Entity::find()
        .filter(order::Column::Id.is_in(order_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let confirmed: Vec<&backorder::Model> =
        open.iter().filter(|b| b.status == BackorderStatus::Confirmed.as_str()).collect();
    let awaiting: Vec<&backorder::Model> =
        open.iter().filter(|b| b.status != BackorderStatus::Confirmed.as_str()).collect();
    let ordered = estimation_order(
        confirmed.into_iter().map(waiting).collect::<Result<_, _>>()?,
        awaiting.into_iter().map(waiting).collect::<Result<_, _>>()?,
    );
    let rows: HashMap<i64, &backorder::Model> = open.iter().map(|b| (b.id, b)).collect();
    let destinations: HashMap<i64, GeoPoint> = orders
        .values()
        .map(|o| Ok((o.id, stored::point(o.latitude, o.longitude)?)))
        .collect::<Result<_, StoreError>>()?;
    let arrival = |id: i64, receipt: &domain::backorder::Receipt| {
        let destination = destinations[&rows[&id].order_id];
        receipt.expected_on.plus_days(transit_from(origins[&receipt.origin], destination))
    };
    for (id, day) in estimate_availability(&ordered, &receipts, today.plus_days(lead), arrival) {
        let row = rows[&id];
        if row.estimated_available == day.days_since_epoch() {
            continue;
        }
        backorder::Entity::update_many()
            .col_expr(backorder::Column::EstimatedAvailable, Expr::value(day.days_since_epoch()))
            .col_expr(backorder::Column::UpdatedAtMs, Expr::value(now))
            .filter(backorder::Column::Id.eq(id))
            .exec(db)
            .await?;
        event(
            db,
            row.order_id,
            EventKind::BackorderEtaChanged,
            json!({ "backorder": id, "sku": row.sku, "fromDay": row.estimated_available, "toDay": day.days_since_epoch() }),
            now,
        )
        .await?;
    }
    Ok(())
}

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
    use sea_orm::sea_query::{Alias, ExprTrait, Func};
    let (receipts, origins) = expected_receipts(db, product_id, today(now)).await?;
    if receipts.is_empty() {
        return Ok(None);
    }
    let ahead: Option<i64> = backorder::Entity::find()
        .select_only()
        .column_as(Expr::expr(Func::sum(Expr::col(backorder::Column::Quantity))).cast_as(Alias::new("bigint")), "ahead")
        .filter(backorder::Column::ProductId.eq(product_id))
        .filter(backorder::Column::Status.is_in(OPEN))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    // More units waiting than one count holds only delays the estimate.
    let ahead = u32::try_from(ahead.unwrap_or(0)).unwrap_or(u32::MAX);
    let queue = [
        Waiting { id: 0, priority: 0, confirmed_at_ms: 0, quantity: ahead },
        Waiting { id: 1, priority: 0, confirmed_at_ms: 1, quantity },
    ];
    let arrival =
        |_: i64, r: &domain::backorder::Receipt| r.expected_on.plus_days(transit_from(origins[&r.origin], destination));
    Ok(estimate_availability(&queue, &receipts, fallback, arrival).last().map(|&(_, day)| day))
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
