//! Orders: `order`, `orders`, and the order's lines, shipments, backorders
//! and events.

use crate::operations;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, SimpleObject};
use domain::order::OrderStatus as DomainStatus;
use infra::store::{BackorderRecord, EventRecord, OrderFilter, OrderLineRecord, OrderRecord, ShipmentRecord};

use super::inputs::SplitPolicy;
use super::network::Warehouse;
use super::scalars::{Date, DateTime, DecimalValue, Money};
use super::{app, internal, loaders, page_size};
use crate::error::{ApiError, ErrorCode};
use infra::secrets::IdKind;

/// Where an order stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum OrderStatus {
    AwaitingShipment,
    Backordered,
    PartiallyShipped,
    Shipped,
    Cancelled,
}

impl From<DomainStatus> for OrderStatus {
    fn from(s: DomainStatus) -> Self {
        match s {
            DomainStatus::AwaitingShipment => Self::AwaitingShipment,
            DomainStatus::Backordered => Self::Backordered,
            DomainStatus::PartiallyShipped => Self::PartiallyShipped,
            DomainStatus::Shipped => Self::Shipped,
            DomainStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<OrderStatus> for DomainStatus {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::AwaitingShipment => Self::AwaitingShipment,
            OrderStatus::Backordered => Self::Backordered,
            OrderStatus::PartiallyShipped => Self::PartiallyShipped,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(SimpleObject)]
pub(crate) struct Destination {
    pub latitude: f64,
    pub longitude: f64,
    pub country_code: Option<String>,
    pub postal_code: Option<String>,
}

pub(crate) struct Order(pub OrderRecord);

#[Object]
impl Order {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Order, self.0.id).await
    }

    async fn customer_reference(&self) -> &str {
        &self.0.customer_reference
    }

    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }

    async fn policy(&self) -> SplitPolicy {
        self.0.policy.into()
    }

    async fn max_shipments(&self) -> Option<u32> {
        self.0.max_shipments
    }

    async fn destination(&self) -> Destination {
        Destination {
            latitude: self.0.destination.latitude(),
            longitude: self.0.destination.longitude(),
            country_code: self.0.country_code.clone(),
            postal_code: self.0.postal_code.clone(),
        }
    }

    async fn backorder_consent(&self) -> bool {
        self.0.backorder_consent
    }

    /// Shipping cost of the packages planned when the order was placed.
    async fn shipping_cost(&self) -> Money {
        Money(self.0.shipping_cost)
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }

    /// Lines in number order; substitute lines come after the ones they
    /// replace, which keep what was ordered.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderLine>> {
        let lines = loaders(ctx)?.lines.load_one(self.0.id).await.map_err(internal)?.unwrap_or_default();
        let mut accounts = loaders(ctx)?.line_accounts.load_one(self.0.id).await.map_err(internal)?.unwrap_or_default();
        let numbers: std::collections::HashMap<i64, u32> = lines.iter().map(|l| (l.id, l.line_no)).collect();
        let replaced_by: std::collections::HashMap<i64, Vec<u32>> = lines
            .iter()
            .filter_map(|l| l.replaces_line_id.map(|r| (r, l.line_no)))
            .fold(std::collections::HashMap::new(), |mut map, (r, n)| {
                map.entry(r).or_default().push(n);
                map
            });
        Ok(lines
            .into_iter()
            .map(|l| OrderLine {
                account: accounts.remove(&l.id).unwrap_or_default(),
                replaces: l.replaces_line_id.and_then(|r| numbers.get(&r).copied()),
                replaced_by: replaced_by.get(&l.id).cloned().unwrap_or_default(),
                record: l,
            })
            .collect())
    }

    /// Substitutions proposed or applied on the order, oldest first.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn substitutions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Substitution>> {
        let rows = app(ctx)?.store.substitutions_of(&[self.0.id]).await.map_err(internal)?;
        Ok(rows.into_iter().map(Substitution).collect())
    }

    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn shipments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Shipment>> {
        let rows = loaders(ctx)?.shipments.load_one(self.0.id).await.map_err(internal)?.unwrap_or_default();
        Ok(rows.into_iter().map(Shipment).collect())
    }

    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn backorders(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Backorder>> {
        let rows = loaders(ctx)?.backorders.load_one(self.0.id).await.map_err(internal)?.unwrap_or_default();
        Ok(rows.into_iter().map(Backorder).collect())
    }

    /// What the order adds up to: merchandise + shipping + partial-shipment
    /// charge − compensation.
    async fn totals(&self, ctx: &Context<'_>) -> async_graphql::Result<OrderTotals> {
        let t = app(ctx)?.store.order_totals(self.0.id).await.map_err(internal)?;
        Ok(OrderTotals {
            merchandise: Money(t.merchandise),
            shipping: Money(t.shipping),
            partial_shipment_charge: Money(t.partial_shipment_charge),
            compensation: Money(t.compensation),
            total: Money(t.total),
        })
    }

    /// Credits granted on the order, oldest first.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn compensations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Compensation>> {
        let state = app(ctx)?;
        let rows = state.store.compensations_of(self.0.id).await.map_err(internal)?;
        let secrets = state.secrets().await.map_err(internal)?;
        Ok(rows
            .into_iter()
            .map(|c| Compensation {
                id: ID(secrets.public_id(IdKind::Compensation, c.id)),
                amount: Money(c.amount),
                reason: c.reason,
                automatic: c.automatic,
                at: DateTime(c.created_at_ms),
            })
            .collect())
    }

    /// Everything that happened to the order, oldest first.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderEvent>> {
        let rows = loaders(ctx)?.events.load_one(self.0.id).await.map_err(internal)?.unwrap_or_default();
        Ok(rows.into_iter().map(OrderEvent).collect())
    }
}

/// A line with where each of its units is: ordered = shipped + allocated +
/// backordered + cancelled + substituted.
pub(crate) struct OrderLine {
    record: OrderLineRecord,
    account: domain::amend::LineAccount,
    replaces: Option<u32>,
    replaced_by: Vec<u32>,
}

#[Object]
impl OrderLine {
    /// Pass to `cancelOrderLine`, `substituteLine`, `proposeSubstitution`.
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Line, self.record.id).await
    }

    async fn line_number(&self) -> u32 {
        self.record.line_no
    }

    async fn sku(&self) -> &str {
        self.record.sku.as_str()
    }

    /// Units ordered (for a substitute line: units substituted).
    async fn quantity(&self) -> u32 {
        self.record.quantity
    }

    async fn unit_price(&self) -> Money {
        Money(self.record.unit_price)
    }

    /// Units that left a warehouse.
    async fn shipped(&self) -> u32 {
        self.account.shipped
    }

    /// Units reserved in packages that have not left yet.
    async fn allocated(&self) -> u32 {
        self.account.allocated
    }

    /// Units waiting as backorders.
    async fn backordered(&self) -> u32 {
        self.account.backordered
    }

    async fn cancelled(&self) -> u32 {
        self.account.cancelled
    }

    /// Units that ship as another product (see `replacedBy`).
    async fn substituted(&self) -> u32 {
        self.account.substituted
    }

    /// On a substitute line: the number of the line it stands in for.
    async fn replaces_line_number(&self) -> Option<u32> {
        self.replaces
    }

    /// Numbers of the substitute lines standing in for this one.
    async fn replaced_by_line_numbers(&self) -> &[u32] {
        &self.replaced_by
    }
}

#[derive(SimpleObject)]
pub(crate) struct ShipmentLine {
    pub sku: String,
    pub quantity: u32,
}

/// Where a package is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum ShipmentStatus {
    Pending,
    Released,
    Shipped,
    Cancelled,
}

pub(crate) struct Shipment(ShipmentRecord);

#[Object]
impl Shipment {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Shipment, self.0.id).await
    }

    async fn warehouse(&self, ctx: &Context<'_>) -> async_graphql::Result<Warehouse> {
        let found = loaders(ctx)?.warehouses_by_id.load_one(self.0.warehouse_id).await.map_err(internal)?;
        found.map(Warehouse).ok_or_else(|| super::broken("a shipment names a missing warehouse"))
    }

    async fn status(&self) -> ShipmentStatus {
        use domain::order::ShipmentStatus as S;
        match self.0.status {
            S::Pending => ShipmentStatus::Pending,
            S::Released => ShipmentStatus::Released,
            S::Shipped => ShipmentStatus::Shipped,
            S::Cancelled => ShipmentStatus::Cancelled,
        }
    }

    async fn tracking_number(&self) -> Option<&str> {
        self.0.tracking_number.as_deref()
    }

    /// Who carries it, as the partner said when it shipped.
    async fn carrier(&self) -> Option<&str> {
        self.0.carrier.as_deref()
    }

    /// Where it goes: the order's destination (all a partner sees of the order).
    async fn ship_to(&self, ctx: &Context<'_>) -> async_graphql::Result<Destination> {
        let order = loaders(ctx)?.orders.load_one(self.0.order_id).await.map_err(internal)?;
        let order = order.ok_or_else(|| super::broken("a shipment names a missing order"))?;
        Ok(Destination {
            latitude: order.destination.latitude(),
            longitude: order.destination.longitude(),
            country_code: order.country_code,
            postal_code: order.postal_code,
        })
    }

    /// The package's place in its warehouse's pick queue: when it was made.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }

    async fn cost(&self) -> Money {
        Money(self.0.cost)
    }

    async fn distance_km(&self) -> DecimalValue {
        DecimalValue(rust_decimal::Decimal::new(i64::try_from(self.0.distance_m).unwrap_or(i64::MAX), 3))
    }

    async fn estimated_delivery_date(&self) -> Date {
        domain::calendar::Day::from_days_since_epoch(self.0.estimated_delivery).into()
    }

    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn lines(&self) -> Vec<ShipmentLine> {
        self.0.lines.iter().map(|l| ShipmentLine { sku: l.sku.to_string(), quantity: l.quantity }).collect()
    }
}

/// Where backordered units are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum BackorderStatus {
    AwaitingConfirmation,
    Confirmed,
    Allocated,
    Cancelled,
    Substituted,
    Expired,
}

impl From<BackorderStatus> for domain::order::BackorderStatus {
    fn from(s: BackorderStatus) -> Self {
        match s {
            BackorderStatus::AwaitingConfirmation => Self::AwaitingConfirmation,
            BackorderStatus::Confirmed => Self::Confirmed,
            BackorderStatus::Allocated => Self::Allocated,
            BackorderStatus::Cancelled => Self::Cancelled,
            BackorderStatus::Substituted => Self::Substituted,
            BackorderStatus::Expired => Self::Expired,
        }
    }
}

pub(crate) struct Backorder(BackorderRecord);

#[Object]
impl Backorder {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Backorder, self.0.id).await
    }

    async fn sku(&self) -> &str {
        self.0.sku.as_str()
    }

    async fn quantity(&self) -> u32 {
        self.0.quantity
    }

    async fn status(&self) -> BackorderStatus {
        use domain::order::BackorderStatus as S;
        match self.0.status {
            S::AwaitingConfirmation => BackorderStatus::AwaitingConfirmation,
            S::Confirmed => BackorderStatus::Confirmed,
            S::Allocated => BackorderStatus::Allocated,
            S::Cancelled => BackorderStatus::Cancelled,
            S::Substituted => BackorderStatus::Substituted,
            S::Expired => BackorderStatus::Expired,
        }
    }

    async fn estimated_available_date(&self) -> Date {
        domain::calendar::Day::from_days_since_epoch(self.0.estimated_available).into()
    }

    /// The estimate first promised: what a delay (and the automatic delay
    /// credit) is measured against.
    async fn promised_available_date(&self) -> Date {
        domain::calendar::Day::from_days_since_epoch(self.0.promised_available.unwrap_or(self.0.estimated_available))
            .into()
    }

    /// Place in its sku's queue while confirmed (1 is served next: higher
    /// order priority first, then the oldest confirmation).
    async fn queue_position(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<u32>> {
        if self.0.status != domain::order::BackorderStatus::Confirmed {
            return Ok(None);
        }
        loaders(ctx)?.queue_positions.load_one(self.0.id).await.map_err(internal)
    }

    async fn order_id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Order, self.0.order_id).await
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }

    async fn confirmed_at(&self) -> Option<DateTime> {
        self.0.confirmed_at_ms.map(DateTime)
    }

    /// When the backorder outlived the deployment's maximum backorder duration.
    async fn overdue_since(&self) -> Option<DateTime> {
        self.0.overdue_at_ms.map(DateTime)
    }
}

/// Something that happened to an order.
pub(crate) struct OrderEvent(EventRecord);

#[Object]
impl OrderEvent {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Event, self.0.id).await
    }

    /// E.g. `ORDER_PLACED`, `ORDER_SPLIT`, `LINE_BACKORDERED`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }

    /// Who caused it: a key (its name and role), or the gateway itself (the
    /// backorder worker, stock arriving for the queue).
    async fn caused_by(&self) -> super::keys::EventActor {
        super::keys::EventActor::of(&self.0.actor)
    }

    /// The event's facts, as a JSON object (the ids in it as clients see them).
    async fn payload(&self, ctx: &Context<'_>) -> async_graphql::Result<async_graphql::Json<serde_json::Value>> {
        let secrets = app(ctx)?.secrets().await.map_err(internal)?;
        let mut payload = self.0.payload.clone();
        if let Some(fields) = payload.as_object_mut() {
            for (key, kind) in [
                ("shipment", IdKind::Shipment),
                ("backorder", IdKind::Backorder),
                ("substitution", IdKind::Substitution),
            ] {
                if let Some(id) = fields.get(key).and_then(serde_json::Value::as_i64) {
                    fields.insert(key.to_owned(), secrets.public_id(kind, id).into());
                }
            }
        }
        Ok(async_graphql::Json(payload))
    }
}

#[derive(Default)]
pub(crate) struct OrderQuery;

#[Object]
impl OrderQuery {
    /// The backorder queue: confirmed backorders in the order arriving stock
    /// serves them (confirmation time, then id), then the rest.
    #[graphql(complexity = "super::page_weight(first) * child_complexity")]
    async fn backorders(
        &self,
        ctx: &Context<'_>,
        sku: Option<String>,
        status: Option<BackorderStatus>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<Backorder>> {
        let limit = page_size(first)?;
        let sku = sku.map(|s| super::inputs::sku(&s, &["sku"])).transpose().map_err(|e| e.extend())?;
        let status = status.map(Into::into);
        let rows = app(ctx)?.store.backorders_page(sku.as_ref(), status, limit as u64).await.map_err(internal)?;
        // The page knows its rows' positions; `queuePosition` reads them.
        loaders(ctx)?
            .queue_positions
            .feed_many(rows.iter().filter_map(|(b, position)| position.map(|p| (b.id, p))))
            .await;
        Ok(rows.into_iter().map(|(b, _)| Backorder(b)).collect())
    }

    /// An order; a storefront sees only orders it placed, with the token
    /// `placeOrder` gave it (anything else reads as no order).
    async fn order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        order_token: Option<String>,
    ) -> async_graphql::Result<Option<Order>> {
        let found = operations::visible_order(app(ctx)?, super::caller(ctx)?, &id, order_token.as_deref()).await;
        Ok(found.map_err(|e| e.log().extend())?.map(Order))
    }

    /// A partner's pick queue: packages of its warehouses (or of one of
    /// them) in a status, released ones by default, oldest first. Admins
    /// see every warehouse's.
    #[graphql(complexity = "super::page_weight(first) * child_complexity")]
    async fn partner_shipments(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "ShipmentStatus::Released")] status: ShipmentStatus,
        warehouse_code: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Shipment, EmptyFields, EmptyFields>> {
        use domain::order::ShipmentStatus as S;
        let limit = page_size(first)?;
        let status = match status {
            ShipmentStatus::Pending => S::Pending,
            ShipmentStatus::Released => S::Released,
            ShipmentStatus::Shipped => S::Shipped,
            ShipmentStatus::Cancelled => S::Cancelled,
        };
        let rows = operations::partner_shipments(
            app(ctx)?,
            super::caller(ctx)?,
            status,
            warehouse_code.as_deref(),
            after.as_deref(),
            limit,
        )
        .await
        .map_err(|e| e.log().extend())?;
        let secrets = app(ctx)?.secrets().await.map_err(internal)?;
        Ok(super::page(rows, limit, after.is_some(), |s| secrets.public_id(IdKind::Shipment, s.id), Shipment))
    }

    /// Orders, newest first, optionally by status, by a sku they contain,
    /// by a warehouse shipping them, by the shopper's reference (exact, or
    /// what it starts with) and by when they were placed
    /// (`placedAfter <= createdAt < placedBefore`).
    #[graphql(complexity = "super::page_weight(first) * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<OrderStatus>,
        sku: Option<String>,
        warehouse_code: Option<String>,
        customer_reference: Option<String>,
        customer_reference_prefix: Option<String>,
        placed_after: Option<DateTime>,
        placed_before: Option<DateTime>,
    ) -> async_graphql::Result<Connection<String, Order, EmptyFields, EmptyFields>> {
        let limit = page_size(first)?;
        let reference = match (customer_reference, customer_reference_prefix) {
            (Some(_), Some(_)) => {
                return Err(ApiError::user(
                    ErrorCode::InvalidInput,
                    "give customerReference or customerReferencePrefix, not both",
                )
                .extend());
            }
            (Some(exact), None) => {
                crate::input::bounded(&exact, crate::input::MAX_REFERENCE, &["customerReference"])
                    .map_err(|e| e.extend())?;
                Some(infra::store::ReferenceMatch::Exact(exact))
            }
            (None, Some(prefix)) => {
                let prefix =
                    crate::input::text(Some(&prefix), "", crate::input::MAX_REFERENCE, &["customerReferencePrefix"])
                        .map_err(|e| e.extend())?;
                Some(infra::store::ReferenceMatch::Prefix(prefix))
            }
            (None, None) => None,
        };
        let filter = OrderFilter {
            reference,
            placed_from: placed_after.map(|t| t.0),
            placed_until: placed_before.map(|t| t.0),
            status: status.map(Into::into),
            sku: sku.map(|s| super::inputs::sku(&s, &["sku"])).transpose().map_err(|e| e.extend())?,
            warehouse: warehouse_code
                .map(|c| super::inputs::warehouse_code(&c, &["warehouseCode"]))
                .transpose()
                .map_err(|e| e.extend())?,
        };
        let secrets = app(ctx)?.secrets().await.map_err(internal)?;
        // A cursor is the public id of the page's last order.
        let before = after.as_deref().map(|c| secrets.row_id(IdKind::Order, c)).transpose().map_err(|_| {
            ApiError::user(ErrorCode::InvalidInput, "after is not a cursor of this connection").extend()
        })?;
        let before = before.map(|row| row.unwrap_or(i64::MAX));
        let rows = app(ctx)?.store.orders_page(&filter, before, limit as u64 + 1).await.map_err(internal)?;
        Ok(super::page(rows, limit, after.is_some(), |o| secrets.public_id(IdKind::Order, o.id), Order))
    }
}

/// What a change to a backorder answers.
#[derive(SimpleObject)]
pub(crate) struct BackorderPayload {
    pub backorder: Option<Backorder>,
    /// The backorder's order, after the change (statuses, shipments, events).
    pub order: Option<Order>,
    pub user_errors: Vec<crate::error::UserError>,
}

#[derive(Default)]
pub(crate) struct BackorderMutation;

impl BackorderMutation {
    async fn payload(
        state: &crate::state::AppState,
        result: Result<BackorderRecord, ApiError>,
    ) -> async_graphql::Result<BackorderPayload> {
        let (record, order, user_errors) = with_order(state, result, |r| r.order_id).await?;
        Ok(BackorderPayload { backorder: record.map(Backorder), order, user_errors })
    }
}

#[Object]
impl BackorderMutation {
    /// The shopper agrees to wait: the backorder joins the queue, and stock
    /// already available is allocated to it at once, oldest first.
    /// A storefront passes the order's token.
    async fn confirm_backorder(
        &self,
        ctx: &Context<'_>,
        id: ID,
        order_token: Option<String>,
    ) -> async_graphql::Result<BackorderPayload> {
        let state = app(ctx)?;
        let result = operations::confirm_backorder(state, super::caller(ctx)?, &id, order_token.as_deref()).await;
        Self::payload(state, result).await
    }

    /// Cancels a backorder that has not been allocated yet. A storefront
    /// passes the order's token.
    async fn cancel_backorder(
        &self,
        ctx: &Context<'_>,
        id: ID,
        order_token: Option<String>,
    ) -> async_graphql::Result<BackorderPayload> {
        let state = app(ctx)?;
        let result = operations::cancel_backorder(state, super::caller(ctx)?, &id, order_token.as_deref()).await;
        Self::payload(state, result).await
    }
}

#[derive(SimpleObject)]
pub(crate) struct ShipmentPayload {
    pub shipment: Option<Shipment>,
    pub order: Option<Order>,
    pub user_errors: Vec<crate::error::UserError>,
}

#[derive(SimpleObject)]
pub(crate) struct CancelOrderPayload {
    pub order: Option<Order>,
    pub user_errors: Vec<crate::error::UserError>,
}

/// A mutation's outcome as (what it returned, the order after it, user
/// errors).
pub(super) async fn with_order<T>(
    state: &crate::state::AppState,
    result: Result<T, ApiError>,
    order_of: impl Fn(&T) -> i64,
) -> async_graphql::Result<(Option<T>, Option<Order>, Vec<crate::error::UserError>)> {
    let (value, user_errors) = crate::error::into_payload(result)?;
    let order = match &value {
        Some(v) => state.store.orders_by_id(&[order_of(v)]).await.map_err(internal)?.pop().map(Order),
        None => None,
    };
    Ok((value, order, user_errors))
}

/// A mutation's outcome as (the order after it, user errors).
pub(super) async fn order_after(
    state: &crate::state::AppState,
    result: Result<i64, ApiError>,
) -> async_graphql::Result<(Option<Order>, Vec<crate::error::UserError>)> {
    let (_, order, user_errors) = with_order(state, result, |&id| id).await?;
    Ok((order, user_errors))
}

#[derive(Default)]
pub(crate) struct LifecycleMutation;

#[Object]
impl LifecycleMutation {
    /// The partner picked and handed over a released package: its units
    /// leave the warehouse's stock.
    async fn mark_shipment_shipped(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tracking_number: String,
        carrier: Option<String>,
    ) -> async_graphql::Result<ShipmentPayload> {
        let state = app(ctx)?;
        let caller = super::caller(ctx)?;
        let result = operations::mark_shipped(state, caller, &id, &tracking_number, carrier.as_deref()).await;
        let (record, order, user_errors) = with_order(state, result, |r| r.order_id).await?;
        Ok(ShipmentPayload { shipment: record.map(Shipment), order, user_errors })
    }

    /// Cancels what has not shipped: open packages (their units go back to
    /// stock, first to the backorder queue) and waiting backorders.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<CancelOrderPayload> {
        let state = app(ctx)?;
        let result = operations::cancel_order(state, &id, reason.as_deref()).await;
        let (order, user_errors) = order_after(state, result).await?;
        Ok(CancelOrderPayload { order, user_errors })
    }
}

#[derive(SimpleObject)]
pub(crate) struct OrderTotals {
    /// Units still owed at their lines' prices (cancelled and substituted
    /// units excluded, substitute lines at their own price).
    pub merchandise: Money,
    pub shipping: Money,
    /// Charged for packages beyond the first, per the deployment's policy.
    pub partial_shipment_charge: Money,
    pub compensation: Money,
    pub total: Money,
}

/// A credit on an order.
#[derive(SimpleObject)]
pub(crate) struct Compensation {
    pub id: ID,
    pub amount: Money,
    pub reason: String,
    /// Issued by the gateway rather than by an agent: the delay policy's
    /// credit, or the reversal (negative) of credit that a cancellation
    /// left above what the order is still worth.
    pub automatic: bool,
    pub at: DateTime,
}

/// A credit to grant: exactly one of `amount` and `percentage`.
#[derive(Debug, async_graphql::InputObject)]
pub(crate) struct IssueCompensationInput {
    pub order_id: ID,
    pub amount: Option<Money>,
    /// Percent of merchandise plus shipping, e.g. "10" for 10%.
    pub percentage: Option<DecimalValue>,
    pub reason: String,
}

#[derive(SimpleObject)]
pub(crate) struct IssueCompensationPayload {
    pub order: Option<Order>,
    pub user_errors: Vec<crate::error::UserError>,
}

#[derive(Default)]
pub(crate) struct CompensationMutation;

#[Object]
impl CompensationMutation {
    /// Grants an exact-money credit on an order (never more than its total).
    async fn issue_compensation(
        &self,
        ctx: &Context<'_>,
        input: IssueCompensationInput,
    ) -> async_graphql::Result<IssueCompensationPayload> {
        let state = app(ctx)?;
        let grant = operations::IssueCompensation {
            order_id: &input.order_id,
            amount: input.amount.map(|m| m.0),
            percentage: input.percentage.map(|p| p.0),
            reason: &input.reason,
        };
        let result = operations::issue_compensation(state, grant).await;
        let (order, user_errors) = order_after(state, result).await?;
        Ok(IssueCompensationPayload { order, user_errors })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum SubstitutionStatus {
    /// Waiting for the shopper's answer.
    Proposed,
    Accepted,
    Declined,
    /// Applied by an agent directly.
    Applied,
}

/// Units of a line shipped as another product: the lineage and the money.
pub(crate) struct Substitution(pub infra::store::SubstitutionRecord);

#[Object]
impl Substitution {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Substitution, self.0.id).await
    }

    /// The line whose waiting units are replaced.
    async fn line_id(&self, ctx: &Context<'_>) -> async_graphql::Result<ID> {
        super::public_id(ctx, IdKind::Line, self.0.order_line_id).await
    }

    /// What was ordered.
    async fn original_sku(&self) -> &str {
        &self.0.original_sku
    }

    /// What ships instead.
    async fn substitute_sku(&self) -> &str {
        self.0.substitute_sku.as_str()
    }

    async fn quantity(&self) -> u32 {
        self.0.quantity
    }

    async fn status(&self) -> SubstitutionStatus {
        match self.0.status {
            domain::amend::SubstitutionStatus::Proposed => SubstitutionStatus::Proposed,
            domain::amend::SubstitutionStatus::Accepted => SubstitutionStatus::Accepted,
            domain::amend::SubstitutionStatus::Declined => SubstitutionStatus::Declined,
            domain::amend::SubstitutionStatus::Applied => SubstitutionStatus::Applied,
        }
    }

    /// Substitute minus original, over the units: positive is charged to the
    /// shopper, negative is a refund credit. Already in the order's totals
    /// once accepted or applied.
    async fn price_difference(&self) -> Money {
        Money(self.0.price_difference)
    }

    /// The new line, once accepted or applied.
    async fn substitute_line_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ID>> {
        match self.0.substitute_line_id {
            Some(id) => Ok(Some(super::public_id(ctx, IdKind::Line, id).await?)),
            None => Ok(None),
        }
    }

    async fn note(&self) -> &str {
        &self.0.note
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }

    async fn responded_at(&self) -> Option<DateTime> {
        self.0.responded_at_ms.map(DateTime)
    }
}
