//! Orders: the reservation transaction that places them, and their reads.
//!
//! Placing an order reserves stock in ONE transaction that re-checks every
//! (warehouse, sku) row it touches with a conditional update
//! (`reserved += q WHERE onHand − reserved − safetyStock ≥ q`), under the
//! locks of the order's products (see `locks`). If any row no longer has
//! the units, the whole transaction rolls back and the caller re-plans: a
//! plan made from stale stock is never committed.

use domain::backorder::rank::queue_key;
use std::collections::HashMap;

use domain::order::{BackorderConsent, BackorderStatus, OrderDraft, OrderEvent, OrderStatus, ShipmentStatus};
use domain::sourcing::{SourcingRequest, SplitPolicy};
use domain::{GeoPoint, Money, Sku, WarehouseCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};
use serde_json::json;

use super::locks::Locks;
use super::ranks;
use super::rows::{backorder_record, reserve};
use super::stored;
use super::{SourcingSnapshot, Store, StoreError, money_from_micros, to_micros};
use crate::db::entity::{
    backorder, idempotency_key, order, order_event, order_line, shipment, shipment_line, stock_level, warehouse,
};

/// An order ready to be committed: the request, what the customer agreed to,
/// and what placing it on the plan decided.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub customer_reference: String,
    /// (key, fingerprint of the request).
    pub idempotency: Option<(String, String)>,
    pub request: SourcingRequest,
    pub consent: BackorderConsent,
    /// Per request line.
    pub unit_prices: Vec<Money>,
    pub country_code: Option<String>,
    pub postal_code: Option<String>,
    pub draft: OrderDraft,
    /// Higher jumps the backorder queue (an account the 3PL serves first).
    pub priority: i32,
    /// What the partial-shipment policy charges for the plan's extra packages.
    pub partial_shipment_charge: Money,
    /// The API key placing it.
    pub owner_key: Option<i64>,
}

/// The result of `place_order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacedOrder {
    Created(i64),
    /// The idempotency key was used before with the same request.
    Replayed(i64),
}

impl PlacedOrder {
    pub fn id(self) -> i64 {
        match self {
            PlacedOrder::Created(id) | PlacedOrder::Replayed(id) => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub id: i64,
    pub customer_reference: String,
    pub status: OrderStatus,
    pub policy: SplitPolicy,
    pub max_shipments: Option<u32>,
    pub destination: GeoPoint,
    pub country_code: Option<String>,
    pub postal_code: Option<String>,
    pub backorder_consent: bool,
    pub shipping_cost: Money,
    pub created_at_ms: i64,
    /// The API key that placed it.
    pub owner_key_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLineRecord {
    pub id: i64,
    pub order_id: i64,
    pub line_no: u32,
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price: Money,
    /// On a substitute line: the line it stands in for.
    pub replaces_line_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentLineRecord {
    pub sku: Sku,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentRecord {
    pub id: i64,
    pub order_id: i64,
    pub warehouse_id: i64,
    pub warehouse: WarehouseCode,
    pub status: ShipmentStatus,
    pub tracking_number: Option<String>,
    pub carrier: Option<String>,
    pub cost: Money,
    pub distance_m: u64,
    pub estimated_delivery: i32,
    pub lines: Vec<ShipmentLineRecord>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackorderRecord {
    pub id: i64,
    pub order_id: i64,
    pub sku: Sku,
    pub quantity: u32,
    pub status: BackorderStatus,
    pub estimated_available: i32,
    /// The estimate first promised; delays are measured against it.
    pub promised_available: Option<i32>,
    pub confirmed_at_ms: Option<i64>,
    /// When the backorder was first reported overdue.
    pub overdue_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub order_id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub created_at_ms: i64,
    /// Who caused it.
    pub actor: domain::access::Actor,
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub sku: Option<Sku>,
    pub warehouse: Option<WarehouseCode>,
    pub reference: Option<ReferenceMatch>,
    /// Placed at or after this instant (Unix ms).
    pub placed_from: Option<i64>,
    /// Placed before this instant (Unix ms).
    pub placed_until: Option<i64>,
}

/// How an order's customer reference is matched.
#[derive(Debug, Clone)]
pub enum ReferenceMatch {
    Exact(String),
    Prefix(String),
}

/// The smallest string above every string that starts with `prefix`, in
/// byte order; `None` when there is none.
fn prefix_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn policy_name(policy: SplitPolicy) -> &'static str {
    match policy {
        SplitPolicy::ShipAvailable => "SHIP_AVAILABLE",
        SplitPolicy::ShipComplete => "SHIP_COMPLETE",
    }
}

fn event_payload(event: &OrderEvent) -> serde_json::Value {
    match event {
        OrderEvent::Placed { lines, units_ordered, units_now } => {
            json!({ "lines": lines, "unitsOrdered": units_ordered, "unitsNow": units_now })
        }
        OrderEvent::Split { shipments } => json!({ "shipments": shipments }),
        OrderEvent::ShipmentReleased { warehouse } | OrderEvent::ShipmentHeld { warehouse } => {
            json!({ "warehouse": warehouse.as_str() })
        }
        OrderEvent::Backordered { sku, quantity, status, estimated_available } => json!({
            "sku": sku.as_str(),
            "quantity": quantity,
            "status": status.as_str(),
            "estimatedAvailableDay": estimated_available.days_since_epoch(),
        }),
    }
}

impl Store {
    /// The order an idempotency key was used for, if the request matches;
    /// a conflict if it was used for a different request.
    pub async fn order_for_key(&self, key: &str, request_hash: &str) -> Result<Option<i64>, StoreError> {
        match idempotency_key::Entity::find_by_id(key.to_owned()).one(&self.db).await? {
            None => Ok(None),
            Some(row) if row.request_hash == request_hash => Ok(Some(row.order_id)),
            Some(_) => Err(StoreError::IdempotencyConflict(key.to_owned())),
        }
    }

    /// Reserves the plan's units and records the order, all or nothing.
    /// `StockMoved` when a row no longer holds what the plan took (the plan
    /// was made from `snapshot`, read before the transaction).
    #[tracing::instrument(name = "db.transaction", skip_all, fields(db.operation = "place_order"))]
    pub async fn place_order(&self, new: &NewOrder, snapshot: &SourcingSnapshot) -> Result<PlacedOrder, StoreError> {
        let txn = self.write().await?;
        // Every product of the request, in the one lock order: its levels and
        // its queue are written here. A new order needs no order lock; nobody
        // else can see it before it commits.
        let mut locks = Locks::new();
        locks.products(&txn, &snapshot_products(snapshot)).await?;
        self.commit_order(txn, locks, new, snapshot).await
    }

    /// Places an order decided by `decide` on stock read under the
    /// products' locks: nobody changes that stock before this commits, so
    /// the reservation cannot lose a race. For a placement that lost one on
    /// a snapshot read before its transaction (a hot sku): it runs once
    /// more, this way, instead of losing again. `base` gives the skus and
    /// the products; `decide` gets the snapshot as it is now, and its error
    /// (a refusal) leaves nothing written.
    #[tracing::instrument(name = "db.transaction", skip_all, fields(db.operation = "place_order_locked"))]
    pub async fn place_order_locked<E>(
        &self,
        base: &SourcingSnapshot,
        decide: impl FnOnce(&SourcingSnapshot) -> Result<NewOrder, E>,
    ) -> Result<Result<PlacedOrder, E>, StoreError> {
        let txn = self.write().await?;
        let mut locks = Locks::new();
        locks.products(&txn, &snapshot_products(base)).await?;
        let skus: Vec<Sku> = base.products.iter().map(|p| p.sku.clone()).collect();
        let stock = super::levels::stock_of(&txn, &skus).await?;
        let snapshot = super::levels::snapshot_on(&txn, stock, None).await?;
        match decide(&snapshot) {
            Ok(new) => self.commit_order(txn, locks, &new, &snapshot).await.map(Ok),
            Err(refused) => {
                txn.rollback().await?;
                Ok(Err(refused))
            }
        }
    }

    /// The writes of a placement, in a transaction holding its products'
    /// locks.
    async fn commit_order(
        &self,
        txn: DatabaseTransaction,
        locks: Locks,
        new: &NewOrder,
        snapshot: &SourcingSnapshot,
    ) -> Result<PlacedOrder, StoreError> {
        let product_id =
            |sku: &Sku| snapshot.product(sku).map(|p| p.id).ok_or_else(|| StoreError::UnknownSku(sku.to_string()));
        let warehouse_id = |code: &WarehouseCode| {
            snapshot.warehouse(code).map(|w| w.id).ok_or_else(|| StoreError::UnknownWarehouse(code.to_string()))
        };
        let mut reservations = Vec::new();
        for shipment in &new.draft.shipments {
            let w = warehouse_id(&shipment.warehouse)?;
            for line in &shipment.lines {
                reservations.push((w, product_id(line.sku())?, i64::from(line.quantity().units())));
            }
        }
        reservations.sort_unstable();
        let now = self.now_ms();
        for product in request_products(new, &product_id)? {
            locks.require_product(product)?;
        }
        // Backorders are only right if their products' stock is still what
        // the plan saw: units that arrived since would otherwise stay on sale
        // while these wait.
        let backordered: Vec<i64> =
            new.draft.backorders.iter().map(|b| product_id(&b.sku)).collect::<Result<_, _>>()?;
        if !backordered.is_empty() && !stock_unchanged(&txn, &backordered, snapshot).await? {
            txn.rollback().await?;
            return Err(StoreError::StockMoved);
        }
        for &(w, p, quantity) in &reservations {
            if let Err(e) = reserve(&txn, &locks, w, p, quantity, now).await {
                txn.rollback().await?;
                return Err(e);
            }
        }

        let request = &new.request;
        let shipping_cost: Money = new.draft.shipments.iter().map(|s| s.cost).sum();
        let order_id = order::Entity::insert(order::ActiveModel {
            customer_reference: Set(new.customer_reference.clone()),
            status: Set(new.draft.status.as_str().to_owned()),
            policy: Set(policy_name(request.policy()).to_owned()),
            max_shipments: Set(request.max_shipments().map(|k| i32::try_from(k.get()).unwrap_or(i32::MAX))),
            latitude: Set(request.destination().latitude()),
            longitude: Set(request.destination().longitude()),
            country_code: Set(new.country_code.clone()),
            postal_code: Set(new.postal_code.clone()),
            backorder_consent: Set(new.consent == BackorderConsent::Given),
            priority: Set(new.priority),
            shipping_cost_micros: Set(to_micros(shipping_cost.amount())?),
            partial_shipment_charge_micros: Set(to_micros(new.partial_shipment_charge.amount())?),
            created_at_ms: Set(now),
            updated_at_ms: Set(now),
            owner_key_id: Set(new.owner_key),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;

        let mut line_ids: HashMap<&Sku, i64> = HashMap::new();
        for (i, (line, price)) in request.lines().iter().zip(&new.unit_prices).enumerate() {
            let id = order_line::Entity::insert(order_line::ActiveModel {
                order_id: Set(order_id),
                line_no: Set(i as i32 + 1),
                product_id: Set(product_id(line.sku())?),
                sku: Set(line.sku().to_string()),
                quantity: Set(i64::from(line.quantity().units())),
                unit_price_micros: Set(to_micros(price.amount())?),
                ..Default::default()
            })
            .exec(&txn)
            .await?
            .last_insert_id;
            line_ids.insert(line.sku(), id);
        }
        for draft in &new.draft.shipments {
            let shipment_id = shipment::Entity::insert(shipment::ActiveModel {
                order_id: Set(order_id),
                warehouse_id: Set(warehouse_id(&draft.warehouse)?),
                status: Set(draft.status.as_str().to_owned()),
                tracking_number: Set(None),
                cost_micros: Set(to_micros(draft.cost.amount())?),
                distance_m: Set(i64::try_from(draft.distance_m).unwrap_or(i64::MAX)),
                estimated_delivery: Set(draft.estimated_delivery.days_since_epoch()),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
                ..Default::default()
            })
            .exec(&txn)
            .await?
            .last_insert_id;
            let rows: Vec<shipment_line::ActiveModel> = draft
                .lines
                .iter()
                .map(|line| {
                    Ok(shipment_line::ActiveModel {
                        shipment_id: Set(shipment_id),
                        order_line_id: Set(line_ids[line.sku()]),
                        product_id: Set(product_id(line.sku())?),
                        sku: Set(line.sku().to_string()),
                        quantity: Set(i64::from(line.quantity().units())),
                        ..Default::default()
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            shipment_line::Entity::insert_many(rows).exec(&txn).await?;
        }
        // A new backorder usually joins the end of its queue, so it moves
        // nobody else's estimate; its own comes from the expected receipts
        // when there are any, after everything already waiting. One that
        // jumps the queue (a higher priority) re-estimates the queue below.
        let mut etas: HashMap<&Sku, domain::calendar::Day> = HashMap::new();
        for draft in &new.draft.backorders {
            let pid = product_id(&draft.sku)?;
            if let Some(day) = super::queue::estimate_for_new(
                &txn,
                pid,
                draft.quantity.units(),
                request.destination(),
                draft.estimated_available,
                now,
            )
            .await?
            {
                etas.insert(&draft.sku, day);
            }
        }
        for draft in &new.draft.backorders {
            let estimated_available = etas.get(&draft.sku).copied().unwrap_or(draft.estimated_available);
            backorder::Entity::insert(backorder::ActiveModel {
                order_id: Set(order_id),
                order_line_id: Set(line_ids[&draft.sku]),
                product_id: Set(product_id(&draft.sku)?),
                sku: Set(draft.sku.to_string()),
                quantity: Set(i64::from(draft.quantity.units())),
                status: Set(draft.status.as_str().to_owned()),
                estimated_available: Set(estimated_available.days_since_epoch()),
                promised_available: Set(Some(estimated_available.days_since_epoch())),
                priority: Set(new.priority),
                confirmed_at_ms: Set((new.consent == BackorderConsent::Given).then_some(now)),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await?;
            if draft.status == BackorderStatus::Confirmed {
                let entry = (product_id(&draft.sku)?, queue_key(new.priority, now));
                ranks::moved(&txn, &locks, [entry], 1).await?;
            }
        }
        let events: Vec<order_event::ActiveModel> = new
            .draft
            .events
            .iter()
            .map(|e| match e {
                // The event tells the estimate the backorder really got.
                OrderEvent::Backordered { sku, quantity, status, estimated_available } => OrderEvent::Backordered {
                    sku: sku.clone(),
                    quantity: *quantity,
                    status: *status,
                    estimated_available: etas.get(sku).copied().unwrap_or(*estimated_available),
                },
                other => other.clone(),
            })
            .map(|e| order_event::ActiveModel {
                order_id: Set(order_id),
                kind: Set(e.kind().as_str().to_owned()),
                payload: Set(event_payload(&e).to_string()),
                created_at_ms: Set(now),
                actor: Set(Some(super::current_actor())),
                ..Default::default()
            })
            .collect();
        order_event::Entity::insert_many(events).exec(&txn).await?;
        for draft in &new.draft.backorders {
            let pid = product_id(&draft.sku)?;
            if jumps_queue(&txn, pid, new.priority).await? {
                super::queue::refresh_estimates(&txn, &locks, pid, now).await?;
            }
        }
        if let Some((key, hash)) = &new.idempotency {
            let inserted = idempotency_key::ActiveModel {
                key: Set(key.clone()),
                request_hash: Set(hash.clone()),
                order_id: Set(order_id),
                created_at_ms: Set(now),
            }
            .insert(&txn)
            .await;
            if let Err(err) = inserted {
                txn.rollback().await?;
                // A concurrent request with the same key committed first:
                // answer as a replay of it (or a conflict).
                if StoreError::is_unique_violation(&err) {
                    return match self.order_for_key(key, hash).await? {
                        Some(id) => Ok(PlacedOrder::Replayed(id)),
                        None => Err(StoreError::Database(err)),
                    };
                }
                return Err(StoreError::Database(err));
            }
        }
        txn.commit().await?;
        Ok(PlacedOrder::Created(order_id))
    }

    pub async fn orders_by_id(&self, ids: &[i64]) -> Result<Vec<OrderRecord>, StoreError> {
        let models = order::Entity::find().filter(order::Column::Id.is_in(ids.iter().copied())).all(&self.db).await?;
        models.into_iter().map(order_record).collect()
    }

    /// A page of orders, newest first, with ids below `before`.
    pub async fn orders_page(
        &self,
        filter: &OrderFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        let mut query = order::Entity::find().order_by_desc(order::Column::Id).limit(limit);
        if let Some(before) = before {
            query = query.filter(order::Column::Id.lt(before));
        }
        if let Some(status) = filter.status {
            query = query.filter(order::Column::Status.eq(status.as_str()));
        }
        // The reference as the index holds it (see its migration).
        let reference = match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "customer_reference COLLATE \"C\"",
            _ => "customer_reference",
        };
        match &filter.reference {
            Some(ReferenceMatch::Exact(text)) => {
                query = query.filter(Expr::cust(reference).eq(text.as_str()));
            }
            Some(ReferenceMatch::Prefix(text)) => {
                query = query.filter(Expr::cust(reference).gte(text.as_str()));
                if let Some(bound) = prefix_bound(text) {
                    query = query.filter(Expr::cust(reference).lt(bound));
                }
            }
            None => {}
        }
        if let Some(from) = filter.placed_from {
            query = query.filter(order::Column::CreatedAtMs.gte(from));
        }
        if let Some(until) = filter.placed_until {
            query = query.filter(order::Column::CreatedAtMs.lt(until));
        }
        if let Some(sku) = &filter.sku {
            let ids = order_line::Entity::find()
                .select_only()
                .column(order_line::Column::OrderId)
                .filter(order_line::Column::Sku.eq(sku.as_str()))
                .into_query();
            query = query.filter(order::Column::Id.in_subquery(ids));
        }
        if let Some(code) = &filter.warehouse {
            let warehouse_ids = warehouse::Entity::find()
                .select_only()
                .column(warehouse::Column::Id)
                .filter(warehouse::Column::Code.eq(code.as_str()))
                .into_query();
            let ids = shipment::Entity::find()
                .select_only()
                .column(shipment::Column::OrderId)
                .filter(shipment::Column::WarehouseId.in_subquery(warehouse_ids))
                .into_query();
            query = query.filter(order::Column::Id.in_subquery(ids));
        }
        query.all(&self.db).await?.into_iter().map(order_record).collect()
    }

    pub async fn lines_of(&self, order_ids: &[i64]) -> Result<Vec<OrderLineRecord>, StoreError> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let models = order_line::Entity::find()
            .filter(order_line::Column::OrderId.is_in(order_ids.iter().copied()))
            .order_by_asc(order_line::Column::OrderId)
            .order_by_asc(order_line::Column::LineNo)
            .all(&self.db)
            .await?;
        models
            .into_iter()
            .map(|m| {
                Ok(OrderLineRecord {
                    id: m.id,
                    order_id: m.order_id,
                    line_no: stored::count("line number", i64::from(m.line_no))?,
                    sku: stored::sku(m.sku)?,
                    quantity: stored::count("line quantity", m.quantity)?,
                    unit_price: money_from_micros(m.unit_price_micros),
                    replaces_line_id: m.replaces_line_id,
                })
            })
            .collect()
    }

    pub async fn shipments_of(&self, order_ids: &[i64]) -> Result<Vec<ShipmentRecord>, StoreError> {
        let models = shipment::Entity::find()
            .filter(shipment::Column::OrderId.is_in(order_ids.iter().copied()))
            .order_by_asc(shipment::Column::Id)
            .all(&self.db)
            .await?;
        self.shipment_records(models).await
    }

    /// The warehouse a package ships from, if there is such a package.
    pub async fn shipment_warehouse(&self, id: i64) -> Result<Option<i64>, StoreError> {
        Ok(shipment::Entity::find_by_id(id)
            .select_only()
            .column(shipment::Column::WarehouseId)
            .into_tuple()
            .one(&self.db)
            .await?)
    }

    /// Packages of `warehouses` in `status`, oldest first, after the
    /// package `after`: a partner's pick queue.
    pub async fn shipments_page(
        &self,
        warehouses: &[i64],
        status: ShipmentStatus,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<ShipmentRecord>, StoreError> {
        if warehouses.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = shipment::Entity::find()
            .filter(shipment::Column::WarehouseId.is_in(warehouses.iter().copied()))
            .filter(shipment::Column::Status.eq(status.as_str()))
            .order_by_asc(shipment::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(shipment::Column::Id.gt(after));
        }
        let models = query.all(&self.db).await?;
        self.shipment_records(models).await
    }

    async fn shipment_records(&self, models: Vec<shipment::Model>) -> Result<Vec<ShipmentRecord>, StoreError> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = models.iter().map(|m| m.id).collect();
        let mut lines: HashMap<i64, Vec<ShipmentLineRecord>> = HashMap::new();
        for l in shipment_line::Entity::find()
            .filter(shipment_line::Column::ShipmentId.is_in(ids))
            .order_by_asc(shipment_line::Column::Id)
            .all(&self.db)
            .await?
        {
            lines.entry(l.shipment_id).or_default().push(ShipmentLineRecord {
                sku: stored::sku(l.sku)?,
                quantity: stored::count("package line quantity", l.quantity)?,
            });
        }
        let warehouse_ids: Vec<i64> = models.iter().map(|m| m.warehouse_id).collect();
        let codes: HashMap<i64, String> = warehouse::Entity::find()
            .filter(warehouse::Column::Id.is_in(warehouse_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|w| (w.id, w.code))
            .collect();
        models
            .into_iter()
            .map(|m| {
                let code = codes.get(&m.warehouse_id).cloned().ok_or_else(|| {
                    StoreError::Invariant(format!("package {} names missing warehouse {}", m.id, m.warehouse_id))
                })?;
                Ok(ShipmentRecord {
                    id: m.id,
                    order_id: m.order_id,
                    warehouse_id: m.warehouse_id,
                    warehouse: stored::warehouse_code(code)?,
                    status: stored::shipment_status(&m.status)?,
                    tracking_number: m.tracking_number,
                    carrier: m.carrier,
                    cost: money_from_micros(m.cost_micros),
                    distance_m: u64::try_from(m.distance_m)
                        .map_err(|_| StoreError::Invariant(format!("package {} distance {}", m.id, m.distance_m)))?,
                    estimated_delivery: m.estimated_delivery,
                    // A package without lines is an emptied one (cancelled).
                    lines: lines.remove(&m.id).unwrap_or_default(),
                    created_at_ms: m.created_at_ms,
                })
            })
            .collect()
    }

    pub async fn backorders_of(&self, order_ids: &[i64]) -> Result<Vec<BackorderRecord>, StoreError> {
        let models = backorder::Entity::find()
            .filter(backorder::Column::OrderId.is_in(order_ids.iter().copied()))
            .order_by_asc(backorder::Column::Id)
            .all(&self.db)
            .await?;
        models.into_iter().map(backorder_record).collect()
    }

    pub async fn events_of(&self, order_ids: &[i64]) -> Result<Vec<EventRecord>, StoreError> {
        let models = order_event::Entity::find()
            .filter(order_event::Column::OrderId.is_in(order_ids.iter().copied()))
            .order_by_asc(order_event::Column::Id)
            .all(&self.db)
            .await?;
        Ok(models
            .into_iter()
            .map(|m| EventRecord {
                id: m.id,
                order_id: m.order_id,
                kind: m.kind,
                payload: serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null),
                created_at_ms: m.created_at_ms,
                // Events from before keys existed were all the gateway's callers'.
                actor: m.actor.as_deref().map_or(domain::access::Actor::Gateway, domain::access::Actor::from_label),
            })
            .collect())
    }

    /// Sum of reserved units over all levels, and per order the units its
    /// open shipments hold: what the no-oversell checks compare.
    pub async fn reserved_total(&self) -> Result<i64, StoreError> {
        let rows = stock_level::Entity::find().all(&self.db).await?;
        Ok(rows.iter().map(|r| r.reserved).sum())
    }
}

/// The products a snapshot was read for: what a placement locks.
fn snapshot_products(snapshot: &SourcingSnapshot) -> Vec<i64> {
    snapshot.products.iter().map(|p| p.id).collect()
}

/// Tells whether the stock rows of `products` at the warehouses the
/// plan used (the active ones) are the ones, at the versions, that
/// `snapshot` read.
async fn stock_unchanged<C: ConnectionTrait>(
    db: &C,
    products: &[i64],
    snapshot: &SourcingSnapshot,
) -> Result<bool, StoreError> {
    let mut now: Vec<(i64, i64, i64)> = stock_level::Entity::find()
        .select_only()
        .columns([stock_level::Column::WarehouseId, stock_level::Column::ProductId, stock_level::Column::Version])
        .filter(stock_level::Column::ProductId.is_in(products.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    now.retain(|&(w, ..)| snapshot.warehouses.iter().any(|active| active.id == w));
    let mut read: Vec<(i64, i64, i64)> = snapshot
        .versions
        .iter()
        .filter(|v| products.contains(&v.product_id))
        .map(|v| (v.warehouse_id, v.product_id, v.version))
        .collect();
    now.sort_unstable();
    read.sort_unstable();
    Ok(now == read)
}

/// The products of an order's lines, sorted and distinct: what placing it locks.
fn request_products(
    new: &NewOrder,
    product_id: &impl Fn(&Sku) -> Result<i64, StoreError>,
) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<i64> = new.request.lines().iter().map(|l| product_id(l.sku())).collect::<Result<_, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Whether a backorder of an order with `priority` goes ahead of anyone
/// already waiting for the product: the lowest priority waiting in each
/// open status, read from the end of the queue index (one row each). One
/// read over both statuses would let a generic plan scan the table.
async fn jumps_queue<C: ConnectionTrait>(db: &C, product_id: i64, priority: i32) -> Result<bool, StoreError> {
    for status in super::rows::OPEN {
        let lowest = backorder::Entity::find()
            .select_only()
            .column(backorder::Column::Priority)
            .filter(backorder::Column::ProductId.eq(product_id))
            .filter(backorder::Column::Status.eq(status))
            .order_by_asc(backorder::Column::Priority)
            .limit(1)
            .into_tuple::<i32>()
            .one(db)
            .await?;
        if lowest.is_some_and(|lowest| lowest < priority) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn order_record(m: order::Model) -> Result<OrderRecord, StoreError> {
    Ok(OrderRecord {
        id: m.id,
        customer_reference: m.customer_reference,
        status: stored::order_status(&m.status)?,
        policy: stored::split_policy(&m.policy)?,
        max_shipments: m.max_shipments.map(|k| stored::count("maxShipments", i64::from(k))).transpose()?,
        destination: stored::point(m.latitude, m.longitude)?,
        country_code: m.country_code,
        postal_code: m.postal_code,
        backorder_consent: m.backorder_consent,
        shipping_cost: money_from_micros(m.shipping_cost_micros),
        created_at_ms: m.created_at_ms,
        owner_key_id: m.owner_key_id,
    })
}
