//! A seeded generator of realistic networks and orders, for property tests,
//! benchmarks and `shipmix generate`.
//!
//! Warehouses sit in real metro areas; sku popularity follows a Zipf law, so a
//! few skus are stocked nearly everywhere and the long tail in a handful of
//! places; orders are mostly one or two lines with the occasional large
//! basket. The same seed always yields the same data (ChaCha8, whose stream is
//! fixed by its specification, not by the `rand` version).
//!
//! Not a model of any particular retailer: the distributions are chosen to
//! make the sourcing problem look like production, not to match one.

mod metros;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};
use rust_decimal::Decimal;

use crate::catalog::{OrderLine, Quantity, Sku};
use crate::geo::GeoPoint;
use crate::money::ShippingRate;
use crate::network::{Network, Warehouse, WarehouseCode};
use crate::sourcing::{SourcingRequest, SplitPolicy};
use metros::METROS;

/// What network to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkSpec {
    pub warehouses: usize,
    pub skus: usize,
    pub seed: u64,
}

/// How many lines generated orders have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCount {
    /// Mostly one or two lines, rarely up to twenty.
    Realistic,
    /// Exactly this many distinct skus per order (for benchmarks).
    Exactly(usize),
}

/// A generated network, with the names the batch format carries.
#[derive(Debug, Clone)]
pub struct SyntheticNetwork {
    pub network: Network,
    /// Display names, in the network's warehouse order.
    pub names: Vec<String>,
    pub skus: Vec<Sku>,
}

/// A generated order.
#[derive(Debug, Clone)]
pub struct SyntheticOrder {
    pub id: String,
    pub request: SourcingRequest,
}

/// Five decimals (about a metre): what real address geocoding gives, and
/// short enough to survive a trip through JSON text unchanged.
fn round_coordinate(degrees: f64) -> f64 {
    (degrees * 1e5).round() / 1e5
}

pub fn sku_code(rank: usize) -> Sku {
    Sku::new(format!("SKU{:05}", rank + 1)).expect("generated skus are valid")
}

pub fn generate_network(spec: NetworkSpec) -> SyntheticNetwork {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut warehouses = Vec::with_capacity(spec.warehouses);
    let mut names = Vec::with_capacity(spec.warehouses);
    let mut depth = Vec::with_capacity(spec.warehouses);
    for w in 0..spec.warehouses {
        // The first warehouses take the largest metros, as real networks do;
        // beyond the table, metros repeat (several sites per metro).
        let (metro, lat, lon, _) = METROS[w % METROS.len()];
        let jitter = if w < METROS.len() { 0.05 } else { 0.25 };
        let location = GeoPoint::new(
            round_coordinate(lat + rng.random_range(-jitter..jitter)).clamp(-90.0, 90.0),
            round_coordinate(lon + rng.random_range(-jitter..jitter)).clamp(-180.0, 180.0),
        )
        .expect("clamped to the globe");
        let base = Decimal::new(rng.random_range(400..=750), 2);
        let per_km = Decimal::new(rng.random_range(15..=40), 4);
        let priority = match rng.random_range(0..10) {
            0 => 50,
            1 | 2 => 200,
            _ => 100,
        };
        let code = WarehouseCode::new(format!("WH{:03}", w + 1)).expect("generated codes are valid");
        names.push((code.clone(), format!("{metro} {}", w / METROS.len() + 1)));
        warehouses.push(Warehouse::new(
            code,
            location,
            ShippingRate::new(base, per_km).expect("non-negative"),
            priority,
        ));
        // Some sites are large distribution centres, some small forward stock.
        depth.push(rng.random_range(0.4..1.6));
    }
    let mut network = Network::new(warehouses).expect("generated codes are unique");
    let skus: Vec<Sku> = (0..spec.skus).map(sku_code).collect();
    let ordered_names = network
        .warehouses()
        .iter()
        .map(|w| names.iter().find(|(code, _)| code == w.code()).map(|(_, name)| name.clone()).unwrap_or_default())
        .collect();
    // Iterate warehouses in creation order so the stream does not depend on
    // how priorities happened to sort them.
    for (w, &depth) in depth.iter().enumerate() {
        let code = WarehouseCode::new(format!("WH{:03}", w + 1)).expect("valid");
        for (rank, sku) in skus.iter().enumerate() {
            let r = (rank + 1) as f64;
            let stocked = (3.0 / r.powf(0.55) * depth).min(0.95);
            if rng.random_bool(stocked) {
                let mean = 2.0 + 60.0 * depth / r.sqrt();
                // Geometric-ish: most levels small, a few deep.
                let units = (-mean * (1.0 - rng.random::<f64>()).ln()).ceil() as u32;
                network.set_available(&code, sku.clone(), units.max(1)).expect("known warehouse");
            }
        }
    }
    SyntheticNetwork { network, names: ordered_names, skus }
}

pub fn generate_orders(net: &SyntheticNetwork, count: usize, lines: LineCount, seed: u64) -> Vec<SyntheticOrder> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0dde_5000_0001);
    let n = net.skus.len().max(1);
    let zipf = Zipf::new(n as f64, 1.05).expect("valid Zipf parameters");
    let population: f64 = METROS.iter().map(|m| m.3).sum();
    (0..count)
        .map(|o| {
            let wanted = match lines {
                LineCount::Exactly(k) => k.min(net.skus.len()),
                LineCount::Realistic => match rng.random_range(0..100) {
                    0..45 => 1,
                    45..70 => 2,
                    70..82 => 3,
                    82..95 => rng.random_range(4..=8),
                    _ => rng.random_range(9..=20),
                },
            };
            let mut chosen: Vec<usize> = Vec::with_capacity(wanted);
            while chosen.len() < wanted.min(net.skus.len()) {
                let rank = zipf.sample(&mut rng) as usize - 1;
                if !chosen.contains(&rank) {
                    chosen.push(rank);
                }
            }
            let order_lines = chosen
                .into_iter()
                .map(|rank| {
                    let q = match rng.random_range(0..100) {
                        0..70 => 1,
                        70..90 => 2,
                        90..97 => rng.random_range(3..=5),
                        _ => rng.random_range(6..=20),
                    };
                    OrderLine::new(net.skus[rank].clone(), Quantity::new(q).expect("positive"))
                })
                .collect();
            let mut pick = rng.random_range(0.0..population);
            let metro = METROS
                .iter()
                .find(|m| {
                    pick -= m.3;
                    pick < 0.0
                })
                .unwrap_or(&METROS[0]);
            let destination = GeoPoint::new(
                round_coordinate(metro.1 + rng.random_range(-0.4..0.4)).clamp(-90.0, 90.0),
                round_coordinate(metro.2 + rng.random_range(-0.4..0.4)).clamp(-180.0, 180.0),
            )
            .expect("clamped to the globe");
            let request = SourcingRequest::new(order_lines, destination, SplitPolicy::ShipAvailable, None)
                .expect("distinct skus cannot overflow");
            SyntheticOrder { id: format!("o{:06}", o + 1), request }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_network_and_orders() {
        let spec = NetworkSpec { warehouses: 30, skus: 500, seed: 7 };
        let (a, b) = (generate_network(spec), generate_network(spec));
        assert_eq!(a.names, b.names);
        for sku in &a.skus {
            assert_eq!(a.network.stock_of(sku), b.network.stock_of(sku));
        }
        let oa = generate_orders(&a, 50, LineCount::Realistic, 1);
        let ob = generate_orders(&b, 50, LineCount::Realistic, 1);
        assert!(oa.iter().zip(&ob).all(|(x, y)| x.request == y.request));
    }

    #[test]
    fn popular_skus_are_stocked_widely_and_the_tail_sparsely() {
        let net = generate_network(NetworkSpec { warehouses: 100, skus: 3000, seed: 1 });
        let sites = |rank: usize| net.network.stock_of(&net.skus[rank]).len();
        assert!(sites(0) > 60, "{}", sites(0));
        let tail: usize = (2000..3000).map(sites).sum();
        assert!(tail / 1000 < 10, "{}", tail / 1000);
        let orders = generate_orders(&net, 2000, LineCount::Realistic, 3);
        let single = orders.iter().filter(|o| o.request.lines().len() == 1).count();
        assert!((700..1100).contains(&single), "{single}");
        assert!(orders.iter().all(|o| (1..=20).contains(&o.request.lines().len())));
        let exact = generate_orders(&net, 10, LineCount::Exactly(8), 3);
        assert!(exact.iter().all(|o| o.request.lines().len() == 8));
    }
}
