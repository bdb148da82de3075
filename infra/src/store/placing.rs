//! Placing units for an order that already exists (an allocated
//! backorder, a re-sourced short pick, a substitute) and settling the order
//! after any change: where the units go (`domain::sourcing::source_more`),
//! the package they join or open, the backorder that waits for what is not
//! there, and the status and hold the order's rows then derive
//! (`domain::order::OrderProgress`). Everything here runs under the
//! product's and the order's locks.

use std::collections::HashMap;

use domain::calendar::transit_days;
use domain::money::distance_meters;
use domain::order::{BackorderStatus, EventKind, ShipmentStatus};
use domain::sourcing::{SearchBudget, SplitPolicy, source_more};
use domain::{Network, Quantity, WarehouseCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde_json::json;

use super::locks::Locks;
use super::queue::estimate_for_new;
use super::rows::{UNSHIPPED, available_of, event, move_shipment, today, total_of};
use super::stored::{self, shipment_status, split_policy};
use super::{StoreError, to_micros};
use crate::db::entity::{backorder, order, shipment, shipment_line, warehouse};

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
    let waiting = super::rows::waiting_of([order_id]).count(db).await?;
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
        let code =
            warehouse::Entity::find_by_id(p.warehouse_id).one(db).await?.map(|w| w.code).ok_or_else(|| {
                StoreError::Invariant(format!("a package names missing warehouse {}", p.warehouse_id))
            })?;
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

/// The order line units are placed for.
pub(super) struct LineRef<'a> {
    pub order_line_id: i64,
    pub product_id: i64,
    pub sku: &'a str,
}

impl<'a> LineRef<'a> {
    pub(super) fn of(row: &'a backorder::Model) -> Self {
        Self { order_line_id: row.order_line_id, product_id: row.product_id, sku: &row.sku }
    }
}

/// Where `units` of `sku` for an order come from, as
/// `domain::sourcing::source_more` decides: the warehouse of one of the
/// order's open packages if it holds them all (no new package), otherwise
/// the fewest-packages, cheapest plan for the one line. `units` must not
/// exceed what `available` holds in all.
pub(super) async fn choose_sources<C: ConnectionTrait>(
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
pub(super) async fn add_to_shipment<C: ConnectionTrait>(
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
        super::rows::reserve(db, locks, warehouse_id, line.product_id, i64::from(take), now).await?;
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
