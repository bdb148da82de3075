//! Data loaders: every nested lookup is batched per request (no N+1).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use domain::amend::LineAccount;
use infra::store::{
    BackorderRecord, EventRecord, OrderLineRecord, ProductRecord, ShipmentRecord, Store, StoreError, WarehouseRecord,
};

/// The loaders of one request.
pub struct Loaders {
    pub(crate) warehouses_by_id: DataLoader<WarehousesById>,
    pub(crate) orders: DataLoader<OrdersById>,
    pub(crate) warehouses_by_code: DataLoader<WarehousesByCode>,
    pub(crate) products_by_sku: DataLoader<ProductsBySku>,
    pub(crate) lines: DataLoader<OrderLines>,
    pub(crate) shipments: DataLoader<Shipments>,
    pub(crate) backorders: DataLoader<Backorders>,
    pub(crate) events: DataLoader<Events>,
    pub(crate) line_accounts: DataLoader<LineAccounts>,
    /// Cached, so that a queue page can hand over the positions it knows.
    pub(crate) queue_positions: DataLoader<QueuePositions, HashMapCache>,
}

/// How long a loader waits for more keys before it reads. Sibling fields
/// ask for their keys in one pass of the executor, microseconds apart, so
/// a short window batches them as well as the library's default of 1 ms,
/// which every level of nesting would add to a request's latency.
const BATCH_WINDOW: Duration = Duration::from_micros(50);

impl Loaders {
    pub fn new(store: &Store) -> Self {
        fn loader<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(loader: T) -> DataLoader<T> {
            DataLoader::new(loader, |f| tokio::spawn(f)).delay(BATCH_WINDOW)
        }
        Self {
            warehouses_by_id: loader(WarehousesById(store.clone())),
            orders: loader(OrdersById(store.clone())),
            warehouses_by_code: loader(WarehousesByCode(store.clone())),
            products_by_sku: loader(ProductsBySku(store.clone())),
            lines: loader(OrderLines(store.clone())),
            shipments: loader(Shipments(store.clone())),
            backorders: loader(Backorders(store.clone())),
            events: loader(Events(store.clone())),
            line_accounts: loader(LineAccounts(store.clone())),
            queue_positions: DataLoader::with_cache(
                QueuePositions(store.clone()),
                |f| tokio::spawn(f),
                HashMapCache::default(),
            )
            .delay(BATCH_WINDOW),
        }
    }
}

type LoadError = Arc<StoreError>;

pub(crate) struct WarehousesById(Store);
pub(crate) struct OrdersById(Store);
pub(crate) struct WarehousesByCode(Store);
pub(crate) struct ProductsBySku(Store);
pub(crate) struct OrderLines(Store);
pub(crate) struct Shipments(Store);
pub(crate) struct Backorders(Store);
pub(crate) struct Events(Store);
pub(crate) struct LineAccounts(Store);
pub(crate) struct QueuePositions(Store);

impl Loader<i64> for WarehousesById {
    type Value = WarehouseRecord;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, WarehouseRecord>, LoadError> {
        Ok(self.0.warehouses_by_id(keys).await?.into_iter().map(|w| (w.id, w)).collect())
    }
}

impl Loader<i64> for OrdersById {
    type Value = infra::store::OrderRecord;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, infra::store::OrderRecord>, LoadError> {
        Ok(self.0.orders_by_id(keys).await?.into_iter().map(|o| (o.id, o)).collect())
    }
}

impl Loader<String> for WarehousesByCode {
    type Value = WarehouseRecord;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, WarehouseRecord>, LoadError> {
        Ok(self.0.warehouses_by_code(keys).await?.into_iter().map(|w| (w.code.to_string(), w)).collect())
    }
}

impl Loader<String> for ProductsBySku {
    type Value = ProductRecord;
    type Error = LoadError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, ProductRecord>, LoadError> {
        let skus: Vec<&str> = keys.iter().map(String::as_str).collect();
        Ok(self.0.products_by_sku(&skus).await?.into_iter().map(|p| (p.sku.to_string(), p)).collect())
    }
}

/// Groups rows by their order.
fn by_order<T>(rows: Vec<T>, order_of: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut out: HashMap<i64, Vec<T>> = HashMap::new();
    for row in rows {
        out.entry(order_of(&row)).or_default().push(row);
    }
    out
}

impl Loader<i64> for LineAccounts {
    /// By line id, for one order.
    type Value = HashMap<i64, LineAccount>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, LoadError> {
        Ok(self.0.line_accounts(keys).await?)
    }
}

impl Loader<i64> for QueuePositions {
    type Value = u32;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, u32>, LoadError> {
        Ok(self.0.queue_positions(keys).await?)
    }
}

impl Loader<i64> for OrderLines {
    type Value = Vec<OrderLineRecord>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, LoadError> {
        Ok(by_order(self.0.lines_of(keys).await?, |r| r.order_id))
    }
}

impl Loader<i64> for Shipments {
    type Value = Vec<ShipmentRecord>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, LoadError> {
        Ok(by_order(self.0.shipments_of(keys).await?, |r| r.order_id))
    }
}

impl Loader<i64> for Backorders {
    type Value = Vec<BackorderRecord>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, LoadError> {
        Ok(by_order(self.0.backorders_of(keys).await?, |r| r.order_id))
    }
}

impl Loader<i64> for Events {
    type Value = Vec<EventRecord>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, LoadError> {
        Ok(by_order(self.0.events_of(keys).await?, |r| r.order_id))
    }
}
