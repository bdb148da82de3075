//! `shipmix import`: loads a batch network file (README.md, "File formats") into the
//! configured database.
//!
//! Warehouses are upserted by code. Skus the catalog does not know yet are
//! created with their sku as name, a zero price and the default lead time;
//! set the real catalog with `upsertProducts`. Each stock row becomes an
//! absolute level with `onHand` = the file's `available` and no safety stock
//! (a zero too: the warehouse stocks the sku and has none now).

use std::path::Path;

use domain::Money;
use infra::batch;
use infra::store::{ProductInput, StockInput, Store, WarehouseInput};

/// Lead time given to products the import creates.
const DEFAULT_LEAD_TIME_DAYS: u32 = 14;

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub warehouses: usize,
    pub new_products: usize,
    pub levels: usize,
}

pub async fn import_network(store: &Store, path: &Path) -> anyhow::Result<Imported> {
    let file = batch::read_network(path)?;
    let network = &file.network;
    for (warehouse, name) in network.warehouses().iter().zip(&file.names) {
        store
            .upsert_warehouse(WarehouseInput {
                code: warehouse.code().clone(),
                name: if name.is_empty() { warehouse.code().to_string() } else { name.clone() },
                partner_code: None,
                location: warehouse.location(),
                priority: warehouse.priority(),
                handling_days: 1,
                rate: *warehouse.rate(),
                active: true,
            })
            .await?;
    }
    let mut skus: Vec<&domain::Sku> = file.levels.iter().map(|(_, sku, _)| sku).collect();
    skus.sort_unstable();
    skus.dedup();
    let known: Vec<String> = store
        .products_by_sku(&skus.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|p| p.sku.to_string())
        .collect();
    let new_products: Vec<ProductInput> = skus
        .iter()
        .filter(|s| !known.iter().any(|k| k == s.as_str()))
        .map(|sku| ProductInput {
            sku: (*sku).clone(),
            name: sku.to_string(),
            unit_price: Money::ZERO,
            backorderable: true,
            lead_time_days: DEFAULT_LEAD_TIME_DAYS,
            substitutes: Vec::new(),
        })
        .collect();
    let created = new_products.len();
    for chunk in new_products.chunks(1_000) {
        store.upsert_products(chunk.to_vec()).await?;
    }
    let levels: Vec<StockInput> = file
        .levels
        .iter()
        .map(|(warehouse, sku, units)| StockInput {
            warehouse: warehouse.clone(),
            sku: sku.clone(),
            on_hand: *units,
            safety_stock: Some(0),
            sequence: None,
        })
        .collect();
    for chunk in levels.chunks(5_000) {
        store.set_stock_levels(chunk).await?;
    }
    Ok(Imported { warehouses: network.warehouses().len(), new_products: created, levels: levels.len() })
}
