//! The batch format round-trips through `infra::batch`.

use domain::synth::{LineCount, NetworkSpec, generate_network, generate_orders};
use infra::batch::{self, BatchOrder};

use crate::support::Scratch;

#[test]
fn a_written_network_and_orders_read_back_identically() {
    let net = generate_network(NetworkSpec { warehouses: 15, skus: 200, seed: 4 });
    let orders: Vec<BatchOrder> = generate_orders(&net, 30, LineCount::Realistic, 4)
        .into_iter()
        .map(|o| BatchOrder { id: o.id, request: o.request })
        .collect();
    let scratch = Scratch::new();
    let n = scratch.file("n.json", &batch::network_to_json(&net.network, &net.names, &net.skus));
    let o = scratch.file("o.json", &batch::orders_to_json(&orders));
    let back = batch::read_network(&n).unwrap();
    assert_eq!(back.names, net.names);
    assert_eq!(back.network.warehouses(), net.network.warehouses());
    for sku in &net.skus {
        assert_eq!(back.network.stock_of(sku), net.network.stock_of(sku));
    }
    let orders_back = batch::read_orders(&o).unwrap();
    assert_eq!(orders_back.len(), orders.len());
    for (a, b) in orders.iter().zip(&orders_back) {
        assert_eq!((&a.id, &a.request), (&b.id, &b.request));
    }
}
