//! The demo network `serve --demo` loads: a few partners, twenty warehouses
//! in real metro areas, a few hundred products in families of substitutes,
//! and stock from the seeded generator. It goes only into an empty database:
//! restarting with `--demo` on a data directory that holds a network (demo
//! or not, with orders, reservations and feeds since) changes nothing.

use domain::synth::{NetworkSpec, generate_network};
use domain::{Money, Sku};
use infra::store::{ProductInput, StockInput, Store, StoreError, WarehouseInput};
use rust_decimal::Decimal;

pub const WAREHOUSES: usize = 20;
pub const PRODUCTS: usize = 300;
const SEED: u64 = 2026;
const PARTNERS: [&str; 3] = ["ACME3PL", "NORTHWIND", "BLUEJAY"];
const KINDS: [&str; 10] =
    ["Tent", "Sleeping Bag", "Stove", "Lantern", "Backpack", "Water Filter", "Jacket", "Boots", "Pad", "Chair"];
const STYLES: [&str; 6] = ["Trail", "Summit", "Basecamp", "Ultralight", "Expedition", "Canyon"];
const EDITIONS: [&str; 5] = ["", " II", " Pro", " Lite", " XL"];

/// Products come in families of ten skus of one kind; each product's
/// substitutes are the next two of its family.
fn product(rank: usize, sku: &Sku) -> ProductInput {
    let family = rank / 10;
    let kind = KINDS[family % KINDS.len()];
    let style = STYLES[(rank * 7 + family) % STYLES.len()];
    let edition = EDITIONS[rank % EDITIONS.len()];
    let base = 10 * (1 + family % KINDS.len()) as i64;
    let cents = (base * 100 + (rank as i64 * 137) % 4_000) / 5 * 5 - 1;
    let substitutes = (1..=2)
        .map(|k| family * 10 + (rank % 10 + k) % 10)
        .filter(|&r| r < PRODUCTS && r != rank)
        .map(domain::synth::sku_code)
        .collect();
    ProductInput {
        sku: sku.clone(),
        name: format!("{style} {kind}{edition}"),
        unit_price: Money::new(Decimal::new(cents, 2)),
        backorderable: !rank.is_multiple_of(11),
        lead_time_days: 5 + (rank % 5) as u32 * 5,
        substitutes,
    }
}

/// Loads the demo network into `store` if it holds no network yet; tells
/// whether it did. Two replicas starting at once on an empty database may
/// both load it: the loads are upserts of the same values, so the result is
/// one demo network.
pub async fn load(store: &Store) -> Result<bool, StoreError> {
    if !store.is_empty().await? {
        return Ok(false);
    }
    let synthetic = generate_network(NetworkSpec { warehouses: WAREHOUSES, skus: PRODUCTS, seed: SEED });
    for (i, (warehouse, name)) in synthetic.network.warehouses().iter().zip(&synthetic.names).enumerate() {
        store
            .upsert_warehouse(WarehouseInput {
                code: warehouse.code().clone(),
                name: name.clone(),
                partner_code: Some(PARTNERS[i % PARTNERS.len()].to_owned()),
                location: warehouse.location(),
                priority: warehouse.priority(),
                handling_days: 1 + (i % 2) as u32,
                rate: *warehouse.rate(),
                active: true,
            })
            .await?;
    }
    // Substitutes must exist first: products go in one batch.
    let products = synthetic.skus.iter().enumerate().map(|(rank, sku)| product(rank, sku)).collect();
    store.upsert_products(products).await?;
    let levels: Vec<StockInput> = synthetic
        .skus
        .iter()
        .flat_map(|sku| {
            let network = &synthetic.network;
            network.stock_of(sku).iter().map(move |&(w, units)| StockInput {
                warehouse: network.warehouse(w).code().clone(),
                sku: sku.clone(),
                on_hand: units,
                safety_stock: Some(0),
                sequence: None,
            })
        })
        .collect();
    store.set_stock_levels(&levels).await?;
    Ok(true)
}

/// The demo's keys, one per role: published (README), so they are for the
/// demo network only. A PARTNER key for the first demo partner.
pub const KEYS: [(&str, domain::access::Role, Option<&str>, &str); 4] = [
    ("demo storefront", domain::access::Role::Storefront, None, "shm_demo_storefront"),
    ("demo partner ACME3PL", domain::access::Role::Partner, Some(PARTNERS[0]), "shm_demo_partner"),
    ("demo agent", domain::access::Role::Agent, None, "shm_demo_agent"),
    ("demo admin", domain::access::Role::Admin, None, "shm_demo_admin"),
];

/// Creates the demo keys that are missing; every start with `--demo` has
/// all four.
pub async fn ensure_keys(store: &Store) -> Result<(), StoreError> {
    for (name, role, partner, secret) in KEYS {
        let grant = domain::access::Grant::new(role, partner.map(str::to_owned))
            .map_err(|e| StoreError::Invariant(format!("demo key {name}: {e}")))?;
        store.ensure_key(name, grant, secret).await?;
    }
    Ok(())
}
