//! Sourcing: decides which warehouses ship which order lines.
//!
//! Pure and synchronous. Callers load the network's available stock, we
//! decide, callers persist. The objective (SOURCING.md, "The problem"), lexicographic:
//! 1. ship every unit the network has (under `maxShipments: k`, the most units
//!    any k warehouses hold); the rest is backordered,
//! 2. with the fewest shipments (distinct warehouses),
//! 3. at the lowest total shipping cost,
//! 4. ties to the set holding the most preferred warehouse (priority, code).
//!
//! Partial fulfilment is a result, not an error: a plan always comes back,
//! with what ships now and what waits. The search is exact; a node budget
//! bounds pathological instances, in which case the plan says it is not
//! proven optimal and carries a true lower bound on the shipment count.

mod baseline;
mod explain;
mod search;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use rust_decimal::Decimal;
use thiserror::Error;

use crate::catalog::{OrderLine, Quantity, Sku};
use crate::geo::GeoPoint;
use crate::money::{Money, distance_meters};
use crate::network::{Network, WarehouseCode, WarehouseIndex};

pub use baseline::{Baseline, plan_baseline};
pub use explain::{Alternative, Explanation, WarehouseRole, explain};

/// Whether what is in stock ships now or waits for the rest of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SplitPolicy {
    /// Ship what is available now; backordered units follow later.
    #[default]
    ShipAvailable,
    /// Reserve what is available now but release nothing until every line is
    /// allocated: one complete delivery.
    ShipComplete,
}

/// A cap on the number of shipments an order may be split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MaxShipments(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid maxShipments {0}: must be at least 1")]
pub struct InvalidMaxShipments(pub i64);

impl MaxShipments {
    pub fn new(value: i64) -> Result<Self, InvalidMaxShipments> {
        match u32::try_from(value) {
            Ok(k) if k >= 1 => Ok(Self(k)),
            _ => Err(InvalidMaxShipments(value)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidRequest {
    #[error("sku {0} is ordered in more than 1000000 units in total")]
    QuantityOverflow(Sku),
}

/// What to source: lines (one per sku), where to, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcingRequest {
    // Invariant: one line per sku, in order of first appearance.
    lines: Vec<OrderLine>,
    destination: GeoPoint,
    policy: SplitPolicy,
    max_shipments: Option<MaxShipments>,
}

impl SourcingRequest {
    /// Lines naming the same sku are merged into one, in the position of the
    /// first: a warehouse ships a sku once per package whatever the lines say.
    pub fn new(
        lines: Vec<OrderLine>,
        destination: GeoPoint,
        policy: SplitPolicy,
        max_shipments: Option<MaxShipments>,
    ) -> Result<Self, InvalidRequest> {
        let mut merged: Vec<OrderLine> = Vec::with_capacity(lines.len());
        let mut position: HashMap<Sku, usize> = HashMap::with_capacity(lines.len());
        for line in lines {
            match position.get(line.sku()) {
                Some(&at) => {
                    let quantity = merged[at]
                        .quantity()
                        .units()
                        .checked_add(line.quantity().units())
                        .and_then(|sum| Quantity::new(i64::from(sum)).ok())
                        .ok_or_else(|| InvalidRequest::QuantityOverflow(line.sku().clone()))?;
                    merged[at] = OrderLine::new(line.sku().clone(), quantity);
                }
                None => {
                    position.insert(line.sku().clone(), merged.len());
                    merged.push(line);
                }
            }
        }
        Ok(Self { lines: merged, destination, policy, max_shipments })
    }

    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }

    pub fn destination(&self) -> GeoPoint {
        self.destination
    }

    pub fn policy(&self) -> SplitPolicy {
        self.policy
    }

    pub fn max_shipments(&self) -> Option<MaxShipments> {
        self.max_shipments
    }

    /// The same request under another policy or cap, e.g. to quote both
    /// policies side by side or to replay orders under a different rule.
    pub fn with_policy(&self, policy: SplitPolicy, max_shipments: Option<MaxShipments>) -> Self {
        Self { policy, max_shipments, ..self.clone() }
    }
}

/// How much search the engine may spend on one plan before it settles for
/// its best plan so far, marked not proven optimal.
#[derive(Debug, Clone)]
pub struct SearchBudget {
    nodes: u64,
    stop: Option<Stop>,
}

/// Asked every few hundred nodes whether the search must stop now: the
/// caller's deadline (the engine never reads the clock itself). A search
/// stopped this way returns its best plan so far, unproven, like one that
/// ran out of nodes.
#[derive(Clone)]
pub struct Stop(std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl Stop {
    pub fn when(check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(check))
    }

    pub(crate) fn now(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stop(..)")
    }
}

impl SearchBudget {
    pub fn nodes(nodes: u64) -> Self {
        Self { nodes, stop: None }
    }

    /// The same budget, cut short whenever `stop` says so.
    pub fn with_stop(self, stop: Stop) -> Self {
        Self { stop: Some(stop), ..self }
    }

    pub fn node_limit(&self) -> u64 {
        self.nodes
    }
}

impl Default for SearchBudget {
    /// Realistic orders of 20 lines over 200 warehouses prove optimal in a few
    /// thousand nodes (BENCHMARKS.md); this leaves two orders of magnitude of
    /// headroom. An adversarial order (100 lines over 80 warehouses that
    /// each hold a few of its skus) spends all of it in about a second,
    /// which is why the gateway also gives each request a time budget.
    fn default() -> Self {
        Self::nodes(200_000)
    }
}

/// When a plan's shipments may leave the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Release {
    /// Pick and ship now.
    Now,
    /// Reserved, but held until the order's backorders are allocated
    /// (`SHIP_COMPLETE` with something backordered).
    HeldUntilComplete,
}

/// Units of one sku in a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentLine {
    sku: Sku,
    quantity: Quantity,
}

impl ShipmentLine {
    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
}

/// One package: what one warehouse sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedShipment {
    warehouse: WarehouseCode,
    index: WarehouseIndex,
    // Invariant: non-empty, in the order's line order.
    lines: Vec<ShipmentLine>,
    cost: Money,
    distance_m: u64,
}

impl PlannedShipment {
    pub fn warehouse(&self) -> &WarehouseCode {
        &self.warehouse
    }

    /// Position of the warehouse in the network it was planned against.
    pub fn warehouse_index(&self) -> WarehouseIndex {
        self.index
    }

    pub fn lines(&self) -> &[ShipmentLine] {
        &self.lines
    }

    pub fn cost(&self) -> Money {
        self.cost
    }

    /// Great-circle distance to the destination, to the metre.
    pub fn distance_km(&self) -> Decimal {
        Decimal::new(i64::try_from(self.distance_m).unwrap_or(i64::MAX), 3)
    }

    pub fn distance_m(&self) -> u64 {
        self.distance_m
    }

    pub fn units(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.quantity.units())).sum()
    }
}

/// What happens to one (merged) order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineOutcome {
    sku: Sku,
    ordered: Quantity,
    now: u32,
    backordered: u32,
}

impl LineOutcome {
    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    pub fn ordered(&self) -> Quantity {
        self.ordered
    }

    /// Units allocated from stock now.
    pub fn now(&self) -> u32 {
        self.now
    }

    pub fn backordered(&self) -> u32 {
        self.backordered
    }
}

/// The engine's answer for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentPlan {
    // Invariant: in network (preference) order, one per warehouse.
    shipments: Vec<PlannedShipment>,
    // Invariant: one per request line, in request order; now + backordered = ordered.
    lines: Vec<LineOutcome>,
    shipping_cost: Money,
    optimal: bool,
    lower_bound: u32,
    release: Release,
    search_nodes: u64,
}

impl FulfillmentPlan {
    pub fn shipments(&self) -> &[PlannedShipment] {
        &self.shipments
    }

    pub fn lines(&self) -> &[LineOutcome] {
        &self.lines
    }

    /// Lines with backordered units, as (sku, units).
    pub fn backordered(&self) -> impl Iterator<Item = (&Sku, u32)> {
        self.lines.iter().filter(|l| l.backordered > 0).map(|l| (&l.sku, l.backordered))
    }

    pub fn shipment_count(&self) -> usize {
        self.shipments.len()
    }

    pub fn shipping_cost(&self) -> Money {
        self.shipping_cost
    }

    pub fn units_now(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.now)).sum()
    }

    pub fn units_backordered(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.backordered)).sum()
    }

    /// The search finished: no plan is better under the objective.
    pub fn optimal(&self) -> bool {
        self.optimal
    }

    /// No plan shipping as many units uses fewer shipments than this.
    pub fn lower_bound(&self) -> u32 {
        self.lower_bound
    }

    pub fn release(&self) -> Release {
        self.release
    }

    /// Search nodes spent, for benchmarks and tracing.
    pub fn search_nodes(&self) -> u64 {
        self.search_nodes
    }
}

/// The optimizer's problem for one request, with the mapping back to the
/// network.
struct Prepared<'a> {
    request: &'a SourcingRequest,
    network: &'a Network,
    /// Candidate warehouses, ascending network index (= preference order).
    candidates: Vec<WarehouseIndex>,
    /// Per candidate, metres to the destination.
    distances: Vec<u64>,
    costs: Vec<Money>,
    problem: search::Problem,
}

impl<'a> Prepared<'a> {
    /// Candidates are the warehouses holding any ordered sku, minus `excluded`.
    fn new(request: &'a SourcingRequest, network: &'a Network, excluded: &[WarehouseIndex]) -> Self {
        let mut candidates: Vec<WarehouseIndex> = request
            .lines
            .iter()
            .flat_map(|line| network.stock_of(line.sku()).iter().map(|&(w, _)| w))
            .filter(|w| !excluded.contains(w))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut slot = vec![usize::MAX; network.warehouses().len()];
        for (c, &w) in candidates.iter().enumerate() {
            slot[w] = c;
        }
        let mut available = vec![vec![0u32; request.lines.len()]; candidates.len()];
        for (i, line) in request.lines.iter().enumerate() {
            for &(w, units) in network.stock_of(line.sku()) {
                if slot[w] != usize::MAX {
                    available[slot[w]][i] = units;
                }
            }
        }
        let meters: Vec<u64> = candidates
            .iter()
            .map(|&w| distance_meters(network.warehouse(w).location().distance_km(request.destination)))
            .collect();
        // Beyond i64 cents no real tariff goes; clamping keeps sums from
        // overflowing while still ranking such a warehouse last.
        const CENTS_CAP: i64 = i64::MAX >> 16;
        let (costs, cents): (Vec<Money>, Vec<i64>) = candidates
            .iter()
            .zip(&meters)
            .map(|(&w, &m)| {
                let rate = network.warehouse(w).rate();
                match rate.cents_at_meters(m) {
                    Some(cents) if cents <= CENTS_CAP => (Money::from_cents(cents), cents),
                    _ => (rate.cost_at_meters(m), CENTS_CAP),
                }
            })
            .unzip();
        let ordered: Vec<u32> = request.lines.iter().map(|l| l.quantity().units()).collect();
        let problem = search::Problem::new(&ordered, &available, cents);
        Self { request, network, candidates, distances: meters, costs, problem }
    }

    /// Turns candidates into a plan: each line takes from them in the order
    /// given (preference order for the optimizer, fill order for baselines).
    fn plan(&self, set: &[u32], optimal: bool, lower_bound: u32, search_nodes: u64) -> FulfillmentPlan {
        let lines = &self.request.lines;
        let mut per_warehouse: Vec<Vec<ShipmentLine>> = vec![Vec::new(); set.len()];
        let mut outcomes = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let mut left = self.problem.targets[i];
            for (slot, &c) in set.iter().enumerate() {
                let take = self.problem.supply(c as usize, i).min(left);
                if take > 0 {
                    left -= take;
                    per_warehouse[slot].push(ShipmentLine {
                        sku: line.sku().clone(),
                        quantity: Quantity::new(i64::from(take)).expect("positive"),
                    });
                }
            }
            let now = self.problem.targets[i] - left;
            outcomes.push(LineOutcome {
                sku: line.sku().clone(),
                ordered: line.quantity(),
                now,
                backordered: line.quantity().units() - now,
            });
        }
        let shipments: Vec<PlannedShipment> = set
            .iter()
            .zip(per_warehouse)
            // A warehouse of an optimal set always ships something; a
            // baseline's set might not, and an empty package is no shipment.
            .filter(|(_, lines)| !lines.is_empty())
            .map(|(&c, lines)| {
                let c = c as usize;
                let index = self.candidates[c];
                PlannedShipment {
                    warehouse: self.network.warehouse(index).code().clone(),
                    index,
                    lines,
                    cost: self.costs[c],
                    distance_m: self.distances[c],
                }
            })
            .collect();
        let mut shipments = shipments;
        shipments.sort_by_key(|s| s.index);
        let backordered = outcomes.iter().any(|l| l.backordered > 0);
        let release = match self.request.policy {
            SplitPolicy::ShipComplete if backordered => Release::HeldUntilComplete,
            _ => Release::Now,
        };
        FulfillmentPlan {
            shipping_cost: shipments.iter().map(|s| s.cost).sum(),
            shipments,
            lines: outcomes,
            optimal,
            lower_bound,
            release,
            search_nodes,
        }
    }

    fn optimal_plan(&self, budget: SearchBudget) -> FulfillmentPlan {
        let outcome = self.solve(budget);
        self.plan(&outcome.best.set, outcome.proven, outcome.lower_bound, outcome.nodes)
    }

    fn solve(&self, budget: SearchBudget) -> search::Outcome {
        search::solve(&self.problem, self.request.max_shipments.map(MaxShipments::get), &budget)
    }
}

/// Plans one order against the network's available stock.
pub fn plan_fulfillment(request: &SourcingRequest, network: &Network, budget: SearchBudget) -> FulfillmentPlan {
    Prepared::new(request, network, &[]).optimal_plan(budget)
}

/// Where more units of one sku go for an order that already has packages
/// open at `open` (in the order they were opened): into the first of those
/// warehouses that holds them all, so that no package is added; otherwise
/// wherever the engine ships them in the fewest packages, cheapest. Returns
/// (warehouse, units); they add up to what the network holds, at most
/// `units`.
pub fn source_more(
    sku: &Sku,
    units: Quantity,
    destination: GeoPoint,
    open: &[WarehouseCode],
    network: &Network,
    budget: SearchBudget,
) -> Vec<(WarehouseCode, u32)> {
    if let Some(code) = open.iter().find(|code| network.available(code, sku) >= units.units()) {
        return vec![(code.clone(), units.units())];
    }
    let line = OrderLine::new(sku.clone(), units);
    let request = SourcingRequest::new(vec![line], destination, SplitPolicy::ShipAvailable, None)
        .expect("one line with a positive quantity is a valid request");
    let plan = plan_fulfillment(&request, network, budget);
    plan.shipments()
        .iter()
        .map(|s| (s.warehouse().clone(), s.lines().iter().map(|l| l.quantity().units()).sum()))
        .collect()
}

impl Network {
    /// Takes a plan's shipments out of the available stock, as committing it
    /// would. For replaying orders one after another (`simulate --sequential`).
    pub fn commit(&mut self, plan: &FulfillmentPlan) {
        for shipment in &plan.shipments {
            for line in &shipment.lines {
                self.take(shipment.index, &line.sku, line.quantity.units());
            }
        }
    }
}
