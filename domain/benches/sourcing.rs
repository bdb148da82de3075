//! Plan time per order for 1, 3, 8 and 20 lines over 40 and 200 warehouses.
//!
//! Each iteration plans the next order of a fixed, seeded pool of realistic
//! orders, so a figure is the mean over many different orders rather than the
//! time of one lucky instance. Per-order percentiles come from
//! `shipmix simulate` (BENCHMARKS.md).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use domain::sourcing::{SearchBudget, plan_fulfillment};
use domain::synth::{LineCount, NetworkSpec, generate_network, generate_orders};

fn plan_time(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_fulfillment");
    for warehouses in [40, 200] {
        let net = generate_network(NetworkSpec { warehouses, skus: 5000, seed: 1 });
        for lines in [1, 3, 8, 20] {
            let orders = generate_orders(&net, 256, LineCount::Exactly(lines), 2);
            let mut next = orders.iter().cycle();
            group.bench_function(BenchmarkId::new(format!("{warehouses}wh"), format!("{lines}lines")), |b| {
                b.iter(|| {
                    let order = next.next().expect("cycle never ends");
                    black_box(plan_fulfillment(&order.request, &net.network, SearchBudget::default()))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, plan_time);
criterion_main!(benches);
