//! Placing units for an order that already exists (an allocated
//! backorder, a re-sourced short pick, a substitute) and settling the order
//! after any change: where the units go (`domain::sourcing::source_more`),
//! the package they join or open, the backorder that waits for what is not
//! there, and the status and hold the order's rows then derive
//! (`domain::order::OrderProgress`). Everything here runs under the
//! product's and the order's locks.

use domain::backorder::rank::queue_key;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use domain::calendar::transit_days;
use domain::money::distance_meters;
use domain::order::{BackorderStatus, EventKind, ShipmentStatus};
use domain::sourcing::{SearchBudget, SplitPolicy, source_more};
use domain::{Network, Quantity, WarehouseCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::locks::Locks;
use super::queue::estimate_for_new;
use super::ranks;
use super::rows::{UNSHIPPED, available_of, event, event_row, today, total_of};
use super::stored::{self, shipment_status, split_policy};
use super::{StoreError, to_micros};
use crate::db::entity::{backorder, order, order_event, shipment, shipment_line, warehouse};

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
    settle_orders(db, locks, &[order_id], now).await
}

/// `settle_order` for many orders at once, set-based: three reads whatever
/// their number, and one write per status or package move that changes.
pub(super) async fn settle_orders<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    order_ids: &[i64],
    now: i64,
) -> Result<(), StoreError> {
    use domain::order::OrderProgress;
    for &id in order_ids {
        locks.require_order(id)?;
    }
    let mut ids = order_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut settled_to: BTreeMap<&'static str, Vec<i64>> = BTreeMap::new();
    let mut moves: BTreeMap<(&'static str, &'static str), Vec<i64>> = BTreeMap::new();
    let mut events: Vec<(i64, EventKind, i64, i64, &'static str)> = Vec::new();
    for chunk in ids.chunks(WRITE_CHUNK) {
        let orders = order::Entity::find().filter(order::Column::Id.is_in(chunk.iter().copied())).all(db).await?;
        let waiting: HashMap<i64, i64> = super::rows::waiting_of(chunk.iter().copied())
            .select_only()
            .column(backorder::Column::OrderId)
            .column_as(backorder::Column::Id.count(), "n")
            .group_by(backorder::Column::OrderId)
            .into_tuple::<(i64, i64)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let mut packages: HashMap<i64, Vec<shipment::Model>> = HashMap::new();
        for p in shipment::Entity::find()
            .filter(shipment::Column::OrderId.is_in(chunk.iter().copied()))
            .order_by_asc(shipment::Column::Id)
            .all(db)
            .await?
        {
            packages.entry(p.order_id).or_default().push(p);
        }
        if orders.len() != chunk.len() {
            let missing = chunk.iter().find(|id| !orders.iter().any(|o| o.id == **id)).copied().unwrap_or_default();
            return Err(StoreError::UnknownOrder(missing));
        }
        for order in &orders {
            let waiting = waiting.get(&order.id).copied().unwrap_or(0);
            let mut progress = OrderProgress {
                complete_only: split_policy(&order.policy)? == SplitPolicy::ShipComplete,
                waiting: u32::try_from(waiting)
                    .map_err(|_| StoreError::Invariant(format!("order {} has {waiting} backorders", order.id)))?,
                ..Default::default()
            };
            let mut by_status = Vec::new();
            for p in packages.get(&order.id).map(Vec::as_slice).unwrap_or_default() {
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
            for (status, p) in by_status {
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
                moves.entry((status.as_str(), to.as_str())).or_default().push(p.id);
                events.push((order.id, kind, p.id, p.warehouse_id, reason));
            }
            if order.status != settlement.status.as_str() {
                settled_to.entry(settlement.status.as_str()).or_default().push(order.id);
            }
        }
    }
    for ((from, to), packages) in moves {
        // Guarded: every package must still be where it was read.
        let moved = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(to))
            .col_expr(shipment::Column::UpdatedAtMs, Expr::value(now))
            .filter(shipment::Column::Id.is_in(packages.iter().copied()))
            .filter(shipment::Column::Status.eq(from))
            .exec(db)
            .await?;
        if moved.rows_affected != packages.len() as u64 {
            return Err(StoreError::StockMoved);
        }
    }
    if !events.is_empty() {
        let codes = warehouse_codes(db, events.iter().map(|e| e.3)).await?;
        let rows = events
            .into_iter()
            .map(|(order_id, kind, shipment, warehouse, reason)| {
                Ok(event_row(
                    order_id,
                    kind,
                    json!({ "shipment": shipment, "warehouse": code_of(&codes, warehouse)?, "reason": reason }),
                    now,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        insert_events(db, rows).await?;
    }
    for (status, orders) in settled_to {
        order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(status))
            .col_expr(order::Column::UpdatedAtMs, Expr::value(now))
            .filter(order::Column::Id.is_in(orders))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Rows per set-based write: well under what one statement may bind.
const WRITE_CHUNK: usize = 500;

async fn warehouse_codes<C: ConnectionTrait>(
    db: &C,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, String>, StoreError> {
    let ids: std::collections::BTreeSet<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(warehouse::Entity::find()
        .select_only()
        .columns([warehouse::Column::Id, warehouse::Column::Code])
        .filter(warehouse::Column::Id.is_in(ids))
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

fn code_of(codes: &HashMap<i64, String>, warehouse: i64) -> Result<&str, StoreError> {
    codes
        .get(&warehouse)
        .map(String::as_str)
        .ok_or_else(|| StoreError::Invariant(format!("a package names missing warehouse {warehouse}")))
}

/// Inserts events in the order given (their ids keep it).
async fn insert_events<C: ConnectionTrait>(db: &C, rows: Vec<order_event::ActiveModel>) -> Result<(), StoreError> {
    for chunk in rows.chunks(WRITE_CHUNK) {
        order_event::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
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

/// Units placed for the lines of some orders, decided one line after the
/// other and written together (`Packing::write`): one reservation per
/// level, one guard over the packages joined, one insert each of new
/// packages, package lines and events, whatever the number of lines.
/// Everything here runs under the products' and the orders' locks.
pub(super) struct Packing {
    /// Each order's open packages in the order they were opened: (warehouse,
    /// package id; none for a package this packing opens).
    open: HashMap<i64, Vec<(i64, Option<i64>)>>,
    reserved: BTreeMap<(i64, i64), i64>,
    joined: BTreeSet<i64>,
    packages: Vec<shipment::ActiveModel>,
    lines: Vec<(i64, i64, shipment_line::ActiveModel)>,
    events: Vec<order_event::ActiveModel>,
}

impl Packing {
    /// Reads the open packages of `order_ids` (one read), which the units
    /// placed join where that saves a package.
    pub(super) async fn of_orders<C: ConnectionTrait>(db: &C, order_ids: &[i64]) -> Result<Self, StoreError> {
        let mut open: HashMap<i64, Vec<(i64, Option<i64>)>> = HashMap::new();
        for chunk in order_ids.chunks(WRITE_CHUNK) {
            for (id, order_id, warehouse_id) in open_packages(db, chunk).await? {
                open.entry(order_id).or_default().push((warehouse_id, Some(id)));
            }
        }
        Ok(Self {
            open,
            reserved: BTreeMap::new(),
            joined: BTreeSet::new(),
            packages: Vec::new(),
            lines: Vec::new(),
            events: Vec::new(),
        })
    }

    /// Places `units` of a line for `order` (at most what `available` holds
    /// in all), as `domain::sourcing::source_more` decides: the warehouse of
    /// one of the order's open packages if it holds them all (no new
    /// package), otherwise the fewest-packages, cheapest plan for the one
    /// line. Takes them out of `available`; returns (warehouse id, units).
    pub(super) fn place(
        &mut self,
        order: &order::Model,
        line: &LineRef<'_>,
        units: u32,
        available: &mut HashMap<i64, u32>,
        warehouses: &HashMap<i64, warehouse::Model>,
        now: i64,
    ) -> Result<Vec<(i64, u32)>, StoreError> {
        let units = units.min(total_of(available));
        if units == 0 {
            return Ok(Vec::new());
        }
        let open: Vec<i64> = self.open.get(&order.id).map(|o| o.iter().map(|(w, _)| *w).collect()).unwrap_or_default();
        let sources = sources_for(order, line.sku, units, available, warehouses, &open)?;
        for &(warehouse_id, take) in &sources {
            let left = available.get_mut(&warehouse_id).ok_or_else(|| {
                StoreError::Invariant(format!("sourced from warehouse {warehouse_id}, which has nothing available"))
            })?;
            *left = left.checked_sub(take).ok_or_else(|| {
                StoreError::Invariant(format!("sourced {take} units from warehouse {warehouse_id}, which has {left}"))
            })?;
            *self.reserved.entry((warehouse_id, line.product_id)).or_default() += i64::from(take);
            self.join_or_open(order, &warehouses[&warehouse_id], now)?;
            self.lines.push((
                order.id,
                warehouse_id,
                shipment_line::ActiveModel {
                    order_line_id: Set(line.order_line_id),
                    product_id: Set(line.product_id),
                    sku: Set(line.sku.to_owned()),
                    quantity: Set(i64::from(take)),
                    ..Default::default()
                },
            ));
        }
        Ok(sources)
    }

    /// Appends an event, written after the packages' own.
    pub(super) fn event(&mut self, order_id: i64, kind: EventKind, payload: serde_json::Value, now: i64) {
        self.events.push(event_row(order_id, kind, payload, now));
    }

    /// The order's open package from that warehouse, or a new one (held
    /// while a `SHIP_COMPLETE` order still waits): at most one open package
    /// per order and warehouse, by this and by a unique index.
    fn join_or_open(&mut self, order: &order::Model, warehouse: &warehouse::Model, now: i64) -> Result<(), StoreError> {
        let open = self.open.entry(order.id).or_default();
        if let Some(&(_, existing)) = open.iter().find(|(w, _)| *w == warehouse.id) {
            if let Some(id) = existing {
                self.joined.insert(id);
            }
            return Ok(());
        }
        let destination = stored::point(order.latitude, order.longitude)?;
        let origin = super::network::record(warehouse.clone(), None)?.to_domain();
        let meters = distance_meters(origin.location().distance_km(destination));
        let rate = *origin.rate();
        let days =
            stored::count("handling days", i64::from(warehouse.handling_days))?.saturating_add(transit_days(meters));
        // A new package of an order that ships complete waits with the
        // rest; the order's settlement releases them together.
        let status = match split_policy(&order.policy)? {
            SplitPolicy::ShipComplete => ShipmentStatus::Pending,
            SplitPolicy::ShipAvailable => ShipmentStatus::Released,
        };
        self.packages.push(shipment::ActiveModel {
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
        });
        open.push((warehouse.id, None));
        let kind =
            if status == ShipmentStatus::Pending { EventKind::ShipmentHeld } else { EventKind::ShipmentReleased };
        self.event(order.id, kind, json!({ "warehouse": warehouse.code }), now);
        Ok(())
    }

    /// Writes what was placed: reservations (guarded: `StockMoved` if a
    /// level no longer holds its units), the joined packages (guarded: still
    /// open), new packages, their lines, then the events in the order they
    /// were made.
    pub(super) async fn write<C: ConnectionTrait>(self, db: &C, locks: &Locks, now: i64) -> Result<(), StoreError> {
        for (&(warehouse_id, product_id), &units) in &self.reserved {
            super::rows::reserve(db, locks, warehouse_id, product_id, units, now).await?;
        }
        for order_id in self.open.keys() {
            locks.require_order(*order_id)?;
        }
        let joined: Vec<i64> = self.joined.into_iter().collect();
        for chunk in joined.chunks(WRITE_CHUNK) {
            let still_open = shipment::Entity::update_many()
                .col_expr(shipment::Column::UpdatedAtMs, Expr::value(now))
                .filter(shipment::Column::Id.is_in(chunk.iter().copied()))
                .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)))
                .exec(db)
                .await?;
            if still_open.rows_affected != chunk.len() as u64 {
                return Err(StoreError::StockMoved);
            }
        }
        let mut ids: HashMap<(i64, i64), i64> = HashMap::new();
        for (&order_id, open) in &self.open {
            for &(warehouse_id, id) in open {
                if let Some(id) = id {
                    ids.insert((order_id, warehouse_id), id);
                }
            }
        }
        if !self.packages.is_empty() {
            let opened: BTreeSet<i64> = self.packages.iter().map(|p| *p.order_id.as_ref()).collect();
            for chunk in self.packages.chunks(WRITE_CHUNK) {
                shipment::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
            }
            let opened: Vec<i64> = opened.into_iter().collect();
            for chunk in opened.chunks(WRITE_CHUNK) {
                for (id, order_id, warehouse_id) in open_packages(db, chunk).await? {
                    ids.insert((order_id, warehouse_id), id);
                }
            }
        }
        let lines = self
            .lines
            .into_iter()
            .map(|(order_id, warehouse_id, mut line)| {
                let id = ids.get(&(order_id, warehouse_id)).ok_or_else(|| {
                    StoreError::Invariant(format!("order {order_id} has no open package from warehouse {warehouse_id}"))
                })?;
                line.shipment_id = Set(*id);
                Ok(line)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for chunk in lines.chunks(WRITE_CHUNK) {
            shipment_line::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
        }
        insert_events(db, self.events).await
    }
}

/// The open packages of some orders, oldest first: (package, order,
/// warehouse).
async fn open_packages<C: ConnectionTrait>(db: &C, order_ids: &[i64]) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    Ok(shipment::Entity::find()
        .select_only()
        .columns([shipment::Column::Id, shipment::Column::OrderId, shipment::Column::WarehouseId])
        .filter(shipment::Column::OrderId.is_in(order_ids.iter().copied()))
        .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)))
        .order_by_asc(shipment::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

/// Where `units` of `sku` for an order come from (see `Packing::place`);
/// `open` are the warehouses of the order's open packages, oldest first.
fn sources_for(
    order: &order::Model,
    sku: &str,
    units: u32,
    available: &HashMap<i64, u32>,
    warehouses: &HashMap<i64, warehouse::Model>,
    open: &[i64],
) -> Result<Vec<(i64, u32)>, StoreError> {
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
    let (mut available, warehouses) = available_of(db, line.product_id).await?;
    let mut packing = Packing::of_orders(db, &[order.id]).await?;
    let sources = packing.place(order, line, units, &mut available, &warehouses, now)?;
    packing.write(db, locks, now).await?;
    Ok(sources.into_iter().map(|(w, take)| (warehouses[&w].code.clone(), take)).collect())
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
    ranks::moved(db, locks, [(line.product_id, queue_key(order.priority, now))], 1).await?;
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
