//! Stock: the `availability` query and `setStockLevels` feeds.

use crate::operations;
use async_graphql::{Context, ErrorExtensions, InputObject, Object, SimpleObject};
use infra::store::{FeedOutcome, LocationStock, SkuStock, WarehouseRecord};

use super::network::Warehouse;
use super::{app, internal, loaders};
use crate::error::{ApiError, ErrorCode, UserError, into_payload};

/// One warehouse's stock of a sku.
pub(crate) struct StockLocation(pub LocationStock, Option<WarehouseRecord>);

#[Object]
impl StockLocation {
    async fn warehouse(&self, ctx: &Context<'_>) -> async_graphql::Result<Warehouse> {
        if let Some(record) = &self.1 {
            return Ok(Warehouse(record.clone()));
        }
        let found = loaders(ctx)?.warehouses_by_id.load_one(self.0.warehouse_id).await.map_err(internal)?;
        found.map(Warehouse).ok_or_else(|| super::broken("a stock level names a missing warehouse"))
    }

    async fn on_hand(&self) -> u32 {
        self.0.level.on_hand()
    }

    /// Held by open orders.
    async fn reserved(&self) -> u32 {
        self.0.level.reserved()
    }

    /// Held back from sale.
    async fn safety_stock(&self) -> u32 {
        self.0.level.safety_stock()
    }

    /// `max(0, onHand − reserved − safetyStock)`.
    async fn available(&self) -> u32 {
        self.0.level.available()
    }

    /// Sequence of the feed that last set this level.
    async fn feed_sequence(&self) -> Option<i64> {
        self.0.feed_sequence
    }
}

/// A sku's stock across the network's active warehouses.
pub(crate) struct SkuAvailability(pub SkuStock);

#[Object]
impl SkuAvailability {
    async fn sku(&self) -> &str {
        self.0.sku.as_str()
    }

    /// What can sell now; to a partner, across its own warehouses.
    async fn total_available(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        if super::caller(ctx)?.partner_fence().is_none() {
            return Ok(self.0.total_available());
        }
        Ok(self.locations(ctx).await?.iter().map(|l| u64::from(l.0.level.available())).sum())
    }

    /// In warehouse code order; to a partner, its own warehouses only.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn locations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StockLocation>> {
        // One directory read for all locations instead of a lookup each.
        let state = app(ctx)?;
        let caller = super::caller(ctx)?;
        let view = state.warehouses.get(&state.store).await.map_err(internal)?;
        Ok(self
            .0
            .locations
            .iter()
            .map(|l| StockLocation(l.clone(), view.by_id(l.warehouse_id).cloned()))
            .filter(|l| {
                caller.partner_fence().is_none()
                    || l.1.as_ref().is_some_and(|w| caller.sees_warehouse(w.partner_code.as_deref()))
            })
            .collect())
    }
}

/// One change of a stock level, as its audit trail keeps it.
pub(crate) struct StockChange(pub infra::store::StockChangeRecord);

#[Object]
impl StockChange {
    async fn warehouse_code(&self) -> &str {
        self.0.warehouse.as_str()
    }

    async fn sku(&self) -> &str {
        self.0.sku.as_str()
    }

    /// `FEED`, `RECEIPT`, `ADJUSTMENT`, `SHIPMENT` or `SHORT_PICK`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    /// Who made it: a key (its name and role), or the gateway.
    async fn caused_by(&self) -> super::keys::EventActor {
        super::keys::EventActor::of(&self.0.actor)
    }

    async fn on_hand_before(&self) -> i64 {
        self.0.on_hand.0
    }

    async fn on_hand_after(&self) -> i64 {
        self.0.on_hand.1
    }

    async fn safety_stock_before(&self) -> i64 {
        self.0.safety_stock.0
    }

    async fn safety_stock_after(&self) -> i64 {
        self.0.safety_stock.1
    }

    /// The feed's sequence number, for a feed.
    async fn sequence(&self) -> Option<i64> {
        self.0.sequence
    }

    /// The reason given, for an adjustment.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    async fn at(&self) -> super::scalars::DateTime {
        super::scalars::DateTime(self.0.created_at_ms)
    }
}

/// Most skus one availability query may ask for.
pub(crate) const MAX_SKUS: usize = 500;

#[derive(Default)]
pub(crate) struct StockQuery;

#[Object]
impl StockQuery {
    /// Stock of each sku at every active warehouse, in the order asked.
    #[graphql(complexity = "skus.len().max(1) * child_complexity")]
    async fn availability(&self, ctx: &Context<'_>, skus: Vec<String>) -> async_graphql::Result<Vec<SkuAvailability>> {
        let state = app(ctx)?;
        let result = async {
            if skus.len() > MAX_SKUS {
                return Err(ApiError::user(ErrorCode::InvalidInput, format!("ask for at most {MAX_SKUS} skus")));
            }
            let parsed = skus
                .iter()
                .enumerate()
                .map(|(i, s)| super::inputs::sku(s, &["skus", &i.to_string()]))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(state.cache.stock_of(&state.store, &parsed).await?)
        }
        .await;
        result.map(|v| v.into_iter().map(SkuAvailability).collect()).map_err(|e| e.log().extend())
    }

    /// A warehouse's stock audit trail, newest first: every feed, receipt,
    /// adjustment, shipment and short pick, with who made it and the level
    /// before and after. A partner reads its own warehouses'.
    #[graphql(complexity = "super::page_weight(first) * child_complexity")]
    async fn stock_changes(
        &self,
        ctx: &Context<'_>,
        warehouse_code: String,
        sku: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<super::Page<StockChange>> {
        let limit = super::page_size(first)?;
        let rows = operations::stock_changes(
            app(ctx)?,
            super::caller(ctx)?,
            &warehouse_code,
            sku.as_deref(),
            after.as_deref(),
            limit,
        )
        .await
        .map_err(|e| e.log().extend())?;
        Ok(super::page(rows, limit, after.is_some(), |c| c.id.to_string(), StockChange))
    }
}

/// An absolute stock level from a partner's or the WMS's feed.
#[derive(Debug, InputObject)]
pub(crate) struct StockLevelInput {
    pub warehouse_code: String,
    pub sku: String,
    pub on_hand: i32,
    /// Left unchanged when omitted (zero for a new level).
    pub safety_stock: Option<i32>,
    /// The feed's sequence number or timestamp: a level set by a newer feed
    /// is never overwritten by an older one.
    pub sequence: Option<i64>,
}

/// What one feed row did.
#[derive(SimpleObject)]
pub(crate) struct StockLevelResult {
    pub warehouse_code: String,
    pub sku: String,
    /// False when a newer feed had already set this level.
    pub applied: bool,
    /// Sequence of the feed whose level stands when this row was ignored.
    pub current_sequence: Option<i64>,
}

#[derive(SimpleObject)]
pub(crate) struct SetStockLevelsPayload {
    pub results: Vec<StockLevelResult>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub(crate) struct StockMutation;

#[Object]
impl StockMutation {
    /// Sets absolute levels in bulk, all or nothing. Rows older than the
    /// feed that set a level are ignored and reported, not errors.
    async fn set_stock_levels(
        &self,
        ctx: &Context<'_>,
        input: Vec<StockLevelInput>,
    ) -> async_graphql::Result<SetStockLevelsPayload> {
        let state = app(ctx)?;
        let rows: Vec<operations::StockRow<'_>> = input
            .iter()
            .map(|r| operations::StockRow {
                warehouse_code: &r.warehouse_code,
                sku: &r.sku,
                on_hand: r.on_hand,
                safety_stock: r.safety_stock,
                sequence: r.sequence,
            })
            .collect();
        let result = operations::set_stock_levels(state, super::caller(ctx)?, &rows).await;
        let (outcomes, user_errors) = into_payload(result)?;
        let results = outcomes
            .unwrap_or_default()
            .into_iter()
            .zip(&input)
            .map(|(outcome, row)| StockLevelResult {
                warehouse_code: row.warehouse_code.clone(),
                sku: row.sku.clone(),
                applied: matches!(outcome, FeedOutcome::Applied { .. }),
                current_sequence: match outcome {
                    FeedOutcome::IgnoredOlder { current_sequence } => Some(current_sequence),
                    FeedOutcome::Applied { .. } => None,
                },
            })
            .collect();
        Ok(SetStockLevelsPayload { results, user_errors })
    }
}

/// Units that arrived at a warehouse.
#[derive(Debug, InputObject)]
pub(crate) struct ReceiveStockInput {
    pub warehouse_code: String,
    pub sku: String,
    pub quantity: i32,
}

/// A change to what a warehouse holds: a recount, a write-off, a find.
#[derive(Debug, InputObject)]
pub(crate) struct AdjustStockInput {
    pub warehouse_code: String,
    pub sku: String,
    /// Units added (positive) or removed (negative).
    pub delta: i32,
    pub reason: String,
}

#[derive(SimpleObject)]
pub(crate) struct StockChangePayload {
    /// The level after the change (and after any backorder allocation).
    pub availability: Option<SkuAvailability>,
    pub user_errors: Vec<UserError>,
}

fn stock_payload(result: Result<Option<SkuStock>, ApiError>) -> async_graphql::Result<StockChangePayload> {
    let (stock, user_errors) = into_payload(result)?;
    Ok(StockChangePayload { availability: stock.flatten().map(SkuAvailability), user_errors })
}

#[derive(Default)]
pub(crate) struct PartnerStockMutation;

#[Object]
impl PartnerStockMutation {
    /// Units arrived (a purchase order, a transfer): they go to the
    /// backorder queue first, oldest confirmation first.
    async fn receive_stock(
        &self,
        ctx: &Context<'_>,
        input: ReceiveStockInput,
    ) -> async_graphql::Result<StockChangePayload> {
        let caller = super::caller(ctx)?;
        stock_payload(
            operations::receive_stock(app(ctx)?, caller, &input.warehouse_code, &input.sku, input.quantity).await,
        )
    }

    /// A relative change with a reason; on-hand may not fall below what is
    /// reserved.
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        input: AdjustStockInput,
    ) -> async_graphql::Result<StockChangePayload> {
        let state = app(ctx)?;
        stock_payload(
            operations::adjust_stock(
                state,
                super::caller(ctx)?,
                &input.warehouse_code,
                &input.sku,
                input.delta,
                &input.reason,
            )
            .await,
        )
    }
}

/// Stock expected at a warehouse: a purchase order or a transfer.
#[derive(Debug, InputObject)]
pub(crate) struct InboundReceiptInput {
    pub warehouse_code: String,
    pub sku: String,
    pub quantity: i32,
    pub expected_on: super::scalars::Date,
}

#[derive(SimpleObject)]
pub(crate) struct InboundReceipt {
    pub id: async_graphql::ID,
    pub warehouse_code: String,
    pub sku: String,
    pub quantity: u32,
    pub expected_on: super::scalars::Date,
}

#[derive(SimpleObject)]
pub(crate) struct RecordInboundReceiptPayload {
    pub receipt: Option<InboundReceipt>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub(crate) struct ReceiptMutation;

#[Object]
impl ReceiptMutation {
    /// Announces expected stock; backorders of the sku get new availability
    /// estimates, oldest in the queue served first.
    async fn record_inbound_receipt(
        &self,
        ctx: &Context<'_>,
        input: InboundReceiptInput,
    ) -> async_graphql::Result<RecordInboundReceiptPayload> {
        let state = app(ctx)?;
        let days = input
            .expected_on
            .0
            .signed_duration_since(crate::state::to_date(domain::calendar::Day::from_days_since_epoch(0)))
            .num_days();
        let day = domain::calendar::Day::from_days_since_epoch(i32::try_from(days).unwrap_or(i32::MAX));
        let caller = super::caller(ctx)?;
        let result =
            operations::record_inbound_receipt(state, caller, &input.warehouse_code, &input.sku, input.quantity, day)
                .await;
        let (receipt, user_errors) = into_payload(result)?;
        Ok(RecordInboundReceiptPayload {
            receipt: receipt.map(|r| InboundReceipt {
                id: async_graphql::ID(r.id.to_string()),
                warehouse_code: r.warehouse.to_string(),
                sku: r.sku.to_string(),
                quantity: r.quantity,
                expected_on: r.expected_on.into(),
            }),
            user_errors,
        })
    }
}
