//! The optimizer against brute force, and the invariants every plan keeps.
//!
//! Instances are small enough to enumerate every warehouse set (at most 2^7)
//! yet built to be hard for shortcuts: few distinct costs (so exact ties
//! happen), stock thinner than demand, repeated skus, shipment caps.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::money::{ShippingRate, distance_to_decimal};
use crate::network::Warehouse;

#[derive(Debug, Clone)]
struct Instance {
    network: Network,
    request: SourcingRequest,
}

fn instance() -> impl Strategy<Value = Instance> {
    let warehouse = (
        -60.0f64..60.0,
        -150.0f64..150.0,
        prop::sample::select(vec!["1", "2", "2.5", "4"]),
        prop::sample::select(vec!["0", "0.001", "0.0025"]),
        0i32..3,
    );
    (
        prop::collection::vec(warehouse, 1..=7),
        // stock[w][s]: mostly empty or thin.
        prop::collection::vec(prop::collection::vec(prop_oneof![3 => Just(0u32), 2 => 1u32..4, 1 => 4u32..9], 5), 7),
        prop::collection::vec((0usize..5, 1i64..6), 0..=6),
        (-60.0f64..60.0, -150.0f64..150.0),
        any::<bool>(),
        prop_oneof![2 => Just(None), 1 => (1i64..4).prop_map(Some)],
    )
        .prop_map(|(whs, stock, lines, (lat, lon), complete, cap)| {
            let warehouses = whs
                .iter()
                .enumerate()
                .map(|(i, &(wlat, wlon, base, per_km, priority))| {
                    Warehouse::new(
                        WarehouseCode::new(format!("W{i}")).unwrap(),
                        GeoPoint::new(wlat, wlon).unwrap(),
                        ShippingRate::new(base.parse().unwrap(), per_km.parse().unwrap()).unwrap(),
                        priority,
                    )
                })
                .collect();
            let mut network = Network::new(warehouses).unwrap();
            for (w, levels) in stock.iter().enumerate().take(whs.len()) {
                for (s, &units) in levels.iter().enumerate() {
                    let code = WarehouseCode::new(format!("W{w}")).unwrap();
                    network.set_available(&code, Sku::new(format!("S{s}")).unwrap(), units).unwrap();
                }
            }
            let lines = lines
                .into_iter()
                .map(|(s, q)| OrderLine::new(Sku::new(format!("S{s}")).unwrap(), Quantity::new(q).unwrap()))
                .collect();
            let policy = if complete { SplitPolicy::ShipComplete } else { SplitPolicy::ShipAvailable };
            let cap = cap.map(|k| MaxShipments::new(k).unwrap());
            let request = SourcingRequest::new(lines, GeoPoint::new(lat, lon).unwrap(), policy, cap).unwrap();
            Instance { network, request }
        })
}

/// Every warehouse set, scored by the objective straight from its definition.
fn brute_force(inst: &Instance) -> (Vec<WarehouseIndex>, u64, Money) {
    let net = &inst.network;
    let lines = inst.request.lines();
    let m = net.warehouses().len();
    let cap = inst.request.max_shipments().map_or(m, |k| k.get() as usize);
    let costs: Vec<Money> = net
        .warehouses()
        .iter()
        .map(|w| w.rate().cost(distance_to_decimal(w.location().distance_km(inst.request.destination()))))
        .collect();
    let mut best: Option<(Reverse<u64>, usize, Money, Vec<u32>)> = None;
    for mask in 0u32..(1 << m) {
        let set: Vec<u32> = (0..m as u32).filter(|&w| mask & (1 << w) != 0).collect();
        if set.len() > cap {
            continue;
        }
        let units: u64 = lines
            .iter()
            .map(|l| {
                let held: u64 =
                    set.iter().map(|&w| u64::from(net.available(net.warehouse(w as usize).code(), l.sku()))).sum();
                held.min(u64::from(l.quantity().units()))
            })
            .sum();
        let cost: Money = set.iter().map(|&w| costs[w as usize]).sum();
        let key = (Reverse(units), set.len(), cost, set);
        let better = match &best {
            None => true,
            Some(b) => match (key.0, key.1, key.2).cmp(&(b.0, b.1, b.2)) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => search::preference(&key.3, &b.3) == Ordering::Less,
            },
        };
        if better {
            best = Some(key);
        }
    }
    let (Reverse(units), _, cost, set) = best.expect("the empty set is always a candidate");
    (set.into_iter().map(|w| w as usize).collect(), units, cost)
}

fn units_by_line(plan: &FulfillmentPlan) -> HashMap<Sku, u64> {
    let mut shipped = HashMap::new();
    for s in plan.shipments() {
        for l in s.lines() {
            *shipped.entry(l.sku().clone()).or_default() += u64::from(l.quantity().units());
        }
    }
    shipped
}

fn objective(plan: &FulfillmentPlan) -> (Reverse<u64>, usize, Money) {
    (Reverse(plan.units_now()), plan.shipment_count(), plan.shipping_cost())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn plan_matches_brute_force(inst in instance()) {
        let plan = plan_fulfillment(&inst.request, &inst.network, SearchBudget::default());
        let (set, units, cost) = brute_force(&inst);
        // Warehouses that hold nothing ordered never ship, so the optimal set
        // holds only candidates; an empty package would not be a shipment.
        let planned: Vec<WarehouseIndex> = plan.shipments().iter().map(|s| s.warehouse_index()).collect();
        prop_assert_eq!(plan.units_now(), units);
        prop_assert_eq!(plan.shipping_cost(), cost);
        prop_assert_eq!(planned, set);
        prop_assert!(plan.optimal());
        prop_assert_eq!(plan.lower_bound() as usize, plan.shipment_count());
    }

    #[test]
    fn plans_keep_stock_and_line_invariants(inst in instance()) {
        let plan = plan_fulfillment(&inst.request, &inst.network, SearchBudget::default());
        let net = &inst.network;
        for s in plan.shipments() {
            prop_assert!(!s.lines().is_empty());
            for l in s.lines() {
                prop_assert!(l.quantity().units() <= net.available(s.warehouse(), l.sku()));
            }
        }
        let shipped = units_by_line(&plan);
        prop_assert_eq!(plan.lines().len(), inst.request.lines().len());
        for (line, outcome) in inst.request.lines().iter().zip(plan.lines()) {
            prop_assert_eq!(outcome.sku(), line.sku());
            prop_assert_eq!(outcome.now() + outcome.backordered(), line.quantity().units());
            prop_assert_eq!(u64::from(outcome.now()), shipped.get(line.sku()).copied().unwrap_or(0));
        }
        if let Some(k) = inst.request.max_shipments() {
            prop_assert!(plan.shipment_count() <= k.get() as usize);
        } else {
            // Uncapped, every line ships all the network has.
            for outcome in plan.lines() {
                let total = net.total_available(outcome.sku());
                prop_assert_eq!(u64::from(outcome.now()), total.min(u64::from(outcome.ordered().units())));
            }
        }
        let expected = match inst.request.policy() {
            SplitPolicy::ShipComplete if plan.units_backordered() > 0 => Release::HeldUntilComplete,
            _ => Release::Now,
        };
        prop_assert_eq!(plan.release(), expected);
    }

    #[test]
    fn same_input_gives_the_same_plan(inst in instance()) {
        let a = plan_fulfillment(&inst.request, &inst.network, SearchBudget::default());
        let b = plan_fulfillment(&inst.request, &inst.network.clone(), SearchBudget::default());
        prop_assert_eq!(&a, &b);
        // The policy only decides release, never the allocation.
        let other = match inst.request.policy() {
            SplitPolicy::ShipAvailable => SplitPolicy::ShipComplete,
            SplitPolicy::ShipComplete => SplitPolicy::ShipAvailable,
        };
        let c = plan_fulfillment(&inst.request.with_policy(other, inst.request.max_shipments()), &inst.network, SearchBudget::default());
        prop_assert_eq!(a.shipments(), c.shipments());
        prop_assert_eq!(a.lines(), c.lines());
    }

    #[test]
    fn greedy_baselines_never_beat_the_optimizer(inst in instance()) {
        let plan = plan_fulfillment(&inst.request, &inst.network, SearchBudget::default());
        for baseline in Baseline::ALL {
            let greedy = plan_baseline(&inst.request, &inst.network, baseline);
            prop_assert!(objective(&plan) <= objective(&greedy), "{:?} beat the optimizer", baseline);
        }
    }

    #[test]
    fn an_unproven_plan_is_still_valid_and_bounded(inst in instance(), nodes in 1u64..6) {
        let cut = plan_fulfillment(&inst.request, &inst.network, SearchBudget::nodes(nodes));
        let full = plan_fulfillment(&inst.request, &inst.network, SearchBudget::default());
        prop_assert!(objective(&full) <= objective(&cut));
        // The bound is on plans shipping at least the cut plan's units; the
        // optimum ships at least as many, so it can never beat the bound.
        prop_assert!(cut.lower_bound() as usize <= full.shipment_count());
        prop_assert!(cut.lower_bound() as usize <= cut.shipment_count());
        if cut.optimal() {
            prop_assert_eq!(&cut, &full);
        }
        if let Some(k) = inst.request.max_shipments() {
            prop_assert!(cut.shipment_count() <= k.get() as usize);
        }
    }
}

#[test]
fn brute_force_agrees_on_a_hand_checked_case() {
    let w = |c: &str, base: &str| {
        Warehouse::new(
            WarehouseCode::new(c).unwrap(),
            GeoPoint::new(0.0, 0.0).unwrap(),
            ShippingRate::new(base.parse().unwrap(), Decimal::ZERO).unwrap(),
            1,
        )
    };
    let mut network = Network::new(vec![w("A", "1"), w("B", "1"), w("C", "3")]).unwrap();
    for (code, sku) in [("A", "X"), ("B", "Y"), ("C", "X"), ("C", "Y")] {
        network.set_available(&WarehouseCode::new(code).unwrap(), Sku::new(sku).unwrap(), 1).unwrap();
    }
    let lines = ["X", "Y"].map(|s| OrderLine::new(Sku::new(s).unwrap(), Quantity::new(1).unwrap()));
    let request =
        SourcingRequest::new(lines.to_vec(), GeoPoint::new(0.0, 0.0).unwrap(), SplitPolicy::ShipAvailable, None)
            .unwrap();
    let inst = Instance { network, request };
    assert_eq!(brute_force(&inst), (vec![2], 2, Money::from_cents(300)));
}

/// Realistic instances from the generator, small enough for brute force: the
/// shapes production sees (Zipf stock, metro distances, many ties on tail
/// skus), not just uniform noise.
fn realistic_instance(seed: u64, lines: usize, cap: Option<i64>) -> Instance {
    use crate::synth::{LineCount, NetworkSpec, generate_network, generate_orders};
    let net = generate_network(NetworkSpec { warehouses: 11, skus: 60, seed });
    let order = generate_orders(&net, 1, LineCount::Exactly(lines), seed).remove(0);
    let request = order.request.with_policy(SplitPolicy::ShipAvailable, cap.map(|k| MaxShipments::new(k).unwrap()));
    Instance { network: net.network, request }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn realistic_plans_match_brute_force(seed in any::<u64>(), lines in 1usize..12, cap in prop::option::of(1i64..4)) {
        let inst = realistic_instance(seed, lines, cap);
        let plan = plan_fulfillment(&inst.request, &inst.network, SearchBudget::default());
        let (set, units, cost) = brute_force(&inst);
        let planned: Vec<WarehouseIndex> = plan.shipments().iter().map(|s| s.warehouse_index()).collect();
        prop_assert_eq!((planned, plan.units_now(), plan.shipping_cost()), (set, units, cost));
        prop_assert!(plan.optimal());
    }
}

#[test]
fn realistic_orders_over_a_large_network_are_proven_and_beat_the_baselines() {
    use crate::synth::{LineCount, NetworkSpec, generate_network, generate_orders};
    let net = generate_network(NetworkSpec { warehouses: 120, skus: 2000, seed: 11 });
    let orders = generate_orders(&net, 400, LineCount::Realistic, 11);
    let (mut optimal, mut greedy) = (0usize, [0usize; 2]);
    for order in &orders {
        let plan = plan_fulfillment(&order.request, &net.network, SearchBudget::default());
        assert!(plan.optimal(), "{} not proven", order.id);
        optimal += plan.shipment_count();
        for (i, baseline) in Baseline::ALL.into_iter().enumerate() {
            let g = plan_baseline(&order.request, &net.network, baseline);
            assert!(objective(&plan) <= objective(&g));
            greedy[i] += g.shipment_count();
        }
    }
    // On realistic data the optimizer saves packages, not just ties.
    assert!(greedy.iter().all(|&g| g > optimal), "{optimal} vs {greedy:?}");
}
