//! After placement: packages leave the warehouse, orders are cancelled.
//!
//! Shipping a package turns its reservation into a real withdrawal (both
//! `onHand` and `reserved` drop). Cancelling releases reservations of what has
//! not shipped, and the released units go to the backorder queue at once,
//! in the same transaction, before any new order can take them.

use std::collections::HashSet;

use domain::backorder::BackorderAction;
use domain::ids::{OrderId, ShipmentId};
use domain::order::{BackorderStatus, EventKind, ShipmentStatus};
use domain::{Sku, WarehouseCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;

use super::backorders::allocate_arrivals;
use super::locks::Locks;
use super::placing::settle_order;
use super::queue::refresh_estimates;
use super::rows::{LevelChange, StockChange, audit, release};
use super::rows::{UNSHIPPED, cap_credits, count_on_line, event, move_shipment, package, split_backorder};
use super::{ShipmentRecord, Store, StoreError};

use crate::db::entity::{backorder, order, order_line, shipment, shipment_line, stock_level, warehouse};

/// The products a package holds.
pub(super) async fn package_products<C: ConnectionTrait>(db: &C, shipment_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(shipment_line::Entity::find()
        .select_only()
        .column(shipment_line::Column::ProductId)
        .filter(shipment_line::Column::ShipmentId.eq(shipment_id))
        .into_tuple::<i64>()
        .all(db)
        .await?)
}

/// The products of an order's open packages and waiting backorders.
async fn open_products<C: ConnectionTrait>(db: &C, order_id: i64) -> Result<Vec<i64>, StoreError> {
    let open: Vec<i64> = shipment::Entity::find()
        .select_only()
        .column(shipment::Column::Id)
        .filter(shipment::Column::OrderId.eq(order_id))
        .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)))
        .into_tuple::<i64>()
        .all(db)
        .await?;
    let mut products: Vec<i64> = if open.is_empty() {
        Vec::new()
    } else {
        shipment_line::Entity::find()
            .select_only()
            .column(shipment_line::Column::ProductId)
            .filter(shipment_line::Column::ShipmentId.is_in(open))
            .into_tuple::<i64>()
            .all(db)
            .await?
    };
    products.extend(
        backorder::Entity::find()
            .select_only()
            .column(backorder::Column::ProductId)
            .filter(backorder::Column::OrderId.eq(order_id))
            .filter(backorder::Column::Status.is_in(super::rows::OPEN))
            .into_tuple::<i64>()
            .all(db)
            .await?,
    );
    Ok(products)
}

impl Store {
    /// A released package left the warehouse with this tracking number.
    pub async fn mark_shipped(
        &self,
        shipment_id: ShipmentId,
        tracking_number: &str,
        carrier: Option<&str>,
    ) -> Result<ShipmentRecord, StoreError> {
        let shipment_id = shipment_id.get();
        let now = self.now_ms();
        let txn = self.write().await?;
        let seen = package(&txn, shipment_id).await?;
        let mut locks = Locks::new();
        locks.products(&txn, &package_products(&txn, shipment_id).await?).await?;
        locks.orders(&txn, &[seen.order_id]).await?;
        let found = package(&txn, shipment_id).await?;
        if found.status != ShipmentStatus::Released.as_str() {
            let state = found.status.to_lowercase();
            let why = if found.status == ShipmentStatus::Pending.as_str() {
                "is held until the order is complete".to_owned()
            } else {
                format!("is {state}")
            };
            return Err(StoreError::Conflict(format!("the shipment {why} and cannot be marked shipped")));
        }
        let guarded = shipment::Entity::update_many()
            .col_expr(shipment::Column::Status, Expr::value(ShipmentStatus::Shipped.as_str()))
            .col_expr(shipment::Column::TrackingNumber, Expr::value(tracking_number))
            .col_expr(shipment::Column::Carrier, Expr::value(carrier.map(str::to_owned)))
            .col_expr(shipment::Column::UpdatedAtMs, Expr::value(now))
            .filter(shipment::Column::Id.eq(shipment_id))
            .filter(shipment::Column::Status.eq(ShipmentStatus::Released.as_str()))
            .exec(&txn)
            .await?;
        if guarded.rows_affected != 1 {
            return Err(StoreError::StockMoved);
        }
        let lines =
            shipment_line::Entity::find().filter(shipment_line::Column::ShipmentId.eq(shipment_id)).all(&txn).await?;
        for line in &lines {
            if !locks.holds_product(line.product_id) {
                // A line joined the package after the products were read.
                return Err(StoreError::StockMoved);
            }
            release(&txn, &locks, found.warehouse_id, line.product_id, line.quantity, Some(StockChange::Shipment), now)
                .await?;
        }
        let code =
            warehouse::Entity::find_by_id(found.warehouse_id).one(&txn).await?.map(|w| w.code).ok_or_else(|| {
                StoreError::Invariant(format!("a package names missing warehouse {}", found.warehouse_id))
            })?;
        event(
            &txn,
            found.order_id,
            EventKind::ShipmentShipped,
            json!({ "shipment": shipment_id, "warehouse": code, "trackingNumber": tracking_number, "carrier": carrier }),
            now,
        )
        .await?;
        settle_order(&txn, &locks, found.order_id, now).await?;
        txn.commit().await?;
        let mut records = self.shipments_of(&[found.order_id]).await?;
        records.retain(|s| s.id == shipment_id);
        records.pop().ok_or(StoreError::UnknownShipment(shipment_id))
    }

    /// Cancels everything of an order that has not shipped: open packages
    /// (their reservations go back, first to the backorder queue) and
    /// waiting backorders. Returns the skus whose stock changed.
    pub async fn cancel_order(&self, order_id: OrderId, reason: &str) -> Result<Vec<domain::Sku>, StoreError> {
        let order_id = order_id.get();
        let now = self.now_ms();
        let txn = self.write().await?;
        order::Entity::find_by_id(order_id).one(&txn).await?.ok_or(StoreError::UnknownOrder(order_id))?;
        // What is open now decides the products to lock; read again under
        // the locks, anything that appeared meanwhile makes this run again.
        let mut locks = Locks::new();
        locks.products(&txn, &open_products(&txn, order_id).await?).await?;
        locks.orders(&txn, &[order_id]).await?;
        let open_shipments = shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order_id))
            .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)))
            .all(&txn)
            .await?;
        let open_backorders = backorder::Entity::find()
            .filter(backorder::Column::OrderId.eq(order_id))
            .filter(
                backorder::Column::Status
                    .is_in([BackorderStatus::AwaitingConfirmation.as_str(), BackorderStatus::Confirmed.as_str()]),
            )
            .all(&txn)
            .await?;
        if open_shipments.is_empty() && open_backorders.is_empty() {
            return Err(StoreError::Conflict("the order has nothing left to cancel".to_owned()));
        }
        let mut products = HashSet::new();
        let mut skus = HashSet::new();
        for s in &open_shipments {
            move_shipment(&txn, s.id, &UNSHIPPED, Some(ShipmentStatus::Cancelled), now).await?;
            for line in
                shipment_line::Entity::find().filter(shipment_line::Column::ShipmentId.eq(s.id)).all(&txn).await?
            {
                if !locks.holds_product(line.product_id) {
                    return Err(StoreError::StockMoved);
                }
                release(&txn, &locks, s.warehouse_id, line.product_id, line.quantity, None, now).await?;
                count_on_line(&txn, line.order_line_id, order_line::Column::Cancelled, line.quantity).await?;
                products.insert(line.product_id);
                skus.insert(line.sku);
            }
            event(&txn, order_id, EventKind::ShipmentCancelled, json!({ "shipment": s.id, "reason": reason }), now)
                .await?;
        }
        for b in &open_backorders {
            if !locks.holds_product(b.product_id) {
                return Err(StoreError::StockMoved);
            }
            split_backorder(&txn, &locks, b, b.quantity, BackorderAction::Cancel, now).await?;
            count_on_line(&txn, b.order_line_id, order_line::Column::Cancelled, b.quantity).await?;
            products.insert(b.product_id);
            event(
                &txn,
                order_id,
                EventKind::BackorderCancelled,
                json!({ "backorder": b.id, "sku": b.sku, "quantity": b.quantity, "reason": reason }),
                now,
            )
            .await?;
        }
        event(&txn, order_id, EventKind::OrderCancelled, json!({ "reason": reason }), now).await?;
        cap_credits(&txn, &locks, order_id, now).await?;
        settle_order(&txn, &locks, order_id, now).await?;
        // Released units serve the queue before anyone else.
        let released: Vec<i64> = products.into_iter().collect();
        let moved = allocate_arrivals(&txn, &mut locks, &released, now).await?;
        // Backorders behind the cancelled ones move up.
        for product_id in released.into_iter().filter(|p| !moved.contains(p)) {
            refresh_estimates(&txn, &locks, product_id, now).await?;
        }
        txn.commit().await?;
        skus.into_iter().map(super::stored::sku).collect()
    }
}

impl Store {
    /// Changes a level's on-hand units by `delta`: units received (`reason`
    /// `None`), or an adjustment for a reason (a recount, a damage
    /// write-off), as the audit trail records it. Units added go to the
    /// backorder queue first. A change may not take on-hand below what is
    /// reserved: missing reserved units are a short pick, not an adjustment.
    pub async fn adjust_stock(
        &self,
        warehouse: &WarehouseCode,
        sku: &Sku,
        delta: i64,
        reason: Option<&str>,
    ) -> Result<i64, StoreError> {
        let now = self.now_ms();
        let txn = self.write().await?;
        let (w, p) = super::rows::warehouse_and_product(&txn, warehouse, sku).await?;
        let mut locks = Locks::new();
        locks.products(&txn, &[p.id]).await?;
        let level = stock_level::Entity::find_by_id((w.id, p.id)).one(&txn).await?;
        let (on_hand, reserved) = level.as_ref().map_or((0, 0), |l| (l.on_hand, l.reserved));
        let after = on_hand.saturating_add(delta);
        let most = i64::from(domain::limits::MAX_ON_HAND);
        if after > most || after < 0 {
            return Err(StoreError::OutOfRange(format!(
                "{sku} at {warehouse}: onHand {on_hand} {delta:+} would leave the range a level holds (0 to {most})"
            )));
        }
        if after < reserved {
            return Err(StoreError::Conflict(format!(
                "{sku} at {warehouse}: onHand {on_hand} {delta:+} would fall below the {reserved} reserved units; report a short pick instead"
            )));
        }
        match level {
            Some(_) => {
                // Guarded on the values read, so a concurrent change retries
                // instead of being overwritten.
                let updated = stock_level::Entity::update_many()
                    .col_expr(stock_level::Column::OnHand, Expr::col(stock_level::Column::OnHand).add(delta))
                    .col_expr(stock_level::Column::Version, Expr::col(stock_level::Column::Version).add(1))
                    .col_expr(stock_level::Column::UpdatedAtMs, Expr::value(now))
                    .filter(stock_level::Column::WarehouseId.eq(w.id))
                    .filter(stock_level::Column::ProductId.eq(p.id))
                    .filter(
                        Expr::col(stock_level::Column::OnHand).add(delta).gte(Expr::col(stock_level::Column::Reserved)),
                    )
                    .exec(&txn)
                    .await?;
                if updated.rows_affected != 1 {
                    return Err(StoreError::StockMoved);
                }
            }
            None => {
                stock_level::Entity::insert(stock_level::ActiveModel {
                    warehouse_id: Set(w.id),
                    product_id: Set(p.id),
                    on_hand: Set(after),
                    reserved: Set(0),
                    safety_stock: Set(0),
                    version: Set(1),
                    feed_sequence: Set(None),
                    updated_at_ms: Set(now),
                })
                .exec_without_returning(&txn)
                .await?;
            }
        }
        let kind = if reason.is_none() { StockChange::Receipt } else { StockChange::Adjustment };
        let change = LevelChange {
            on_hand: (on_hand, after),
            safety: level.as_ref().map_or((0, 0), |l| (l.safety_stock, l.safety_stock)),
            sequence: None,
            note: reason.map(str::to_owned),
        };
        audit(&txn, (w.id, p.id), kind, change, now).await?;
        tracing::info!(warehouse = %warehouse, sku = %sku, delta, reason = reason.unwrap_or("received"), "stock adjusted");
        if delta > 0 {
            allocate_arrivals(&txn, &mut locks, &[p.id], now).await?;
        }
        txn.commit().await?;
        Ok(after)
    }
}
