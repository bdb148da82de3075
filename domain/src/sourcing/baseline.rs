//! The rules of thumb sourcing is measured against.
//!
//! Both fill each line from warehouses in a fixed order, opening a new package
//! whenever the next warehouse holds something still missing: what many
//! order-management systems do. `simulate` reports them next to the optimizer
//! and the property tests check that they never beat it.

use super::{FulfillmentPlan, Prepared, SourcingRequest};
use crate::network::Network;

/// A greedy fill order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Baseline {
    /// Warehouses by priority, then code.
    PriorityFill,
    /// Warehouses by distance to the destination, then priority and code.
    NearestFill,
}

impl Baseline {
    pub const ALL: [Baseline; 2] = [Baseline::PriorityFill, Baseline::NearestFill];

    pub fn name(self) -> &'static str {
        match self {
            Baseline::PriorityFill => "priorityFill",
            Baseline::NearestFill => "nearestFill",
        }
    }
}

/// Plans `request` by a greedy fill. The plan never claims optimality.
pub fn plan_baseline(request: &SourcingRequest, network: &Network, baseline: Baseline) -> FulfillmentPlan {
    let prepared = Prepared::new(request, network, &[]);
    let problem = &prepared.problem;
    let mut order: Vec<u32> = (0..prepared.candidates.len() as u32).collect();
    if baseline == Baseline::NearestFill {
        order.sort_by_key(|&c| (prepared.distances[c as usize], c));
    }
    let cap = request.max_shipments().map_or(usize::MAX, |k| k.get() as usize);
    let mut residual = problem.targets.clone();
    let mut used = Vec::new();
    for c in order {
        if used.len() >= cap || residual.iter().all(|&r| r == 0) {
            break;
        }
        let mut useful = false;
        for (i, r) in residual.iter_mut().enumerate() {
            let take = problem.supply(c as usize, i).min(*r);
            if take > 0 {
                *r -= take;
                useful = true;
            }
        }
        if useful {
            used.push(c);
        }
    }
    prepared.plan(&used, false, 0, 0)
}
