//! Changing an order after placement (cancelling lines, substitutions,
//! short picks) and the deployment's fulfillment policy.

use crate::operations;
use async_graphql::{Context, Enum, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use domain::policy::PartialShipmentCharge;
use domain::sourcing::{SourcingRequest, SplitPolicy};
use domain::{OrderLine as DomainLine, Quantity};
use infra::store::{SubstitutionMode, SubstitutionRecord};

use super::app;
use super::catalog::Product;
use super::fulfillment::FulfillmentPlan;
use super::inputs::DestinationInput;
use super::orders::{Order, Substitution, order_after, with_order};
use super::scalars::{DecimalValue, Money};
use crate::error::{ApiError, ErrorCode, UserError};

/// How a deployment charges for packages beyond the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum PartialShipmentChargeMode {
    /// The merchant pays for extra packages.
    Absorb,
    /// Each package after the first costs `chargePerExtraPackage`.
    PerExtraPackage,
}

#[derive(SimpleObject)]
pub(crate) struct DelayCompensationPolicy {
    /// A backorder's estimate must slip more than this many days past its
    /// first promise.
    pub threshold_days: u32,
    /// Percent of the delayed units' merchandise value, credited once.
    pub percent: DecimalValue,
}

/// The partial-shipment and backorder playbook this deployment runs.
#[derive(SimpleObject)]
pub(crate) struct FulfillmentPolicyView {
    pub partial_shipment_charge: PartialShipmentChargeMode,
    /// Zero when extra packages are absorbed.
    pub charge_per_extra_package: Money,
    /// Seconds a backorder may wait before BACKORDER_OVERDUE; none: no limit.
    pub max_backorder_seconds: Option<i64>,
    /// Overdue backorders are cancelled, not only flagged.
    pub cancel_overdue: bool,
    /// Seconds a backorder may await confirmation before it expires; none:
    /// it waits until answered.
    pub confirmation_window_seconds: Option<i64>,
    /// Automatic credit for delays; none: credits are granted by hand only.
    pub delay_compensation: Option<DelayCompensationPolicy>,
}

/// A substitute for a product, with how it would ship.
pub(crate) struct SubstituteOption {
    rank: u32,
    product: Product,
    total_available: u64,
    plan: FulfillmentPlan,
}

#[Object]
impl SubstituteOption {
    /// 1 is the best substitute.
    async fn rank(&self) -> u32 {
        self.rank
    }

    async fn product(&self) -> &Product {
        &self.product
    }

    async fn total_available(&self) -> u64 {
        self.total_available
    }

    /// The plan the asked quantity of the substitute would get now.
    async fn plan(&self) -> &FulfillmentPlan {
        &self.plan
    }
}

#[derive(Default)]
pub(crate) struct AmendQuery;

#[Object]
impl AmendQuery {
    async fn fulfillment_policy(&self, ctx: &Context<'_>) -> async_graphql::Result<FulfillmentPolicyView> {
        let policy = app(ctx)?.settings.policy;
        let (mode, each) = match policy.partial_shipment_charge {
            PartialShipmentCharge::Absorb => (PartialShipmentChargeMode::Absorb, domain::Money::ZERO),
            PartialShipmentCharge::PerExtraPackage(each) => (PartialShipmentChargeMode::PerExtraPackage, each),
        };
        Ok(FulfillmentPolicyView {
            partial_shipment_charge: mode,
            charge_per_extra_package: Money(each),
            max_backorder_seconds: policy.max_backorder_ms.map(|ms| ms / 1000),
            cancel_overdue: policy.cancel_overdue,
            confirmation_window_seconds: policy.unconfirmed_expiry_ms.map(|ms| ms / 1000),
            delay_compensation: policy.delay_compensation.map(|c| DelayCompensationPolicy {
                threshold_days: c.threshold_days,
                percent: DecimalValue(c.percent),
            }),
        })
    }

    /// A product's substitutes in rank order, each with its availability
    /// and the plan `quantity` units of it would get to `destination` now.
    #[graphql(complexity = "super::quote_weight(1) + super::LIST_WEIGHT * child_complexity")]
    async fn substitutes(
        &self,
        ctx: &Context<'_>,
        sku: String,
        destination: DestinationInput,
        #[graphql(default = 1)] quantity: i32,
    ) -> async_graphql::Result<Vec<SubstituteOption>> {
        let state = app(ctx)?;
        let deadline = super::deadline(ctx)?;
        let result = async {
            let sku = super::inputs::sku(&sku, &["sku"])?;
            let to = super::inputs::destination(&destination)?;
            let quantity = Quantity::new(i64::from(quantity))
                .map_err(|e| ApiError::User(UserError::new(ErrorCode::BadQuantity, e.to_string()).at(&["quantity"])))?;
            let product = state
                .store
                .products_by_sku(&[sku.as_str()])
                .await?
                .pop()
                .ok_or_else(|| ApiError::user(ErrorCode::UnknownSku, format!("unknown sku {sku}")))?;
            let names: Vec<&str> = product.substitutes.iter().map(|s| s.as_str()).collect();
            let mut options = Vec::new();
            for (rank, substitute) in state.store.products_by_sku(&names).await?.into_iter().enumerate() {
                let request = SourcingRequest::new(
                    vec![DomainLine::new(substitute.sku.clone(), quantity)],
                    to,
                    SplitPolicy::ShipAvailable,
                    None,
                )
                .map_err(|e| ApiError::user(ErrorCode::BadQuantity, e.to_string()))?;
                let quote = crate::fulfillment::quote(state, request, deadline).await?;
                options.push(SubstituteOption {
                    rank: u32::try_from(rank + 1).unwrap_or(u32::MAX),
                    total_available: quote.network.total_available(&substitute.sku),
                    product: Product(substitute),
                    plan: FulfillmentPlan::new(quote),
                });
            }
            Ok(options)
        }
        .await;
        result.map_err(|e: ApiError| e.log().extend())
    }
}

#[derive(Debug, InputObject)]
pub(crate) struct CancelOrderLineInput {
    pub line_id: ID,
    /// Units to cancel; all that has not shipped when omitted.
    pub quantity: Option<i32>,
    pub reason: Option<String>,
    /// A storefront passes the order's token (and may cancel only while
    /// nothing of the order has shipped).
    pub order_token: Option<String>,
}

#[derive(Debug, InputObject)]
pub(crate) struct SubstituteLineInput {
    pub line_id: ID,
    pub substitute_sku: String,
    /// Waiting units to substitute; all of them when omitted.
    pub quantity: Option<i32>,
    pub note: Option<String>,
}

#[derive(Debug, InputObject)]
pub(crate) struct ReportShortPickInput {
    pub shipment_id: ID,
    pub sku: String,
    /// Units missing or damaged.
    pub quantity: i32,
    pub reason: String,
}

#[derive(SimpleObject)]
pub(crate) struct OrderPayload {
    pub order: Option<Order>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub(crate) struct SubstitutionPayload {
    pub substitution: Option<Substitution>,
    pub order: Option<Order>,
    pub user_errors: Vec<UserError>,
}

/// Where re-sourced units come from.
#[derive(SimpleObject)]
pub(crate) struct ResourcedUnits {
    pub warehouse_code: String,
    pub quantity: u32,
}

#[derive(SimpleObject)]
pub(crate) struct ShortPickPayload {
    /// Units moved to other warehouses (joining the order's packages where
    /// possible).
    pub resourced: Vec<ResourcedUnits>,
    /// Units that now wait as a confirmed backorder.
    pub backordered: u32,
    pub order: Option<Order>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub(crate) struct AmendMutation;

impl AmendMutation {
    async fn substitution_payload(
        ctx: &Context<'_>,
        result: Result<SubstitutionRecord, ApiError>,
    ) -> async_graphql::Result<SubstitutionPayload> {
        let state = app(ctx)?;
        let (record, order, user_errors) = with_order(state, result, |r| r.order_id).await?;
        Ok(SubstitutionPayload { substitution: record.map(Substitution), order, user_errors })
    }

    async fn substitute(
        ctx: &Context<'_>,
        input: SubstituteLineInput,
        apply_now: bool,
    ) -> async_graphql::Result<SubstitutionPayload> {
        let state = app(ctx)?;
        let mode = if apply_now { SubstitutionMode::Apply } else { SubstitutionMode::Propose };
        let result = operations::substitute(
            state,
            operations::Substitute {
                line_id: &input.line_id,
                substitute_sku: &input.substitute_sku,
                quantity: input.quantity,
                note: input.note.as_deref(),
                mode,
            },
        )
        .await;
        Self::substitution_payload(ctx, result).await
    }
}

#[Object]
impl AmendMutation {
    /// Cancels units of a line that have not shipped (all of them when no
    /// quantity is given): waiting backorders first, then packages that have
    /// not left. Freed units go to the backorder queue first.
    async fn cancel_order_line(
        &self,
        ctx: &Context<'_>,
        input: CancelOrderLineInput,
    ) -> async_graphql::Result<OrderPayload> {
        let state = app(ctx)?;
        let line = operations::CancelLine {
            line_id: &input.line_id,
            quantity: input.quantity,
            reason: input.reason.as_deref(),
            order_token: input.order_token.as_deref(),
        };
        let result = operations::cancel_order_line(state, super::caller(ctx)?, line).await;
        let (order, user_errors) = order_after(state, result).await?;
        Ok(OrderPayload { order, user_errors })
    }

    /// An agent substitutes a line's waiting units at once (the customer
    /// agreed by phone). The substitute is sourced like any backorder,
    /// joining an open package when that saves one.
    async fn substitute_line(
        &self,
        ctx: &Context<'_>,
        input: SubstituteLineInput,
    ) -> async_graphql::Result<SubstitutionPayload> {
        Self::substitute(ctx, input, true).await
    }

    /// An agent offers a substitute; nothing changes until the shopper
    /// accepts with `respondToSubstitution`.
    async fn propose_substitution(
        &self,
        ctx: &Context<'_>,
        input: SubstituteLineInput,
    ) -> async_graphql::Result<SubstitutionPayload> {
        Self::substitute(ctx, input, false).await
    }

    /// The shopper accepts or declines a proposal (once). A storefront
    /// passes the order's token.
    async fn respond_to_substitution(
        &self,
        ctx: &Context<'_>,
        id: ID,
        accept: bool,
        order_token: Option<String>,
    ) -> async_graphql::Result<SubstitutionPayload> {
        let caller = super::caller(ctx)?;
        let result = operations::respond_to_substitution(app(ctx)?, caller, &id, accept, order_token.as_deref()).await;
        Self::substitution_payload(ctx, result).await
    }

    /// A partner found units missing or damaged while picking a package:
    /// they leave the warehouse's stock and ship from elsewhere (fewest
    /// extra packages) or wait as a backorder.
    async fn report_short_pick(
        &self,
        ctx: &Context<'_>,
        input: ReportShortPickInput,
    ) -> async_graphql::Result<ShortPickPayload> {
        let state = app(ctx)?;
        let result = operations::report_short_pick(
            state,
            super::caller(ctx)?,
            &input.shipment_id,
            &input.sku,
            input.quantity,
            &input.reason,
        )
        .await;
        let (outcome, order, user_errors) = with_order(state, result, |o| o.order_id).await?;
        let Some(outcome) = outcome else {
            return Ok(ShortPickPayload { resourced: Vec::new(), backordered: 0, order: None, user_errors });
        };
        Ok(ShortPickPayload {
            resourced: outcome
                .resourced
                .into_iter()
                .map(|(warehouse_code, quantity)| ResourcedUnits { warehouse_code, quantity })
                .collect(),
            backordered: outcome.backordered,
            order,
            user_errors,
        })
    }
}
