use rust_decimal::Decimal;

use super::*;
use crate::money::ShippingRate;
use crate::network::Warehouse;

/// A warehouse at (lat, lon) with a flat shipment cost and a priority.
fn wh(code: &str, lat: f64, lon: f64, base: &str, priority: i32) -> Warehouse {
    Warehouse::new(
        WarehouseCode::new(code).unwrap(),
        GeoPoint::new(lat, lon).unwrap(),
        ShippingRate::new(base.parse().unwrap(), Decimal::ZERO).unwrap(),
        priority,
    )
}

fn network(warehouses: Vec<Warehouse>, stock: &[(&str, &str, u32)]) -> Network {
    let mut net = Network::new(warehouses).unwrap();
    for &(code, sku, units) in stock {
        net.set_available(&WarehouseCode::new(code).unwrap(), Sku::new(sku).unwrap(), units).unwrap();
    }
    net
}

fn request(lines: &[(&str, i64)], policy: SplitPolicy, max: Option<i64>) -> SourcingRequest {
    let lines =
        lines.iter().map(|&(sku, q)| OrderLine::new(Sku::new(sku).unwrap(), Quantity::new(q).unwrap())).collect();
    SourcingRequest::new(lines, GeoPoint::new(40.7, -74.0).unwrap(), policy, max.map(|k| MaxShipments::new(k).unwrap()))
        .unwrap()
}

fn plan(req: &SourcingRequest, net: &Network) -> FulfillmentPlan {
    plan_fulfillment(req, net, SearchBudget::default())
}

/// `(warehouse, [(sku, units)])` per shipment.
fn shape(plan: &FulfillmentPlan) -> Vec<(String, Vec<(String, u32)>)> {
    plan.shipments()
        .iter()
        .map(|s| {
            let lines = s.lines().iter().map(|l| (l.sku().to_string(), l.quantity().units())).collect();
            (s.warehouse().to_string(), lines)
        })
        .collect()
}

fn three_warehouses() -> Vec<Warehouse> {
    vec![wh("EAST", 40.0, -75.0, "5", 100), wh("MID", 41.9, -87.6, "6", 100), wh("WEST", 37.8, -122.4, "9", 100)]
}

#[test]
fn empty_order_ships_nothing_and_is_optimal() {
    let net = network(three_warehouses(), &[("EAST", "A", 3)]);
    let p = plan(&request(&[], SplitPolicy::ShipAvailable, None), &net);
    assert_eq!(p.shipment_count(), 0);
    assert_eq!(p.shipping_cost(), Money::ZERO);
    assert!(p.optimal());
    assert_eq!(p.lower_bound(), 0);
    assert_eq!(p.release(), Release::Now);
}

#[test]
fn zero_stock_everywhere_backorders_every_line_whole() {
    let net = network(three_warehouses(), &[]);
    let p = plan(&request(&[("A", 2), ("B", 1)], SplitPolicy::ShipAvailable, None), &net);
    assert_eq!(p.shipment_count(), 0);
    let backordered: Vec<_> = p.backordered().map(|(s, u)| (s.to_string(), u)).collect();
    assert_eq!(backordered, [("A".to_owned(), 2), ("B".to_owned(), 1)]);
    assert_eq!((p.units_now(), p.units_backordered()), (0, 3));
    assert!(p.optimal());
}

#[test]
fn one_warehouse_holding_everything_ships_alone_even_if_dearer() {
    let net = network(three_warehouses(), &[("EAST", "A", 5), ("MID", "B", 5), ("WEST", "A", 5), ("WEST", "B", 5)]);
    let p = plan(&request(&[("A", 2), ("B", 2)], SplitPolicy::ShipAvailable, None), &net);
    assert_eq!(shape(&p), [("WEST".to_owned(), vec![("A".to_owned(), 2), ("B".to_owned(), 2)])]);
    assert_eq!(p.shipping_cost().to_string(), "9.00");
    assert!(p.optimal());
}

#[test]
fn among_equal_counts_the_cheaper_set_wins() {
    let net = network(three_warehouses(), &[("EAST", "A", 5), ("MID", "B", 5), ("WEST", "B", 5)]);
    let p = plan(&request(&[("A", 1), ("B", 1)], SplitPolicy::ShipAvailable, None), &net);
    let codes: Vec<_> = shape(&p).into_iter().map(|s| s.0).collect();
    assert_eq!(codes, ["EAST", "MID"]);
    assert_eq!(p.shipping_cost().to_string(), "11.00");
}

#[test]
fn exact_ties_go_to_priority_then_code() {
    // Identical cost and stock: priority decides, then the code.
    let warehouses =
        vec![wh("B2", 40.0, -75.0, "5", 10), wh("A1", 40.0, -75.0, "5", 20), wh("C3", 40.0, -75.0, "5", 10)];
    let net = network(warehouses, &[("A1", "S", 3), ("B2", "S", 3), ("C3", "S", 3)]);
    let p = plan(&request(&[("S", 2)], SplitPolicy::ShipAvailable, None), &net);
    assert_eq!(shape(&p)[0].0, "B2");
    // Two are needed for 5 units: the two priority-10 warehouses.
    let p = plan(&request(&[("S", 5)], SplitPolicy::ShipAvailable, None), &net);
    let codes: Vec<_> = shape(&p).into_iter().map(|s| s.0).collect();
    assert_eq!(codes, ["B2", "C3"]);
}

#[test]
fn a_line_split_across_warehouses_takes_from_the_preferred_first() {
    let net = network(three_warehouses(), &[("EAST", "A", 2), ("MID", "A", 2), ("WEST", "A", 9)]);
    let p = plan(&request(&[("A", 4)], SplitPolicy::ShipAvailable, None), &net);
    // WEST alone covers it: one package beats two cheaper ones.
    assert_eq!(shape(&p), [("WEST".to_owned(), vec![("A".to_owned(), 4)])]);
    let p = plan(&request(&[("A", 12)], SplitPolicy::ShipAvailable, None), &net);
    // 13 in the network; all three needed for 12, EAST and MID fill first.
    assert_eq!(
        shape(&p),
        [
            ("EAST".to_owned(), vec![("A".to_owned(), 2)]),
            ("MID".to_owned(), vec![("A".to_owned(), 2)]),
            ("WEST".to_owned(), vec![("A".to_owned(), 8)]),
        ]
    );
}

#[test]
fn backorders_only_what_no_warehouse_holds() {
    let net = network(three_warehouses(), &[("EAST", "A", 1), ("MID", "A", 2), ("MID", "B", 1)]);
    let p = plan(&request(&[("A", 5), ("B", 1), ("GHOST", 2)], SplitPolicy::ShipAvailable, None), &net);
    let lines: Vec<_> = p.lines().iter().map(|l| (l.sku().to_string(), l.now(), l.backordered())).collect();
    assert_eq!(lines, [("A".to_owned(), 3, 2), ("B".to_owned(), 1, 0), ("GHOST".to_owned(), 0, 2)]);
    assert_eq!(p.shipment_count(), 2);
    assert_eq!(p.release(), Release::Now);
}

#[test]
fn duplicate_skus_are_merged_into_the_first_line() {
    let req = request(&[("A", 1), ("B", 1), ("A", 2)], SplitPolicy::ShipAvailable, None);
    let lines: Vec<_> = req.lines().iter().map(|l| (l.sku().to_string(), l.quantity().units())).collect();
    assert_eq!(lines, [("A".to_owned(), 3), ("B".to_owned(), 1)]);
    let overflow = SourcingRequest::new(
        vec![
            OrderLine::new(Sku::new("A").unwrap(), Quantity::new(i64::from(crate::limits::MAX_UNITS)).unwrap()),
            OrderLine::new(Sku::new("A").unwrap(), Quantity::new(1).unwrap()),
        ],
        GeoPoint::new(0.0, 0.0).unwrap(),
        SplitPolicy::ShipAvailable,
        None,
    );
    assert_eq!(overflow.unwrap_err(), InvalidRequest::QuantityOverflow(Sku::new("A").unwrap()));
}

#[test]
fn ship_complete_reserves_the_same_units_but_holds_them() {
    let net = network(three_warehouses(), &[("EAST", "A", 1), ("MID", "B", 4)]);
    let lines = [("A", 2), ("B", 1)];
    let available = plan(&request(&lines, SplitPolicy::ShipAvailable, None), &net);
    let complete = plan(&request(&lines, SplitPolicy::ShipComplete, None), &net);
    assert_eq!(shape(&available), shape(&complete));
    assert_eq!(available.release(), Release::Now);
    assert_eq!(complete.release(), Release::HeldUntilComplete);
    let whole = plan(&request(&[("B", 1)], SplitPolicy::ShipComplete, None), &net);
    assert_eq!(whole.release(), Release::Now);
}

#[test]
fn max_shipments_one_with_nothing_complete_anywhere_ships_the_most_units() {
    let net = network(three_warehouses(), &[("EAST", "A", 2), ("MID", "B", 3), ("MID", "A", 1), ("WEST", "C", 1)]);
    let p = plan(&request(&[("A", 2), ("B", 3), ("C", 1)], SplitPolicy::ShipAvailable, Some(1)), &net);
    // MID ships 4 of 6 units; nobody holds more in one package.
    assert_eq!(shape(&p), [("MID".to_owned(), vec![("A".to_owned(), 1), ("B".to_owned(), 3)])]);
    assert_eq!(p.units_backordered(), 2);
    assert!(p.optimal());
    assert_eq!(p.lower_bound(), 1);
}

#[test]
fn max_shipments_that_is_not_binding_changes_nothing() {
    let net = network(three_warehouses(), &[("EAST", "A", 2), ("MID", "B", 3)]);
    let free = plan(&request(&[("A", 2), ("B", 3)], SplitPolicy::ShipAvailable, None), &net);
    let capped = plan(&request(&[("A", 2), ("B", 3)], SplitPolicy::ShipAvailable, Some(5)), &net);
    assert_eq!(shape(&free), shape(&capped));
    assert!(MaxShipments::new(0).is_err());
    assert_eq!(MaxShipments::new(-1).unwrap_err().to_string(), "invalid maxShipments -1: must be at least 1");
}

#[test]
fn a_spent_budget_returns_the_best_plan_unproven_with_a_true_lower_bound() {
    // Eight lines, each held by a different pair of warehouses: greedy needs
    // several packages and the search needs more than two nodes to prove it.
    let codes: Vec<String> = (0..12).map(|i| format!("W{i:02}")).collect();
    let warehouses = codes.iter().enumerate().map(|(i, c)| wh(c, 40.0, -75.0 + i as f64, "5", 1)).collect();
    let mut stock = Vec::new();
    let skus: Vec<String> = (0..8).map(|i| format!("S{i}")).collect();
    for (i, sku) in skus.iter().enumerate() {
        stock.push((codes[i].as_str(), sku.as_str(), 1));
        stock.push((codes[(i * 5 + 3) % 12].as_str(), sku.as_str(), 1));
    }
    let net = network(warehouses, &stock);
    let lines: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 1)).collect();
    let req = request(&lines, SplitPolicy::ShipAvailable, None);
    let full = plan(&req, &net);
    assert!(full.optimal());
    let cut = plan_fulfillment(&req, &net, SearchBudget::nodes(2));
    assert!(!cut.optimal());
    assert_eq!(cut.units_now(), full.units_now());
    assert!(cut.shipment_count() >= full.shipment_count());
    assert!(cut.lower_bound() as usize <= full.shipment_count());
    assert!(cut.lower_bound() >= 1);
}

#[test]
fn a_stopped_search_answers_its_best_plan_so_far_unproven() {
    let warehouses: Vec<Warehouse> = (0..40)
        .map(|i| wh(&format!("W{i:02}"), 30.0 + f64::from(i % 10), -100.0 + f64::from(i / 10), "5", 100))
        .collect();
    let codes: Vec<String> = (0..40).map(|i| format!("W{i:02}")).collect();
    let skus: Vec<String> = (0..40).map(|i| format!("S{i:02}")).collect();
    let mut stock = Vec::new();
    for (w, code) in codes.iter().enumerate() {
        for k in 0..4 {
            stock.push((code.as_str(), skus[(w * 7 + k * 11) % 40].as_str(), 1));
        }
    }
    let net = network(warehouses, &stock);
    let lines: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 2)).collect();
    let req = request(&lines, SplitPolicy::ShipAvailable, None);
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = asked.clone();
    let stop = Stop::when(move || counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 3);
    let stopped = plan_fulfillment(&req, &net, SearchBudget::default().with_stop(stop));
    assert!(!stopped.optimal(), "a stopped search claims nothing");
    assert!(
        stopped.search_nodes() <= 4 * 256 + 1,
        "it stops at the first question after the stop: {}",
        stopped.search_nodes()
    );
    let unstopped = plan(&req, &net);
    assert_eq!(stopped.units_now(), unstopped.units_now(), "what ships now does not depend on the search");
    assert!(stopped.lower_bound() as usize <= unstopped.shipment_count());
    let at_once = plan_fulfillment(&req, &net, SearchBudget::default().with_stop(Stop::when(|| true)));
    assert_eq!((at_once.optimal(), at_once.search_nodes()), (false, 0), "out of time before starting: the greedy plan");
}

#[test]
fn plans_never_depend_on_the_order_warehouses_were_listed_in() {
    let mut reversed = three_warehouses();
    reversed.reverse();
    let stock = [("EAST", "A", 1), ("MID", "A", 1), ("WEST", "B", 1)];
    let a =
        plan(&request(&[("A", 1), ("B", 1)], SplitPolicy::ShipAvailable, None), &network(three_warehouses(), &stock));
    let b = plan(&request(&[("A", 1), ("B", 1)], SplitPolicy::ShipAvailable, None), &network(reversed, &stock));
    assert_eq!(a, b);
}

#[test]
fn committing_a_plan_takes_its_units_out_of_the_network() {
    let mut net = network(three_warehouses(), &[("EAST", "A", 3), ("MID", "A", 3)]);
    let req = request(&[("A", 4)], SplitPolicy::ShipAvailable, None);
    let first = plan(&req, &net);
    net.commit(&first);
    assert_eq!(net.total_available(&Sku::new("A").unwrap()), 2);
    let second = plan(&req, &net);
    assert_eq!((second.units_now(), second.units_backordered()), (2, 2));
}

#[test]
fn explanation_names_sole_sources_the_fewer_plan_and_the_runner_up() {
    let net = network(three_warehouses(), &[("EAST", "A", 5), ("MID", "B", 5), ("WEST", "B", 5)]);
    let req = request(&[("A", 1), ("B", 1)], SplitPolicy::ShipAvailable, None);
    let p = plan(&req, &net);
    let why = explain(&req, &net, &p, SearchBudget::default());
    assert_eq!(why.warehouses.len(), 2);
    assert_eq!(why.warehouses[0].sole_source, [Sku::new("A").unwrap()]);
    let fewer = why.with_one_fewer.as_ref().unwrap();
    assert_eq!(fewer.shipment_count(), 1);
    assert_eq!(fewer.units_now, 1);
    let runner_up = why.runner_up.as_ref().unwrap();
    let codes: Vec<_> = runner_up.warehouses.iter().map(|c| c.to_string()).collect();
    assert_eq!(codes, ["EAST", "WEST"]);
    assert_eq!(runner_up.shipping_cost.to_string(), "14.00");
    let text = why.to_string();
    assert!(text.starts_with("2 shipments for 11.00."), "{text}");
    assert!(text.contains("Runner-up: EAST + WEST for 14.00 (+3.00)."), "{text}");

    let nothing = plan(&request(&[("Z", 1)], SplitPolicy::ShipAvailable, None), &net);
    let why = explain(&request(&[("Z", 1)], SplitPolicy::ShipAvailable, None), &net, &nothing, SearchBudget::default());
    assert!(why.with_one_fewer.is_none() && why.runner_up.is_none());
}

#[test]
fn baselines_fill_in_their_own_order() {
    let net = network(three_warehouses(), &[("EAST", "A", 1), ("MID", "A", 5), ("WEST", "A", 5)]);
    let req = request(&[("A", 3)], SplitPolicy::ShipAvailable, None);
    let by_priority = plan_baseline(&req, &net, Baseline::PriorityFill);
    // Priority ties, so code order: EAST then MID.
    assert_eq!(by_priority.shipment_count(), 2);
    assert!(!by_priority.optimal());
    let nearest = plan_baseline(&req, &net, Baseline::NearestFill);
    assert_eq!(shape(&nearest)[0].0, "EAST");
    assert_eq!(plan(&req, &net).shipment_count(), 1);
}

#[test]
fn more_units_join_an_open_package_that_holds_them_all_and_otherwise_ship_in_the_fewest_packages() {
    let net = network(three_warehouses(), &[("EAST", "A", 2), ("MID", "A", 3), ("WEST", "A", 5)]);
    let sku = Sku::new("A").unwrap();
    let to = GeoPoint::new(40.7, -74.0).unwrap();
    let code = |c: &str| WarehouseCode::new(c).unwrap();
    let more = |units: i64, open: &[WarehouseCode]| {
        source_more(&sku, Quantity::new(units).unwrap(), to, open, &net, SearchBudget::default())
    };
    // MID is dearer than EAST, but its package is already going.
    assert_eq!(more(3, &[code("WEST"), code("MID")]), vec![(code("WEST"), 3)], "the first open package that can");
    assert_eq!(more(3, &[code("EAST"), code("MID")]), vec![(code("MID"), 3)]);
    // No open package holds 4: one new package, the nearest that can.
    assert_eq!(more(4, &[code("EAST")]), vec![(code("WEST"), 4)]);
    // More than the network holds: what there is, in the fewest packages.
    let all = more(20, &[]);
    assert_eq!(all.iter().map(|(_, u)| u).sum::<u32>(), 10);
    assert_eq!(all.len(), 3);
}
