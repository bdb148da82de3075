//! Why a plan is what it is, in terms a shopper or an agent can check.
//!
//! Three questions: what each warehouse contributes (and which skus only it
//! could supply within the plan), what the best plan with one shipment fewer
//! would have left behind, and what the best plan without at least one of the
//! chosen warehouses would cost. Each answer runs the engine again, so this is
//! computed on request, not with every plan.

use std::cmp::{Ordering, Reverse};
use std::fmt;

use super::{FulfillmentPlan, MaxShipments, Prepared, SearchBudget, SourcingRequest, plan_fulfillment, search};
use crate::catalog::Sku;
use crate::money::Money;
use crate::network::{Network, WarehouseCode};

/// One warehouse's part in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseRole {
    pub warehouse: WarehouseCode,
    pub cost: Money,
    pub units: u64,
    /// Skus whose units shipping now the plan's other warehouses could not
    /// have supplied: the reason this warehouse cannot be dropped.
    pub sole_source: Vec<Sku>,
}

/// Another plan, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    pub warehouses: Vec<WarehouseCode>,
    pub shipping_cost: Money,
    pub units_now: u64,
    /// Units per sku this alternative ships now fewer than the plan.
    pub short: Vec<(Sku, u32)>,
    pub optimal: bool,
}

impl Alternative {
    fn of(plan: &FulfillmentPlan, against: &FulfillmentPlan) -> Self {
        let short = against
            .lines()
            .iter()
            .zip(plan.lines())
            .filter(|(want, got)| want.now() > got.now())
            .map(|(want, got)| (want.sku().clone(), want.now() - got.now()))
            .collect();
        Self {
            warehouses: plan.shipments().iter().map(|s| s.warehouse().clone()).collect(),
            shipping_cost: plan.shipping_cost(),
            units_now: plan.units_now(),
            short,
            optimal: plan.optimal(),
        }
    }

    pub fn shipment_count(&self) -> usize {
        self.warehouses.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub warehouses: Vec<WarehouseRole>,
    /// The best plan with one shipment fewer; `None` for a plan that ships
    /// nothing.
    pub with_one_fewer: Option<Alternative>,
    /// The best plan that leaves out at least one of the plan's warehouses;
    /// `None` when the plan ships nothing.
    pub runner_up: Option<Alternative>,
    pub shipping_cost: Money,
}

/// Explains `plan`, which must have been made for `request` against `network`.
pub fn explain(
    request: &SourcingRequest,
    network: &Network,
    plan: &FulfillmentPlan,
    budget: SearchBudget,
) -> Explanation {
    let warehouses = plan
        .shipments()
        .iter()
        .map(|shipment| {
            let others: Vec<_> = plan.shipments().iter().filter(|s| s.warehouse() != shipment.warehouse()).collect();
            let sole_source = shipment
                .lines()
                .iter()
                .filter(|line| {
                    let need = plan.lines().iter().find(|l| l.sku() == line.sku()).map_or(0, |l| l.now());
                    let elsewhere: u64 =
                        others.iter().map(|s| u64::from(network.available(s.warehouse(), line.sku()))).sum();
                    elsewhere < u64::from(need)
                })
                .map(|line| line.sku().clone())
                .collect();
            WarehouseRole {
                warehouse: shipment.warehouse().clone(),
                cost: shipment.cost(),
                units: shipment.units(),
                sole_source,
            }
        })
        .collect();

    let count = plan.shipment_count();
    let with_one_fewer = (count > 0).then(|| {
        let fewer = match MaxShipments::new(count as i64 - 1) {
            Ok(cap) => plan_fulfillment(&request.with_policy(request.policy(), Some(cap)), network, budget.clone()),
            Err(_) => {
                let nothing = Prepared::new(request, network, &[]);
                nothing.plan(&[], true, 0, 0)
            }
        };
        Alternative::of(&fewer, plan)
    });

    let runner_up = plan
        .shipments()
        .iter()
        .map(|s| Prepared::new(request, network, &[s.warehouse_index()]).optimal_plan(budget.clone()))
        .min_by(rank)
        .map(|alt| Alternative::of(&alt, plan));

    Explanation { warehouses, with_one_fewer, runner_up, shipping_cost: plan.shipping_cost() }
}

/// Orders plans by the engine's objective.
fn rank(a: &FulfillmentPlan, b: &FulfillmentPlan) -> Ordering {
    let key = |p: &FulfillmentPlan| (Reverse(p.units_now()), p.shipment_count(), p.shipping_cost());
    let set = |p: &FulfillmentPlan| p.shipments().iter().map(|s| s.warehouse_index() as u32).collect::<Vec<_>>();
    key(a).cmp(&key(b)).then_with(|| search::preference(&set(a), &set(b)))
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.warehouses.is_empty() {
            return f.write_str("Nothing can ship now: no active warehouse holds any ordered sku.");
        }
        let n = self.warehouses.len();
        write!(f, "{n} shipment{} for {}.", if n == 1 { "" } else { "s" }, self.shipping_cost)?;
        for role in &self.warehouses {
            write!(f, " {} ships {} unit{} for {}", role.warehouse, role.units, plural(role.units), role.cost)?;
            // With one package the question of which warehouse is needed
            // for what does not arise.
            if role.sole_source.is_empty() || n == 1 {
                f.write_str(".")?;
            } else {
                write!(f, "; no other chosen warehouse could cover {}.", list(&role.sole_source))?;
            }
        }
        if let Some(fewer) = &self.with_one_fewer {
            if fewer.shipment_count() == 0 {
                f.write_str(" Fewer shipments would ship nothing now.")?;
            } else {
                let short: Vec<String> = fewer.short.iter().map(|(sku, u)| format!("{sku}×{u}")).collect();
                write!(
                    f,
                    " With {} shipment{}, the best plan ({}) would leave {} behind.",
                    fewer.shipment_count(),
                    if fewer.shipment_count() == 1 { "" } else { "s" },
                    codes(&fewer.warehouses),
                    short.join(", ")
                )?;
            }
        }
        match &self.runner_up {
            Some(alt) if alt.short.is_empty() && alt.shipment_count() == n => write!(
                f,
                " Runner-up: {} for {} (+{}).",
                codes(&alt.warehouses),
                alt.shipping_cost,
                alt.shipping_cost - self.shipping_cost
            ),
            Some(alt) if alt.short.is_empty() => write!(
                f,
                " Runner-up: {} in {} shipments for {}.",
                codes(&alt.warehouses),
                alt.shipment_count(),
                alt.shipping_cost
            ),
            Some(alt) => write!(
                f,
                " Any plan without one of these warehouses ships less now (best: {}, {} units).",
                codes(&alt.warehouses),
                alt.units_now
            ),
            None => Ok(()),
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list(skus: &[Sku]) -> String {
    skus.iter().map(Sku::as_str).collect::<Vec<_>>().join(", ")
}

fn codes(codes: &[WarehouseCode]) -> String {
    if codes.is_empty() {
        return "no warehouse".to_owned();
    }
    codes.iter().map(WarehouseCode::as_str).collect::<Vec<_>>().join(" + ")
}
