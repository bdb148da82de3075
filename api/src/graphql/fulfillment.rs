//! `quoteFulfillment` and `placeOrder`.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, InputObject, Object, SimpleObject};
use domain::order::BackorderConsent;
use domain::policy::PartialShipmentCharge;
use domain::sourcing::{Release, explain};

use super::inputs::{DestinationInput, QuoteInput, SplitPolicy, sourcing_request};
use super::network::Warehouse;
use super::orders::Order;
use super::scalars::{Date, DecimalValue, Money};
use super::{app, internal, loaders};
use crate::error::{ApiError, ErrorCode, UserError};
use crate::fulfillment::{self, DatedPlan, PlaceOrder, Placement, Quote};
use crate::input::MAX_REFERENCE;
use domain::limits::MAX_UNIT_PRICE;

/// A plan for one order: which warehouses ship what, what waits, and what
/// it costs. From `quoteFulfillment`, or fresh in a `STALE_PLAN` answer.
pub(crate) struct FulfillmentPlan {
    quote: Arc<Quote>,
}

impl FulfillmentPlan {
    pub(crate) fn new(quote: Quote) -> Self {
        Self { quote: Arc::new(quote) }
    }

    fn plan(&self) -> &DatedPlan {
        &self.quote.chosen
    }
}

/// One package of a plan.
pub(crate) struct PlannedShipment {
    quote: Arc<Quote>,
    index: usize,
}

#[derive(SimpleObject)]
pub(crate) struct PlannedLine {
    pub sku: String,
    pub quantity: u32,
}

/// Units of a line no warehouse can ship now.
#[derive(SimpleObject)]
pub(crate) struct BackorderedLine {
    pub sku: String,
    pub quantity: u32,
    pub estimated_available_date: Date,
}

#[Object]
impl PlannedShipment {
    async fn warehouse(&self, ctx: &Context<'_>) -> async_graphql::Result<Warehouse> {
        let code = self.quote.chosen.plan.shipments()[self.index].warehouse();
        let state = app(ctx)?;
        let view = state.warehouses.get(&state.store).await.map_err(internal)?;
        if let Some(record) = view.by_code(code.as_str()) {
            return Ok(Warehouse(record.clone()));
        }
        let found = loaders(ctx)?.warehouses_by_code.load_one(code.to_string()).await.map_err(internal)?;
        found.map(Warehouse).ok_or_else(|| super::broken("a plan names a missing warehouse"))
    }

    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn lines(&self) -> Vec<PlannedLine> {
        self.quote.chosen.plan.shipments()[self.index]
            .lines()
            .iter()
            .map(|l| PlannedLine { sku: l.sku().to_string(), quantity: l.quantity().units() })
            .collect()
    }

    /// What this package costs to ship.
    async fn cost(&self) -> Money {
        Money(self.quote.chosen.plan.shipments()[self.index].cost())
    }

    /// Great-circle distance from the warehouse, to the metre.
    async fn distance_km(&self) -> DecimalValue {
        DecimalValue(self.quote.chosen.plan.shipments()[self.index].distance_km())
    }

    async fn estimated_delivery_date(&self) -> Date {
        self.quote.chosen.draft.shipments[self.index].estimated_delivery.into()
    }

    /// Held until the order is complete (`SHIP_COMPLETE` with backorders).
    async fn held(&self) -> bool {
        self.quote.chosen.plan.release() == Release::HeldUntilComplete
    }
}

/// One policy's outcome for the same order, to offer the shopper the choice.
#[derive(SimpleObject)]
pub(crate) struct PolicyOption {
    pub policy: SplitPolicy,
    pub shipment_count: usize,
    pub shipping_cost: Money,
    pub units_now: u64,
    pub units_backordered: u64,
    /// What the deployment charges for this option's packages beyond the first.
    pub partial_shipment_charge: Money,
    /// When the first package arrives under this policy (none if nothing ships now).
    pub first_delivery_date: Option<Date>,
    /// When everything has arrived.
    pub complete_delivery_date: Option<Date>,
}

fn option(policy: SplitPolicy, plan: &DatedPlan, quote: &Quote, charge: PartialShipmentCharge) -> PolicyOption {
    let complete = plan.complete_delivery(quote.today);
    let first = match policy {
        SplitPolicy::ShipComplete if plan.plan.units_backordered() > 0 => complete,
        _ => plan.first_delivery(),
    };
    PolicyOption {
        policy,
        shipment_count: plan.plan.shipment_count(),
        shipping_cost: Money(plan.plan.shipping_cost()),
        units_now: plan.plan.units_now(),
        units_backordered: plan.plan.units_backordered(),
        partial_shipment_charge: Money(charge.for_packages(plan.plan.shipment_count())),
        first_delivery_date: first.map(Date::from),
        complete_delivery_date: complete.map(Date::from),
    }
}

#[Object]
impl FulfillmentPlan {
    async fn policy(&self) -> SplitPolicy {
        self.quote.request.policy().into()
    }

    /// Packages, in warehouse preference order.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn shipments(&self) -> Vec<PlannedShipment> {
        (0..self.plan().plan.shipment_count())
            .map(|index| PlannedShipment { quote: self.quote.clone(), index })
            .collect()
    }

    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn backordered(&self) -> Vec<BackorderedLine> {
        self.plan()
            .draft
            .backorders
            .iter()
            .map(|b| BackorderedLine {
                sku: b.sku.to_string(),
                quantity: b.quantity.units(),
                estimated_available_date: b.estimated_available.into(),
            })
            .collect()
    }

    async fn shipment_count(&self) -> usize {
        self.plan().plan.shipment_count()
    }

    async fn shipping_cost(&self) -> Money {
        Money(self.plan().plan.shipping_cost())
    }

    async fn units_now(&self) -> u64 {
        self.plan().plan.units_now()
    }

    async fn units_backordered(&self) -> u64 {
        self.plan().plan.units_backordered()
    }

    /// The search finished: no plan ships more now, in fewer packages, or
    /// cheaper.
    async fn optimal(&self) -> bool {
        self.plan().plan.optimal()
    }

    /// No plan shipping as many units uses fewer packages than this.
    async fn lower_bound(&self) -> u32 {
        self.plan().plan.lower_bound()
    }

    /// Why these warehouses: what each contributes, what one package fewer
    /// would leave behind, what the runner-up costs. Computed on request.
    #[graphql(complexity = "super::EXPLANATION_WEIGHT + child_complexity")]
    async fn explanation(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let quote = self.quote.clone();
        let why = app(ctx)?
            .planner
            .run(super::deadline(ctx)?, move |budget| {
                explain(&quote.request, &quote.network, &quote.chosen.plan, budget).to_string()
            })
            .await;
        why.map_err(|e| e.log().extend())
    }

    /// Pass to `placeOrder` to commit exactly this plan, if the stock it
    /// read is unchanged.
    async fn plan_token(&self) -> &str {
        &self.quote.token
    }

    async fn first_delivery_date(&self) -> Option<Date> {
        self.plan().first_delivery().map(Date::from)
    }

    async fn complete_delivery_date(&self) -> Option<Date> {
        self.plan().complete_delivery(self.quote.today).map(Date::from)
    }

    /// The same order under each policy, side by side.
    async fn policy_options(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PolicyOption>> {
        let charge = app(ctx)?.settings.policy.partial_shipment_charge;
        Ok(self
            .quote
            .options
            .iter()
            .map(|(policy, plan)| option((*policy).into(), plan, &self.quote, charge))
            .collect())
    }

    /// What the deployment charges for this plan's packages beyond the
    /// first (zero when it absorbs them; see `fulfillmentPolicy`).
    async fn partial_shipment_charge(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        let charge = app(ctx)?.settings.policy.partial_shipment_charge;
        Ok(Money(charge.for_packages(self.plan().plan.shipment_count())))
    }
}

#[derive(Default)]
pub(crate) struct FulfillmentQuery;

#[Object]
impl FulfillmentQuery {
    /// Plans an order without placing it.
    #[graphql(complexity = "super::quote_weight(input.lines.len()) + child_complexity")]
    async fn quote_fulfillment(&self, ctx: &Context<'_>, input: QuoteInput) -> async_graphql::Result<FulfillmentPlan> {
        let state = app(ctx)?;
        let deadline = super::deadline(ctx)?;
        let result = async { fulfillment::quote(state, input.to_request()?, deadline).await }.await;
        result.map(|quote| FulfillmentPlan { quote: Arc::new(quote) }).map_err(|e| e.log().extend())
    }
}

#[derive(Debug, InputObject)]
pub(crate) struct PlaceOrderLineInput {
    pub sku: String,
    pub quantity: i32,
    /// The price the shopper saw; the catalog price when omitted. A
    /// storefront's price must be the catalog's (else `PRICE_CHANGED`, with
    /// the current price); agents and admins may set another.
    pub unit_price: Option<Money>,
}

/// An order to place.
#[derive(Debug, InputObject)]
pub(crate) struct PlaceOrderInput {
    pub lines: Vec<PlaceOrderLineInput>,
    pub destination: DestinationInput,
    #[graphql(default)]
    pub policy: SplitPolicy,
    pub max_shipments: Option<i32>,
    /// The storefront's own reference for the order.
    pub customer_reference: String,
    /// The shopper agreed to wait for backordered units; without it,
    /// backorders await confirmation.
    #[graphql(default = false)]
    pub backorder_consent: bool,
    /// From `quoteFulfillment`: commit exactly that plan or answer `STALE_PLAN`.
    pub plan_token: Option<String>,
    /// Retrying with the same key returns the same order. Keys are the
    /// calling API key's own: another caller's never collide with them.
    pub idempotency_key: String,
    /// Backorder queue priority: higher is served before older, lower
    /// ones (for accounts the 3PL serves first).
    #[graphql(default = 0)]
    pub priority: i32,
}

#[derive(SimpleObject)]
pub(crate) struct PlaceOrderPayload {
    pub order: Option<Order>,
    /// True when the idempotency key had already placed this order.
    pub replayed: bool,
    /// For the shopper: with it, the storefront reads the order and
    /// confirms, cancels or answers for it (`orderToken` arguments). The
    /// same token comes back when the placement is replayed.
    pub order_token: Option<String>,
    /// With `STALE_PLAN`: what the same order gets now.
    pub fresh_plan: Option<FulfillmentPlan>,
    pub user_errors: Vec<UserError>,
}

impl PlaceOrderInput {
    fn parse(self) -> Result<PlaceOrder, ApiError> {
        let lines: Vec<(String, i32)> = self.lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect();
        let request = sourcing_request(&lines, &self.destination, self.policy, self.max_shipments)?;
        let (country_code, postal_code) = super::inputs::address(&self.destination)?;
        let key = crate::input::text(Some(&self.idempotency_key), "", MAX_REFERENCE, &["idempotencyKey"])?;
        crate::input::bounded(&self.customer_reference, MAX_REFERENCE, &["customerReference"])?;
        if let Some(token) = &self.plan_token {
            crate::input::bounded(token, crate::input::MAX_PLAN_TOKEN, &["planToken"])?;
        }
        let priority = crate::input::priority(self.priority, &["priority"])?;
        for (i, line) in self.lines.iter().enumerate() {
            if let Some(price) = line.unit_price {
                crate::input::amount(price.0.amount(), MAX_UNIT_PRICE, &["lines", &i.to_string(), "unitPrice"])?;
            }
        }
        // Prices follow the merged lines: the first price given for a sku.
        let unit_prices = request
            .lines()
            .iter()
            .map(|line| {
                self.lines.iter().find(|l| l.sku == line.sku().as_str()).and_then(|l| l.unit_price).map(|m| m.0)
            })
            .collect();
        Ok(PlaceOrder {
            request,
            customer_reference: self.customer_reference,
            unit_prices,
            consent: if self.backorder_consent { BackorderConsent::Given } else { BackorderConsent::NotGiven },
            plan_token: self.plan_token,
            idempotency_key: key,
            country_code,
            postal_code,
            priority,
        })
    }
}

#[derive(Default)]
pub(crate) struct FulfillmentMutation;

#[Object]
impl FulfillmentMutation {
    /// Places an order: reserves what ships now and backorders the rest,
    /// never more than the network holds.
    async fn place_order(&self, ctx: &Context<'_>, input: PlaceOrderInput) -> async_graphql::Result<PlaceOrderPayload> {
        let state = app(ctx)?;
        let deadline = super::deadline(ctx)?;
        let caller = super::caller(ctx)?;
        let result = async { fulfillment::place_order(state, caller, input.parse()?, deadline).await }.await;
        match result {
            Ok(Placement::Placed { order_id, replayed, token }) => {
                let order = state.store.orders_by_id(&[order_id]).await.map_err(internal)?.pop().map(Order);
                let order_token = Some(token);
                Ok(PlaceOrderPayload { order, replayed, order_token, fresh_plan: None, user_errors: Vec::new() })
            }
            Ok(Placement::Stale { reason, fresh }) => Ok(PlaceOrderPayload {
                order: None,
                replayed: false,
                order_token: None,
                fresh_plan: Some(FulfillmentPlan { quote: Arc::from(fresh) }),
                user_errors: vec![UserError::new(ErrorCode::StalePlan, reason)],
            }),
            Err(ApiError::User(e)) => Ok(PlaceOrderPayload {
                order: None,
                replayed: false,
                order_token: None,
                fresh_plan: None,
                user_errors: vec![e],
            }),
            Err(e) => Err(e.log().extend()),
        }
    }
}
