//! Fulfillment use cases: quote an order and place it.
//!
//! Plain functions: load through `infra`, decide through `domain`, save
//! through `infra`. The GraphQL layer only converts inputs and outputs.

use std::time::Duration;

use domain::access::Caller;
use domain::calendar::Day;
use domain::limits::MAX_ORDER_VALUE;
use domain::order::{BackorderConsent, LeadTimes, OrderDraft, draft_order};
use domain::sourcing::{FulfillmentPlan, SearchBudget, SourcingRequest, SplitPolicy, plan_fulfillment};
use domain::{Money, Network, Sku, WarehouseCode};
use infra::digest::fingerprint;
use infra::store::{NewOrder, PlacedOrder, SourcingSnapshot, StoreError};
use rust_decimal::Decimal;

use crate::error::{ApiError, ErrorCode, UserError};
use crate::planning::Deadline;
use crate::state::AppState;

/// Lead times read from a snapshot.
struct SnapshotLeadTimes<'a>(&'a SourcingSnapshot);

impl LeadTimes for SnapshotLeadTimes<'_> {
    fn handling_days(&self, warehouse: &WarehouseCode) -> u32 {
        self.0.warehouse(warehouse).map_or(1, |w| w.handling_days)
    }

    fn restock_days(&self, sku: &Sku) -> u32 {
        self.0.product(sku).map_or(0, |p| p.lead_time_days)
    }
}

/// A plan with the dates it promises.
#[derive(Debug, Clone)]
pub struct DatedPlan {
    pub plan: FulfillmentPlan,
    pub draft: OrderDraft,
}

impl DatedPlan {
    fn new(plan: FulfillmentPlan, snapshot: &SourcingSnapshot, today: Day) -> Self {
        let draft = draft_order(&plan, BackorderConsent::NotGiven, today, &SnapshotLeadTimes(snapshot));
        Self { plan, draft }
    }

    /// When the first package arrives (none if nothing ships now).
    pub fn first_delivery(&self) -> Option<Day> {
        self.draft.shipments.iter().map(|s| s.estimated_delivery).min()
    }

    /// When everything has arrived: the last package, or a backorder's
    /// availability plus the slowest package's days on the road.
    pub fn complete_delivery(&self, today: Day) -> Option<Day> {
        let road = self
            .draft
            .shipments
            .iter()
            .map(|s| s.estimated_delivery.days_since_epoch() - today.days_since_epoch())
            .max()
            .unwrap_or(DEFAULT_DELIVERY_DAYS);
        let backorders =
            self.draft.backorders.iter().map(|b| b.estimated_available.plus_days(u32::try_from(road).unwrap_or(0)));
        self.draft.shipments.iter().map(|s| s.estimated_delivery).chain(backorders).max()
    }
}

/// Days from a warehouse to the door when nothing in the plan says better.
const DEFAULT_DELIVERY_DAYS: i32 = 3;

/// What `quoteFulfillment` answers.
#[derive(Debug, Clone)]
pub struct Quote {
    pub request: SourcingRequest,
    /// The network the plans were made against (for explanations).
    pub network: Network,
    pub chosen: DatedPlan,
    /// The request under each policy, for the shopper to choose.
    pub options: Vec<(SplitPolicy, DatedPlan)>,
    pub token: String,
    pub today: Day,
}

fn request_fingerprint(request: &SourcingRequest) -> String {
    let mut parts: Vec<String> =
        request.lines().iter().map(|l| format!("{}:{}", l.sku(), l.quantity().units())).collect();
    parts.push(format!("{}:{}", request.destination().latitude(), request.destination().longitude()));
    parts.push(format!("{:?}", request.policy()));
    parts.push(format!("{:?}", request.max_shipments().map(|k| k.get())));
    fingerprint(&parts)
}

fn snapshot_fingerprint(snapshot: &SourcingSnapshot) -> String {
    let parts: Vec<String> = snapshot.fingerprint().iter().map(i64::to_string).collect();
    fingerprint(&parts)
}

/// `v1.<expires ms>.<request hash>.<snapshot hash>`: everything needed to
/// tell, later, whether the same request would still get the same plan. The
/// engine is deterministic, so unchanged stock means an unchanged plan.
fn plan_token(request: &SourcingRequest, snapshot: &SourcingSnapshot, expires_ms: i64) -> String {
    format!("v1.{expires_ms}.{}.{}", &request_fingerprint(request)[..32], &snapshot_fingerprint(snapshot)[..32])
}

enum TokenCheck {
    Fresh,
    Stale(&'static str),
}

fn check_token(
    token: &str,
    request: &SourcingRequest,
    snapshot: &SourcingSnapshot,
    now_ms: i64,
) -> Result<TokenCheck, ApiError> {
    let invalid = || ApiError::user(ErrorCode::InvalidPlanToken, "the plan token is malformed");
    let mut parts = token.split('.');
    let (Some("v1"), Some(expires), Some(req), Some(snap), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let expires: i64 = expires.parse().map_err(|_| invalid())?;
    if req != &request_fingerprint(request)[..32] {
        return Err(ApiError::user(ErrorCode::InvalidPlanToken, "the plan token was issued for a different request"));
    }
    if now_ms > expires {
        return Ok(TokenCheck::Stale("the plan token has expired"));
    }
    if snap != &snapshot_fingerprint(snapshot)[..32] {
        return Ok(TokenCheck::Stale("the stock this plan relied on has changed"));
    }
    Ok(TokenCheck::Fresh)
}

fn skus_of(request: &SourcingRequest) -> Vec<Sku> {
    request.lines().iter().map(|l| l.sku().clone()).collect()
}

/// Plans `request` under both policies and issues a plan token.
/// The searches run on the planning pool and end by `deadline`.
#[tracing::instrument(name = "quoteFulfillment", skip_all, fields(graphql.field = "Query.quoteFulfillment"))]
pub async fn quote(state: &AppState, request: SourcingRequest, deadline: Deadline) -> Result<Quote, ApiError> {
    // Quotes read through the cache; only placing re-reads the database.
    let stock = state.cache.stock_of(&state.store, &skus_of(&request)).await?;
    let warehouses = state.warehouses.get(&state.store).await?;
    let snapshot = infra::store::snapshot_from(&state.store, stock, Some(&warehouses)).await?;
    let state = state.clone();
    state.planner.clone().run(deadline, move |budget| quote_from(&state, request, &snapshot, budget)).await
}

/// Plans `request`, counted in the metrics.
fn planned(state: &AppState, request: &SourcingRequest, network: &Network, budget: SearchBudget) -> FulfillmentPlan {
    let span = tracing::info_span!(
        "sourcing",
        lines = request.lines().len(),
        warehouses = network.warehouses().len(),
        nodes = tracing::field::Empty,
        shipments = tracing::field::Empty,
        optimal = tracing::field::Empty,
    );
    let _entered = span.enter();
    let started = std::time::Instant::now();
    let plan = plan_fulfillment(request, network, budget);
    state.metrics.plan(started.elapsed().as_secs_f64(), plan.optimal(), plan.shipment_count());
    span.record("nodes", plan.search_nodes());
    span.record("shipments", plan.shipment_count());
    span.record("optimal", plan.optimal());
    plan
}

fn quote_from(state: &AppState, request: SourcingRequest, snapshot: &SourcingSnapshot, budget: SearchBudget) -> Quote {
    let today = state.today();
    let chosen = DatedPlan::new(planned(state, &request, &snapshot.network, budget.clone()), snapshot, today);
    let options = [SplitPolicy::ShipAvailable, SplitPolicy::ShipComplete]
        .into_iter()
        .map(|policy| {
            let variant = request.with_policy(policy, request.max_shipments());
            let plan = if policy == request.policy() {
                chosen.clone()
            } else {
                DatedPlan::new(planned(state, &variant, &snapshot.network, budget.clone()), snapshot, today)
            };
            (policy, plan)
        })
        .collect();
    let expires = state.now_ms() + duration_ms(state.settings.plan_token_ttl);
    let token = plan_token(&request, snapshot, expires);
    Quote { request, network: snapshot.network.clone(), chosen, options, token, today }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What the storefront sends to place an order, already validated.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub request: SourcingRequest,
    pub customer_reference: String,
    /// Per request line; `None` takes the catalog price.
    pub unit_prices: Vec<Option<Money>>,
    pub consent: BackorderConsent,
    pub plan_token: Option<String>,
    pub idempotency_key: String,
    pub country_code: Option<String>,
    pub postal_code: Option<String>,
    /// Backorder queue priority; higher is served first.
    pub priority: i32,
}

/// How placing went.
#[derive(Debug, Clone)]
pub enum Placement {
    Placed {
        order_id: i64,
        replayed: bool,
        /// What the shopper reads and changes the order with.
        token: String,
    },
    /// The plan token's stock changed: nothing was placed; here is what the
    /// same request gets now.
    Stale { reason: &'static str, fresh: Box<Quote> },
}

fn placement_fingerprint(input: &PlaceOrder) -> String {
    let mut parts = vec![request_fingerprint(&input.request), input.customer_reference.clone()];
    parts.extend(input.unit_prices.iter().map(|p| p.map_or_else(String::new, |m| m.amount().normalize().to_string())));
    parts.push(format!("{:?}", input.consent));
    parts.push(input.country_code.clone().unwrap_or_default());
    parts.push(input.postal_code.clone().unwrap_or_default());
    parts.push(input.priority.to_string());
    fingerprint(&parts)
}

/// What placing `input` on `snapshot` with `plan` would commit, or why it
/// is refused.
fn decide(
    state: &AppState,
    caller: &Caller,
    input: &PlaceOrder,
    request_hash: &str,
    snapshot: &SourcingSnapshot,
    plan: FulfillmentPlan,
) -> Result<NewOrder, ApiError> {
    let not_backorderable: Vec<String> = plan
        .backordered()
        .filter(|(sku, _)| snapshot.product(sku).is_some_and(|p| !p.backorderable))
        .map(|(sku, units)| format!("{sku} (short {units})"))
        .collect();
    if !not_backorderable.is_empty() {
        return Err(ApiError::user(
            ErrorCode::NotBackorderable,
            format!("not enough stock of products that cannot be backordered: {}", not_backorderable.join(", ")),
        ));
    }
    let mut unit_prices = Vec::with_capacity(input.unit_prices.len());
    for (i, (line, given)) in input.request.lines().iter().zip(&input.unit_prices).enumerate() {
        let catalog = snapshot.product(line.sku()).map(|p| p.unit_price).unwrap_or_default();
        match given {
            // A storefront's price is the one it showed the shopper: when
            // the catalog moved since, the shopper sees the new one first.
            Some(price) if *price != catalog && !caller.sets_prices() => {
                return Err(ApiError::User(
                    UserError::new(
                        ErrorCode::PriceChanged,
                        format!("{} costs {} now, not {}: quote again", line.sku(), catalog.amount(), price.amount()),
                    )
                    .at(&["lines", &i.to_string(), "unitPrice"]),
                ));
            }
            Some(price) => unit_prices.push(*price),
            None => unit_prices.push(catalog),
        }
    }
    // Prices and quantities are in range, so this sum cannot overflow; the
    // cap keeps every credit and total of the order inside what is stored.
    let value: Decimal = input
        .request
        .lines()
        .iter()
        .zip(&unit_prices)
        .map(|(l, p)| p.amount() * Decimal::from(l.quantity().units()))
        .sum();
    if value > MAX_ORDER_VALUE {
        return Err(ApiError::User(
            UserError::new(
                ErrorCode::BadQuantity,
                format!("the order's merchandise would be worth {value}, above the most one order may be ({MAX_ORDER_VALUE})"),
            )
            .at(&["lines"]),
        ));
    }
    let draft = draft_order(&plan, input.consent, state.today(), &SnapshotLeadTimes(snapshot));
    Ok(NewOrder {
        customer_reference: input.customer_reference.clone(),
        idempotency: Some((scoped_key(caller, &input.idempotency_key), request_hash.to_owned())),
        owner_key: Some(caller.key_id),
        request: input.request.clone(),
        consent: input.consent,
        unit_prices,
        country_code: input.country_code.clone(),
        postal_code: input.postal_code.clone(),
        priority: input.priority,
        partial_shipment_charge: state.settings.policy.partial_shipment_charge.for_packages(plan.shipment_count()),
        draft,
    })
}

/// An idempotency key as stored: the caller's key id first, so that keys
/// of different callers never meet.
fn scoped_key(caller: &Caller, key: &str) -> String {
    format!("{}:{key}", caller.key_id)
}

/// Places an order: plan, then reserve in one transaction. A plan made
/// before the transaction can find its stock moved; then the order is
/// decided again on stock read under its products' locks, where it cannot
/// lose (or, when the caller pinned a plan with a token, the answer is
/// `Stale` with a fresh plan).
#[tracing::instrument(name = "placeOrder", skip_all, fields(graphql.field = "Mutation.placeOrder", idempotency_key = %input.idempotency_key))]
pub async fn place_order(
    state: &AppState,
    caller: &Caller,
    input: PlaceOrder,
    deadline: Deadline,
) -> Result<Placement, ApiError> {
    let key = input.idempotency_key.clone();
    place_scoped(state, caller, input, deadline).await.map_err(|e| match e {
        // The caller knows its key without the scope it is stored under.
        ApiError::User(u) if u.code == ErrorCode::IdempotencyConflict => {
            ApiError::User(UserError { message: StoreError::IdempotencyConflict(key).to_string(), ..u })
        }
        other => other,
    })
}

async fn place_scoped(
    state: &AppState,
    caller: &Caller,
    input: PlaceOrder,
    deadline: Deadline,
) -> Result<Placement, ApiError> {
    let request_hash = placement_fingerprint(&input);
    let secrets = state.secrets().await?;
    if let Some(order_id) =
        state.store.order_for_key(&scoped_key(caller, &input.idempotency_key), &request_hash).await?
    {
        return Ok(Placement::Placed { order_id, replayed: true, token: secrets.order_token(order_id) });
    }
    let skus = skus_of(&input.request);
    let snapshot = state.store.sourcing_snapshot(&skus).await?;
    if let Some(token) = &input.plan_token
        && let TokenCheck::Stale(reason) = check_token(token, &input.request, &snapshot, state.now_ms())?
    {
        let fresh = quote_from(state, input.request.clone(), &snapshot, state.planner.budget(deadline));
        return Ok(Placement::Stale { reason, fresh: Box::new(fresh) });
    }
    let (request, network, pool) = (input.request.clone(), snapshot.network.clone(), state.clone());
    let plan = state.planner.run(deadline, move |budget| planned(&pool, &request, &network, budget)).await?;
    let new = decide(state, caller, &input, &request_hash, &snapshot, plan)?;
    let mut placed = state.store.place_order(&new, &snapshot).await;
    for attempt in 1..state.settings.placement_attempts {
        if !matches!(placed, Err(StoreError::StockMoved)) {
            break;
        }
        if input.plan_token.is_some() {
            let snapshot = state.store.sourcing_snapshot(&skus).await?;
            let fresh = quote_from(state, input.request.clone(), &snapshot, state.planner.budget(deadline));
            return Ok(Placement::Stale {
                reason: "the stock this plan relied on has changed",
                fresh: Box::new(fresh),
            });
        }
        // Under the locks only a busy database can still get in the way.
        tracing::debug!(attempt, "stock moved during reservation; deciding again under the products' locks");
        placed = match state
            .store
            // Decided inline: the products' locks are held, and this is
            // the rare order whose stock moved twice; the deadline still
            // bounds its search.
            .place_order_locked(&snapshot, |fresh| {
                let plan = planned(state, &input.request, &fresh.network, state.planner.budget(deadline));
                decide(state, caller, &input, &request_hash, fresh, plan)
            })
            .await
        {
            Ok(Ok(placed)) => Ok(placed),
            Ok(Err(refused)) => return Err(refused),
            Err(StoreError::StockMoved) => {
                tokio::time::sleep(crate::contention::backoff(attempt)).await;
                Err(StoreError::StockMoved)
            }
            Err(e) => Err(e),
        };
    }
    match placed {
        Ok(PlacedOrder::Created(order_id)) => {
            state.cache.invalidate(&skus).await;
            tracing::info!(order_id, "order placed");
            Ok(Placement::Placed { order_id, replayed: false, token: secrets.order_token(order_id) })
        }
        Ok(PlacedOrder::Replayed(order_id)) => {
            Ok(Placement::Placed { order_id, replayed: true, token: secrets.order_token(order_id) })
        }
        Err(StoreError::StockMoved) => {
            Err(ApiError::user(ErrorCode::Contention, "stock kept moving while the order was being placed; retry"))
        }
        Err(e) => Err(e.into()),
    }
}
