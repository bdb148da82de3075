//! Stock: the `availability` query and `setStockLevels` feeds.

use crate::contention::{ARRIVAL_DEADLINE, retrying, retrying_arrival};
use async_graphql::{Context, ErrorExtensions, InputObject, Object, SimpleObject};
use infra::store::{FeedOutcome, LocationStock, SkuStock, StockInput, WarehouseRecord};

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
        found.map(Warehouse).ok_or_else(|| internal("a stock level names a missing warehouse"))
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

    async fn total_available(&self) -> u64 {
        self.0.total_available()
    }

    /// In warehouse code order.
    async fn locations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StockLocation>> {
        // One directory read for all locations instead of a lookup each.
        let state = app(ctx)?;
        let view = state.warehouses.get(&state.store).await.map_err(internal)?;
        Ok(self.0.locations.iter().map(|l| StockLocation(l.clone(), view.by_id(l.warehouse_id).cloned())).collect())
    }
}

/// Most skus one availability query may ask for.
pub(crate) const MAX_SKUS: usize = 500;

#[derive(Default)]
pub(crate) struct StockQuery;

#[Object]
impl StockQuery {
    /// Stock of each sku at every active warehouse, in the order asked.
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

/// Most rows one feed call may carry.
const MAX_ROWS: usize = 5_000;

fn parse(rows: &[StockLevelInput]) -> Result<Vec<StockInput>, ApiError> {
    if rows.is_empty() || rows.len() > MAX_ROWS {
        return Err(ApiError::User(
            UserError::new(ErrorCode::InvalidInput, format!("send between 1 and {MAX_ROWS} levels")).at(&["input"]),
        ));
    }
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let index = i.to_string();
            let count = |value: i32, name: &str| {
                u32::try_from(value).map_err(|_| {
                    ApiError::User(
                        UserError::new(ErrorCode::BadQuantity, format!("{name} must not be negative, got {value}"))
                            .at(&["input", &index, name]),
                    )
                })
            };
            Ok(StockInput {
                warehouse: super::inputs::warehouse_code(&row.warehouse_code, &["input", &index, "warehouseCode"])?,
                sku: super::inputs::sku(&row.sku, &["input", &index, "sku"])?,
                on_hand: count(row.on_hand, "onHand")?,
                safety_stock: row.safety_stock.map(|s| count(s, "safetyStock")).transpose()?,
                sequence: row.sequence,
            })
        })
        .collect()
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
        let result = async {
            let parsed = parse(&input)?;
            let outcomes = retrying_arrival(ARRIVAL_DEADLINE, || state.store.set_stock_levels(&parsed)).await;
            // Invalidate even on failure: a partial commit is impossible, but
            // an entry cached meanwhile might predate the write.
            let skus: Vec<domain::Sku> = parsed.iter().map(|p| p.sku.clone()).collect();
            state.cache.invalidate(&skus).await;
            Ok(outcomes?)
        }
        .await;
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

async fn change_stock(
    ctx: &Context<'_>,
    warehouse: &str,
    sku: &str,
    delta: i64,
    reason: &str,
) -> async_graphql::Result<StockChangePayload> {
    let state = app(ctx)?;
    let result = async {
        let code = super::inputs::warehouse_code(warehouse, &["input", "warehouseCode"])?;
        let sku = super::inputs::sku(sku, &["input", "sku"])?;
        // What arrives is the warehouse's truth and is retried until it
        // applies; a removal is the caller's decision and may be refused.
        if delta > 0 {
            retrying_arrival(ARRIVAL_DEADLINE, || state.store.adjust_stock(&code, &sku, delta, reason)).await?;
        } else {
            retrying(|| state.store.adjust_stock(&code, &sku, delta, reason)).await?;
        }
        state.cache.invalidate(std::slice::from_ref(&sku)).await;
        Ok(state.store.stock_of(&[sku]).await?)
    }
    .await;
    let (stock, user_errors) = into_payload(result)?;
    Ok(StockChangePayload { availability: stock.and_then(|mut s| s.pop()).map(SkuAvailability), user_errors })
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
        if input.quantity <= 0 {
            let error =
                UserError::new(ErrorCode::BadQuantity, format!("quantity must be positive, got {}", input.quantity))
                    .at(&["input", "quantity"]);
            return Ok(StockChangePayload { availability: None, user_errors: vec![error] });
        }
        change_stock(ctx, &input.warehouse_code, &input.sku, i64::from(input.quantity), "received").await
    }

    /// A relative change with a reason; on-hand may not fall below what is
    /// reserved.
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        input: AdjustStockInput,
    ) -> async_graphql::Result<StockChangePayload> {
        if input.delta == 0 || input.reason.trim().is_empty() {
            let error = UserError::new(ErrorCode::InvalidInput, "an adjustment needs a non-zero delta and a reason")
                .at(&["input"]);
            return Ok(StockChangePayload { availability: None, user_errors: vec![error] });
        }
        change_stock(ctx, &input.warehouse_code, &input.sku, i64::from(input.delta), input.reason.trim()).await
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
        let result = async {
            let code = super::inputs::warehouse_code(&input.warehouse_code, &["input", "warehouseCode"])?;
            let sku = super::inputs::sku(&input.sku, &["input", "sku"])?;
            let quantity = u32::try_from(input.quantity).ok().filter(|&q| q > 0).ok_or_else(|| {
                ApiError::User(
                    UserError::new(
                        ErrorCode::BadQuantity,
                        format!("quantity must be positive, got {}", input.quantity),
                    )
                    .at(&["input", "quantity"]),
                )
            })?;
            let days = input
                .expected_on
                .0
                .signed_duration_since(crate::state::to_date(domain::calendar::Day::from_days_since_epoch(0)))
                .num_days();
            let day = domain::calendar::Day::from_days_since_epoch(i32::try_from(days).unwrap_or(i32::MAX));
            Ok(retrying_arrival(ARRIVAL_DEADLINE, || state.store.record_inbound_receipt(&code, &sku, quantity, day))
                .await?)
        }
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
