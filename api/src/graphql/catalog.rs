//! Products: `product`, `products` and `upsertProducts`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject};
use infra::store::ProductRecord;

use super::scalars::Money;
use super::{app, internal, loaders, page_size};
use crate::error::{UserError, into_payload};

/// A product of the catalog.
pub(crate) struct Product(pub ProductRecord);

#[Object]
impl Product {
    async fn sku(&self) -> &str {
        self.0.sku.as_str()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn unit_price(&self) -> Money {
        Money(self.0.unit_price)
    }

    /// Whether units nobody holds may be ordered and wait for restock.
    async fn backorderable(&self) -> bool {
        self.0.backorderable
    }

    /// Supplier lead time: days until a restock when no receipt is expected.
    async fn lead_time_days(&self) -> u32 {
        self.0.lead_time_days
    }

    /// Ranked substitutes, best first.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn substitutes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Product>> {
        let keys: Vec<String> = self.0.substitutes.iter().map(ToString::to_string).collect();
        let mut found = loaders(ctx)?.products_by_sku.load_many(keys.clone()).await.map_err(internal)?;
        Ok(keys.iter().filter_map(|k| found.remove(k)).map(Product).collect())
    }
}

#[derive(Default)]
pub(crate) struct CatalogQuery;

#[Object]
impl CatalogQuery {
    async fn product(&self, ctx: &Context<'_>, sku: String) -> async_graphql::Result<Option<Product>> {
        Ok(loaders(ctx)?.products_by_sku.load_one(sku).await.map_err(internal)?.map(Product))
    }

    /// Products in sku order; `search` matches sku or name, case-insensitive.
    #[graphql(complexity = "super::page_weight(first) * child_complexity")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> async_graphql::Result<Connection<String, Product, EmptyFields, EmptyFields>> {
        let limit = page_size(first)?;
        if let Some(search) = &search {
            crate::input::bounded(search, crate::input::MAX_SEARCH, &["search"])
                .map_err(|e| async_graphql::ErrorExtensions::extend(&e))?;
        }
        let rows = app(ctx)?
            .store
            .products_page(after.as_deref(), limit as u64 + 1, search.as_deref())
            .await
            .map_err(internal)?;
        Ok(super::page(rows, limit, after.is_some(), |p| p.sku.to_string(), Product))
    }
}

/// A product to create, or to update by sku.
#[derive(Debug, InputObject)]
pub(crate) struct ProductInput {
    pub sku: String,
    pub name: String,
    pub unit_price: Money,
    #[graphql(default = true)]
    pub backorderable: bool,
    #[graphql(default = 14)]
    pub lead_time_days: i32,
    /// Ranked substitutes, best first; each must exist or be in the same call.
    #[graphql(default)]
    pub substitutes: Vec<String>,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct UpsertProductsPayload {
    #[graphql(skip)]
    pub records: Vec<ProductRecord>,
    pub user_errors: Vec<UserError>,
}

#[ComplexObject]
impl UpsertProductsPayload {
    async fn products(&self) -> Vec<Product> {
        self.records.iter().cloned().map(Product).collect()
    }
}

#[derive(Default)]
pub(crate) struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Creates or updates products by sku, all or nothing.
    async fn upsert_products(
        &self,
        ctx: &Context<'_>,
        input: Vec<ProductInput>,
    ) -> async_graphql::Result<UpsertProductsPayload> {
        let drafts: Vec<crate::operations::ProductDraft<'_>> = input
            .iter()
            .map(|p| crate::operations::ProductDraft {
                sku: &p.sku,
                name: &p.name,
                unit_price: p.unit_price.0,
                backorderable: p.backorderable,
                lead_time_days: p.lead_time_days,
                substitutes: &p.substitutes,
            })
            .collect();
        let result = crate::operations::upsert_products(app(ctx)?, &drafts).await;
        let (records, user_errors) = into_payload(result)?;
        Ok(UpsertProductsPayload { records: records.unwrap_or_default(), user_errors })
    }
}
