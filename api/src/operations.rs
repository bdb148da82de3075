//! One use case per operation that changes the network, the catalog, stock
//! or an order after it was placed (quoting and placing are in
//! `fulfillment`). Each owns its whole
//! operation: it validates what the caller sent (`input`), runs the store's
//! write (again when it loses a race: `contention`), and invalidates the
//! stock it changed in the cache. Resolvers only convert GraphQL input into
//! these calls and their results into payloads; the caller's identity, when
//! keys land, is checked here too, so each operation has one place to look.
//!
//! Deliberately not here: decisions about orders (they are `domain`'s) and
//! SQL (it is `infra`'s).

use domain::access::Caller;
use domain::calendar::Day;
use domain::compensation::Grant;
use domain::ids::{BackorderId, OrderId, OrderLineId, ShipmentId, SubstitutionId};
use domain::{GeoPoint, Money, ShippingRate, Sku, limits};
use infra::secrets::IdKind;
use infra::store::StoreError;
use infra::store::{
    BackorderRecord, FeedOutcome, OrderPart, ProductInput, ProductRecord, ReceiptRecord, ShipmentRecord,
    ShortPickOutcome, SkuStock, StockInput, SubstitutionMode, SubstitutionRecord, WarehouseInput, WarehouseRecord,
};
use rust_decimal::Decimal;

use crate::contention::{ARRIVAL_DEADLINE, retrying, retrying_arrival};
use crate::error::{ApiError, ErrorCode, UserError};
use crate::input::{self, MAX_TEXT, MAX_TRACKING};
use crate::state::AppState;

/// Lets the caller at a part of an order, or answers as if the part did
/// not exist: a storefront reaches only orders it placed, with the order's
/// token; agents and admins every order (no read needed).
async fn admit(state: &AppState, caller: &Caller, part: OrderPart, token: Option<&str>) -> Result<(), ApiError> {
    if caller.sees_every_order() {
        return Ok(());
    }
    let owner = state.store.owner_of(part).await?;
    let secrets = state.secrets().await?;
    let visible = owner.is_some_and(|(order_id, owner)| {
        caller.sees_order(owner, token.is_some_and(|t| secrets.order_token_matches(order_id, t)))
    });
    if visible { Ok(()) } else { Err(part.unknown().into()) }
}

/// An order, if the caller may see it (`order(id, orderToken)`).
pub async fn visible_order(
    state: &AppState,
    caller: &Caller,
    id: &str,
    token: Option<&str>,
) -> Result<Option<infra::store::OrderRecord>, ApiError> {
    let secrets = state.secrets().await?;
    let id = input::public_id(secrets, IdKind::Order, id, &["id"], "an order", OrderId::new)?;
    match admit(state, caller, OrderPart::Order(id), token).await {
        Ok(()) => Ok(state.store.orders_by_id(&[id.get()]).await?.pop()),
        Err(ApiError::User(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `AWAITING_CONFIRMATION → CONFIRMED`; stock already there is allocated.
#[tracing::instrument(name = "confirmBackorder", skip_all, fields(graphql.field = "Mutation.confirmBackorder"))]
pub async fn confirm_backorder(
    state: &AppState,
    caller: &Caller,
    id: &str,
    token: Option<&str>,
) -> Result<BackorderRecord, ApiError> {
    let secrets = state.secrets().await?;
    let id = input::public_id(secrets, IdKind::Backorder, id, &["id"], "a backorder", BackorderId::new)?;
    admit(state, caller, OrderPart::Backorder(id), token).await?;
    let record = retrying(|| state.store.confirm_backorder(id)).await?;
    // Allocation may have reserved stock of this sku.
    state.cache.invalidate(std::slice::from_ref(&record.sku)).await;
    Ok(record)
}

/// Cancels a waiting backorder.
#[tracing::instrument(name = "cancelBackorder", skip_all, fields(graphql.field = "Mutation.cancelBackorder"))]
pub async fn cancel_backorder(
    state: &AppState,
    caller: &Caller,
    id: &str,
    token: Option<&str>,
) -> Result<BackorderRecord, ApiError> {
    let secrets = state.secrets().await?;
    let id = input::public_id(secrets, IdKind::Backorder, id, &["id"], "a backorder", BackorderId::new)?;
    admit(state, caller, OrderPart::Backorder(id), token).await?;
    let record = retrying(|| state.store.cancel_backorder(id)).await?;
    state.cache.invalidate(std::slice::from_ref(&record.sku)).await;
    Ok(record)
}

/// Lets a partner at a warehouse's stock only if it operates the
/// warehouse; to anyone else's, the warehouse does not exist. Admins
/// reach every warehouse (agents and storefronts never get this far: the
/// access table keeps stock writes from them).
async fn admit_warehouse(
    state: &AppState,
    caller: &Caller,
    code: &domain::WarehouseCode,
    field: &[&str],
) -> Result<(), ApiError> {
    if caller.partner_fence().is_none() {
        return Ok(());
    }
    let found = state.store.warehouses_by_code(&[code.to_string()]).await?.pop();
    if found.is_some_and(|w| caller.writes_warehouse(w.partner_code.as_deref())) {
        return Ok(());
    }
    match ApiError::from(StoreError::UnknownWarehouse(code.to_string())) {
        ApiError::User(u) => Err(ApiError::User(u.at(field))),
        other => Err(other),
    }
}

/// Lets a partner at a package only if its warehouse is the partner's.
async fn admit_shipment(state: &AppState, caller: &Caller, id: ShipmentId) -> Result<(), ApiError> {
    if caller.partner_fence().is_none() {
        return Ok(());
    }
    let warehouse = match state.store.shipment_warehouse(id.get()).await? {
        Some(w) => state.store.warehouses_by_id(&[w]).await?.pop(),
        None => None,
    };
    if warehouse.is_some_and(|w| caller.writes_warehouse(w.partner_code.as_deref())) {
        Ok(())
    } else {
        Err(StoreError::UnknownShipment(id.get()).into())
    }
}

/// The warehouses whose packages and stock the caller sees: a partner's
/// own, or `None` for all of them.
pub async fn fenced_warehouses(state: &AppState, caller: &Caller) -> Result<Option<Vec<WarehouseRecord>>, ApiError> {
    match caller.partner_fence() {
        None => Ok(None),
        Some(partner) => {
            let all = state.store.warehouses_page(None, u64::MAX >> 1, None, Some(partner)).await?;
            Ok(Some(all))
        }
    }
}

/// A page of a partner's pick queue: its warehouses' packages of a status
/// (released, by default), oldest first.
#[tracing::instrument(name = "partnerShipments", skip_all, fields(graphql.field = "Query.partnerShipments"))]
pub async fn partner_shipments(
    state: &AppState,
    caller: &Caller,
    status: domain::order::ShipmentStatus,
    warehouse: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ShipmentRecord>, ApiError> {
    let secrets = state.secrets().await?;
    let after = after
        .map(|a| {
            input::public_id(secrets, IdKind::Shipment, a, &["after"], "a cursor of this connection", ShipmentId::new)
        })
        .transpose()?;
    let mut warehouses = match fenced_warehouses(state, caller).await? {
        Some(own) => own,
        None => state.store.all_warehouses().await?,
    };
    if let Some(code) = warehouse {
        let code = input::warehouse_code(code, &["warehouseCode"])?;
        warehouses.retain(|w| w.code == code);
        if warehouses.is_empty() {
            return Err(StoreError::UnknownWarehouse(code.to_string()).into());
        }
    }
    let ids: Vec<i64> = warehouses.iter().map(|w| w.id).collect();
    Ok(state.store.shipments_page(&ids, status, after.map(ShipmentId::get), limit as u64 + 1).await?)
}

/// A released package left its warehouse, with the carrier's tracking number.
#[tracing::instrument(name = "markShipmentShipped", skip_all, fields(graphql.field = "Mutation.markShipmentShipped"))]
pub async fn mark_shipped(
    state: &AppState,
    caller: &Caller,
    id: &str,
    tracking_number: &str,
    carrier: Option<&str>,
) -> Result<ShipmentRecord, ApiError> {
    let secrets = state.secrets().await?;
    let id = input::public_id(secrets, IdKind::Shipment, id, &["id"], "a shipment", ShipmentId::new)?;
    let tracking = input::text(Some(tracking_number), "", MAX_TRACKING, &["trackingNumber"])?;
    let carrier = carrier.map(|c| input::text(Some(c), "", MAX_TRACKING, &["carrier"])).transpose()?;
    admit_shipment(state, caller, id).await?;
    let record = retrying(|| state.store.mark_shipped(id, &tracking, carrier.as_deref())).await?;
    let skus: Vec<Sku> = record.lines.iter().map(|l| l.sku.clone()).collect();
    state.cache.invalidate(&skus).await;
    Ok(record)
}

/// Cancels everything of an order that has not shipped; returns its id.
#[tracing::instrument(name = "cancelOrder", skip_all, fields(graphql.field = "Mutation.cancelOrder"))]
pub async fn cancel_order(state: &AppState, id: &str, reason: Option<&str>) -> Result<i64, ApiError> {
    let secrets = state.secrets().await?;
    let id = input::public_id(secrets, IdKind::Order, id, &["id"], "an order", OrderId::new)?;
    let reason = input::text(reason, "cancelled by request", MAX_TEXT, &["reason"])?;
    let changed = retrying(|| state.store.cancel_order(id, &reason)).await?;
    state.cache.invalidate(&changed).await;
    Ok(id.get())
}

/// What an agent grants: exactly one of an amount and a percentage.
pub struct IssueCompensation<'a> {
    pub order_id: &'a str,
    pub amount: Option<Money>,
    pub percentage: Option<Decimal>,
    pub reason: &'a str,
}

/// Credits an order by hand; returns its id.
#[tracing::instrument(name = "issueCompensation", skip_all, fields(graphql.field = "Mutation.issueCompensation"))]
pub async fn issue_compensation(state: &AppState, input: IssueCompensation<'_>) -> Result<i64, ApiError> {
    let secrets = state.secrets().await?;
    let id = input::public_id(secrets, IdKind::Order, input.order_id, &["orderId"], "an order", OrderId::new)?;
    let grant = match (input.amount, input.percentage) {
        (Some(amount), None) => {
            Grant::Amount(Money::new(input::amount(amount.amount(), limits::MAX_CREDIT, &["amount"])?))
        }
        (None, Some(p)) => Grant::Percentage(input::amount(p, Decimal::ONE_HUNDRED, &["percentage"])?),
        _ => return Err(ApiError::user(ErrorCode::InvalidInput, "give exactly one of amount and percentage")),
    };
    let reason = input::text(Some(input.reason), "", MAX_TEXT, &["reason"])?;
    retrying(|| state.store.issue_compensation(id, grant, &reason)).await?;
    Ok(id.get())
}

/// A line to cancel units of.
pub struct CancelLine<'a> {
    pub line_id: &'a str,
    pub quantity: Option<i32>,
    pub reason: Option<&'a str>,
    pub order_token: Option<&'a str>,
}

/// Cancels units of a line that have not shipped; returns the order's id.
/// A storefront may do so only while nothing of the order has shipped.
#[tracing::instrument(name = "cancelOrderLine", skip_all, fields(graphql.field = "Mutation.cancelOrderLine"))]
pub async fn cancel_order_line(state: &AppState, caller: &Caller, input: CancelLine<'_>) -> Result<i64, ApiError> {
    let secrets = state.secrets().await?;
    let line = input::public_id(secrets, IdKind::Line, input.line_id, &["lineId"], "an order line", OrderLineId::new)?;
    let quantity = input.quantity.map(|q| input::units(q, &["quantity"])).transpose()?;
    let reason = input::text(input.reason, "cancelled by request", MAX_TEXT, &["reason"])?;
    admit(state, caller, OrderPart::Line(line), input.order_token).await?;
    let before_shipping = caller.cancels_only_before_shipping();
    let (order_id, changed) =
        retrying(|| state.store.cancel_order_line(line, quantity, &reason, before_shipping)).await?;
    state.cache.invalidate(&changed).await;
    Ok(order_id)
}

/// A substitution an agent makes or proposes.
pub struct Substitute<'a> {
    pub line_id: &'a str,
    pub substitute_sku: &'a str,
    pub quantity: Option<i32>,
    pub note: Option<&'a str>,
    pub mode: SubstitutionMode,
}

#[tracing::instrument(
    name = "substitution",
    skip_all,
    fields(graphql.field = if input.mode == SubstitutionMode::Apply { "Mutation.substituteLine" } else { "Mutation.proposeSubstitution" })
)]
pub async fn substitute(state: &AppState, input: Substitute<'_>) -> Result<SubstitutionRecord, ApiError> {
    let secrets = state.secrets().await?;
    let line = input::public_id(secrets, IdKind::Line, input.line_id, &["lineId"], "an order line", OrderLineId::new)?;
    let sku = input::sku(input.substitute_sku, &["substituteSku"])?;
    let quantity = input.quantity.map(|q| input::units(q, &["quantity"])).transpose()?;
    let note = input::text(input.note, "substituted by an agent", MAX_TEXT, &["note"])?;
    let record = retrying(|| state.store.substitute(line, &sku, quantity, &note, input.mode)).await?;
    if input.mode == SubstitutionMode::Apply {
        state.cache.invalidate(&[sku]).await;
    }
    Ok(record)
}

/// The shopper's answer to a proposal.
#[tracing::instrument(name = "respondToSubstitution", skip_all, fields(graphql.field = "Mutation.respondToSubstitution"))]
pub async fn respond_to_substitution(
    state: &AppState,
    caller: &Caller,
    id: &str,
    accept: bool,
    token: Option<&str>,
) -> Result<SubstitutionRecord, ApiError> {
    let secrets = state.secrets().await?;
    let id = input::public_id(secrets, IdKind::Substitution, id, &["id"], "a substitution", SubstitutionId::new)?;
    admit(state, caller, OrderPart::Substitution(id), token).await?;
    let record = retrying(|| state.store.respond_to_substitution(id, accept)).await?;
    if accept {
        state.cache.invalidate(std::slice::from_ref(&record.substitute_sku)).await;
    }
    Ok(record)
}

/// Units a partner could not pick.
#[tracing::instrument(name = "reportShortPick", skip_all, fields(graphql.field = "Mutation.reportShortPick"))]
pub async fn report_short_pick(
    state: &AppState,
    caller: &Caller,
    shipment_id: &str,
    sku: &str,
    quantity: i32,
    reason: &str,
) -> Result<ShortPickOutcome, ApiError> {
    let secrets = state.secrets().await?;
    let shipment =
        input::public_id(secrets, IdKind::Shipment, shipment_id, &["shipmentId"], "a shipment", ShipmentId::new)?;
    let sku = input::sku(sku, &["sku"])?;
    let quantity = input::units(quantity, &["quantity"])?;
    let reason = input::text(Some(reason), "", MAX_TEXT, &["reason"])?;
    admit_shipment(state, caller, shipment).await?;
    let outcome = retrying(|| state.store.report_short_pick(shipment, &sku, quantity, &reason)).await?;
    state.cache.invalidate(&[sku]).await;
    Ok(outcome)
}

/// One row of a feed, as sent.
pub struct StockRow<'a> {
    pub warehouse_code: &'a str,
    pub sku: &'a str,
    pub on_hand: i32,
    pub safety_stock: Option<i32>,
    pub sequence: Option<i64>,
}

/// Most rows one feed call may carry.
pub const MAX_FEED_ROWS: usize = 5_000;

/// Absolute levels from a feed, all or nothing; retried until they apply.
#[tracing::instrument(name = "setStockLevels", skip_all, fields(graphql.field = "Mutation.setStockLevels"))]
pub async fn set_stock_levels(
    state: &AppState,
    caller: &Caller,
    rows: &[StockRow<'_>],
) -> Result<Vec<FeedOutcome>, ApiError> {
    input::batch(rows.len(), MAX_FEED_ROWS, "levels")?;
    let parsed = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let index = i.to_string();
            Ok(StockInput {
                warehouse: input::warehouse_code(row.warehouse_code, &["input", &index, "warehouseCode"])?,
                sku: input::sku(row.sku, &["input", &index, "sku"])?,
                on_hand: input::count(row.on_hand, &["input", &index, "onHand"])?,
                safety_stock: row
                    .safety_stock
                    .map(|s| input::count(s, &["input", &index, "safetyStock"]))
                    .transpose()?,
                sequence: row.sequence.map(|q| input::sequence(q, &["input", &index, "sequence"])).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut admitted: Vec<&domain::WarehouseCode> = Vec::new();
    for (i, row) in parsed.iter().enumerate() {
        if !admitted.contains(&&row.warehouse) {
            admit_warehouse(state, caller, &row.warehouse, &["input", &i.to_string(), "warehouseCode"]).await?;
            admitted.push(&row.warehouse);
        }
    }
    let outcomes = retrying_arrival(ARRIVAL_DEADLINE, || state.store.set_stock_levels(&parsed)).await;
    // Invalidate even on failure: a partial commit is impossible, but an
    // entry cached meanwhile might predate the write.
    let skus: Vec<Sku> = parsed.iter().map(|p| p.sku.clone()).collect();
    state.cache.invalidate(&skus).await;
    Ok(outcomes?)
}

/// Units that arrived; they serve the backorder queue first.
#[tracing::instrument(name = "receiveStock", skip_all, fields(graphql.field = "Mutation.receiveStock"))]
pub async fn receive_stock(
    state: &AppState,
    caller: &Caller,
    warehouse: &str,
    sku: &str,
    quantity: i32,
) -> Result<Option<SkuStock>, ApiError> {
    let units = input::arrival(quantity, &["input", "quantity"])?;
    change_stock(state, caller, warehouse, sku, (i64::from(units), &["input", "quantity"]), None).await
}

/// A relative change with a reason (a recount, a write-off, a find).
#[tracing::instrument(name = "adjustStock", skip_all, fields(graphql.field = "Mutation.adjustStock"))]
pub async fn adjust_stock(
    state: &AppState,
    caller: &Caller,
    warehouse: &str,
    sku: &str,
    delta: i32,
    reason: &str,
) -> Result<Option<SkuStock>, ApiError> {
    let delta = input::delta(delta, &["input", "delta"])?;
    let reason = input::text(Some(reason), "", MAX_TEXT, &["input", "reason"])?;
    change_stock(state, caller, warehouse, sku, (delta, &["input", "delta"]), Some(&reason)).await
}

async fn change_stock(
    state: &AppState,
    caller: &Caller,
    warehouse: &str,
    sku: &str,
    (delta, field): (i64, &[&str]),
    reason: Option<&str>,
) -> Result<Option<SkuStock>, ApiError> {
    let code = input::warehouse_code(warehouse, &["input", "warehouseCode"])?;
    let sku = input::sku(sku, &["input", "sku"])?;
    admit_warehouse(state, caller, &code, &["input", "warehouseCode"]).await?;
    // What arrives is the warehouse's truth and is retried until it applies;
    // a removal is the caller's decision and may be refused.
    let changed = if delta > 0 {
        retrying_arrival(ARRIVAL_DEADLINE, || state.store.adjust_stock(&code, &sku, delta, reason)).await
    } else {
        retrying(|| state.store.adjust_stock(&code, &sku, delta, reason)).await
    };
    changed.map_err(|e| match ApiError::from(e) {
        // A level pushed out of its range: the quantity sent is at fault.
        ApiError::User(u) if u.code == ErrorCode::BadQuantity => ApiError::User(u.at(field)),
        other => other,
    })?;
    state.cache.invalidate(std::slice::from_ref(&sku)).await;
    // The change is committed: a read of the level that fails now must not
    // answer an error, or the partner would send the change again.
    match state.store.stock_of(&[sku]).await {
        Ok(mut stock) => Ok(stock.pop()),
        Err(error) => {
            tracing::warn!(%error, "stock changed; reading it back failed");
            Ok(None)
        }
    }
}

/// Stock expected at a warehouse on a day.
#[tracing::instrument(name = "recordInboundReceipt", skip_all, fields(graphql.field = "Mutation.recordInboundReceipt"))]
pub async fn record_inbound_receipt(
    state: &AppState,
    caller: &Caller,
    warehouse: &str,
    sku: &str,
    quantity: i32,
    expected_on: Day,
) -> Result<ReceiptRecord, ApiError> {
    let code = input::warehouse_code(warehouse, &["input", "warehouseCode"])?;
    let sku = input::sku(sku, &["input", "sku"])?;
    admit_warehouse(state, caller, &code, &["input", "warehouseCode"]).await?;
    let quantity = input::arrival(quantity, &["input", "quantity"])?;
    domain::backorder::expected_on(expected_on, state.today()).map_err(|e| {
        ApiError::User(UserError::new(ErrorCode::InvalidInput, e.to_string()).at(&["input", "expectedOn"]))
    })?;
    Ok(retrying_arrival(ARRIVAL_DEADLINE, || state.store.record_inbound_receipt(&code, &sku, quantity, expected_on))
        .await?)
}

/// A warehouse as an admin sends it.
pub struct WarehouseDraft<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub partner_code: Option<&'a str>,
    pub latitude: f64,
    pub longitude: f64,
    pub priority: i32,
    pub handling_days: i32,
    pub base_cost: Decimal,
    pub cost_per_km: Decimal,
    pub active: bool,
}

/// Longest partner code.
pub const MAX_CODE: usize = 64;

/// Creates a warehouse or updates the one with its code.
#[tracing::instrument(name = "upsertWarehouse", skip_all, fields(graphql.field = "Mutation.upsertWarehouse"))]
pub async fn upsert_warehouse(state: &AppState, draft: WarehouseDraft<'_>) -> Result<WarehouseRecord, ApiError> {
    let bad =
        |code: ErrorCode, field: &str, message: String| ApiError::User(UserError::new(code, message).at(&[field]));
    let code = input::warehouse_code(draft.code, &["code"])?;
    let location = GeoPoint::new(draft.latitude, draft.longitude)
        .map_err(|e| bad(ErrorCode::BadCoordinates, "latitude", e.to_string()))?;
    let base_cost = input::amount(draft.base_cost, limits::MAX_BASE_COST, &["baseCost"])?;
    let cost_per_km = input::amount(draft.cost_per_km, limits::MAX_COST_PER_KM, &["costPerKm"])?;
    let rate = ShippingRate::new(base_cost, cost_per_km)
        .map_err(|e| bad(ErrorCode::InvalidInput, "baseCost", e.to_string()))?;
    let handling_days = input::days(draft.handling_days, limits::MAX_HANDLING_DAYS, &["handlingDays"])?;
    let priority = input::priority(draft.priority, &["priority"])?;
    let name = input::text(Some(draft.name), "", input::MAX_NAME, &["name"])?;
    let partner_code = match draft.partner_code {
        Some(p) if p.trim().is_empty() => {
            return Err(bad(ErrorCode::InvalidInput, "partnerCode", "partnerCode must not be empty".into()));
        }
        Some(p) if p.chars().count() > MAX_CODE => {
            return Err(bad(
                ErrorCode::InvalidInput,
                "partnerCode",
                format!("partnerCode must be at most {MAX_CODE} characters"),
            ));
        }
        other => other.map(str::to_owned),
    };
    let parsed =
        WarehouseInput { code, name, partner_code, location, priority, handling_days, rate, active: draft.active };
    let saved = retrying(|| state.store.upsert_warehouse(parsed.clone())).await?;
    // Location, tariff or activity may have changed every sku's view.
    state.cache.invalidate_all().await;
    state.warehouses.invalidate().await;
    Ok(saved)
}

/// A product as an admin sends it.
pub struct ProductDraft<'a> {
    pub sku: &'a str,
    pub name: &'a str,
    pub unit_price: Money,
    pub backorderable: bool,
    pub lead_time_days: i32,
    pub substitutes: &'a [String],
}

/// Most substitutes a product may list.
pub const MAX_SUBSTITUTES: usize = 10;

/// Most products one call may upsert.
pub const MAX_PRODUCTS: usize = 1_000;

/// Creates or updates products by sku, all or nothing.
#[tracing::instrument(name = "upsertProducts", skip_all, fields(graphql.field = "Mutation.upsertProducts"))]
pub async fn upsert_products(state: &AppState, drafts: &[ProductDraft<'_>]) -> Result<Vec<ProductRecord>, ApiError> {
    input::batch(drafts.len(), MAX_PRODUCTS, "products")?;
    let mut seen = std::collections::HashSet::new();
    let products = drafts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let index = i.to_string();
            let field = |name: &'static str| ["input", index.as_str(), name];
            let sku = input::sku(p.sku, &field("sku"))?;
            if !seen.insert(sku.clone()) {
                return Err(ApiError::User(
                    UserError::new(ErrorCode::InvalidInput, format!("{sku} appears twice")).at(&field("sku")),
                ));
            }
            let name = input::text(Some(p.name), "", input::MAX_NAME, &field("name"))?;
            let unit_price = input::amount(p.unit_price.amount(), limits::MAX_UNIT_PRICE, &field("unitPrice"))?;
            let lead_time_days = input::days(p.lead_time_days, limits::MAX_LEAD_TIME_DAYS, &field("leadTimeDays"))?;
            if p.substitutes.len() > MAX_SUBSTITUTES {
                return Err(ApiError::User(
                    UserError::new(
                        ErrorCode::InvalidInput,
                        format!("a product may have at most {MAX_SUBSTITUTES} substitutes"),
                    )
                    .at(&field("substitutes")),
                ));
            }
            let substitutes =
                p.substitutes.iter().map(|s| input::sku(s, &field("substitutes"))).collect::<Result<Vec<_>, _>>()?;
            Ok(ProductInput {
                sku,
                name,
                unit_price: Money::new(unit_price),
                backorderable: p.backorderable,
                lead_time_days,
                substitutes,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(retrying(|| state.store.upsert_products(products.clone())).await?)
}

/// A new API key; its secret is in the result and nowhere else.
#[tracing::instrument(name = "createApiKey", skip_all, fields(graphql.field = "Mutation.createApiKey"))]
pub async fn create_key(
    store: &infra::store::Store,
    name: &str,
    role: domain::access::Role,
    partner_code: Option<&str>,
) -> Result<infra::store::NewKey, ApiError> {
    let name = input::text(Some(name), "", input::MAX_NAME, &["name"])?;
    let partner = partner_code.map(|p| input::text(Some(p), "", input::MAX_NAME, &["partnerCode"])).transpose()?;
    let grant = domain::access::Grant::new(role, partner)
        .map_err(|e| ApiError::User(UserError::new(ErrorCode::InvalidInput, e.to_string()).at(&["partnerCode"])))?;
    Ok(store.create_key(&name, grant).await?)
}

/// Revokes a key: at once on this replica, within the key TTL on the others.
#[tracing::instrument(name = "revokeApiKey", skip_all, fields(graphql.field = "Mutation.revokeApiKey"))]
pub async fn revoke_key(state: &AppState, id: &str) -> Result<infra::store::KeyRecord, ApiError> {
    let id = input::id(id, &["id"], "an API key", |n| if n > 0 { Ok(n) } else { Err(domain::ids::InvalidId(n)) })?;
    let record = state.store.revoke_key(id).await?;
    state.keys.forget(id);
    Ok(record)
}

/// A page of a warehouse's stock audit trail, newest first: a partner's
/// own warehouses, any for an admin.
#[tracing::instrument(name = "stockChanges", skip_all, fields(graphql.field = "Query.stockChanges"))]
pub async fn stock_changes(
    state: &AppState,
    caller: &Caller,
    warehouse: &str,
    sku: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<infra::store::StockChangeRecord>, ApiError> {
    let code = input::warehouse_code(warehouse, &["warehouseCode"])?;
    let sku = sku.map(|s| input::sku(s, &["sku"])).transpose()?;
    let before = after
        .map(|a| a.parse::<i64>().ok().filter(|n| *n > 0))
        .map(|n| n.ok_or_else(|| ApiError::user(ErrorCode::InvalidInput, "after is not a cursor of this connection")))
        .transpose()?;
    admit_warehouse(state, caller, &code, &["warehouseCode"]).await?;
    Ok(state.store.stock_changes(&code, sku.as_ref(), before, limit as u64 + 1).await?)
}
