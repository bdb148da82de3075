//! Warehouses: the `warehouses` and `warehouse` queries and `upsertWarehouse`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject};
use infra::store::WarehouseRecord;

use super::scalars::DecimalValue;
use super::{app, internal, loaders, page_size};
use crate::error::{UserError, into_payload};

/// A warehouse of the network.
pub(crate) struct Warehouse(pub WarehouseRecord);

#[Object]
impl Warehouse {
    /// Unique code, e.g. "WH001".
    async fn code(&self) -> &str {
        self.0.code.as_str()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Code of the 3PL partner operating it.
    async fn partner_code(&self) -> Option<&str> {
        self.0.partner_code.as_deref()
    }

    async fn latitude(&self) -> f64 {
        self.0.location.latitude()
    }

    async fn longitude(&self) -> f64 {
        self.0.location.longitude()
    }

    /// Lower is preferred when everything else ties.
    async fn priority(&self) -> i32 {
        self.0.priority
    }

    /// Days from release to hand-over to the carrier.
    async fn handling_days(&self) -> u32 {
        self.0.handling_days
    }

    /// Cost of one shipment: `baseCost + costPerKm × distanceKm`.
    async fn base_cost(&self) -> DecimalValue {
        DecimalValue(self.0.base_cost)
    }

    async fn cost_per_km(&self) -> DecimalValue {
        DecimalValue(self.0.cost_per_km)
    }

    /// Inactive warehouses are never sourced from.
    async fn active(&self) -> bool {
        self.0.active
    }
}

#[derive(Default)]
pub(crate) struct NetworkQuery;

#[Object]
impl NetworkQuery {
    /// Warehouses in code order.
    #[graphql(complexity = "super::page_weight(first) * child_complexity")]
    async fn warehouses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        active: Option<bool>,
    ) -> async_graphql::Result<Connection<String, Warehouse, EmptyFields, EmptyFields>> {
        let limit = page_size(first)?;
        let partner = super::caller(ctx)?.partner_fence();
        let rows = app(ctx)?
            .store
            .warehouses_page(after.as_deref(), limit as u64 + 1, active, partner)
            .await
            .map_err(internal)?;
        Ok(super::page(rows, limit, after.is_some(), |w| w.code.to_string(), Warehouse))
    }

    /// A warehouse by code; to a partner, only its own.
    async fn warehouse(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<Option<Warehouse>> {
        let caller = super::caller(ctx)?;
        let found = loaders(ctx)?.warehouses_by_code.load_one(code).await.map_err(internal)?;
        Ok(found.filter(|w| caller.sees_warehouse(w.partner_code.as_deref())).map(Warehouse))
    }
}

/// A warehouse to create, or to update by code.
#[derive(Debug, InputObject)]
pub(crate) struct UpsertWarehouseInput {
    pub code: String,
    pub name: String,
    /// The operating partner, created on first mention.
    pub partner_code: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    #[graphql(default = 100)]
    pub priority: i32,
    #[graphql(default = 1)]
    pub handling_days: i32,
    pub base_cost: DecimalValue,
    pub cost_per_km: DecimalValue,
    #[graphql(default = true)]
    pub active: bool,
}

#[derive(SimpleObject)]
pub(crate) struct UpsertWarehousePayload {
    pub warehouse: Option<Warehouse>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub(crate) struct NetworkMutation;

#[Object]
impl NetworkMutation {
    /// Creates a warehouse or updates the one with this code.
    async fn upsert_warehouse(
        &self,
        ctx: &Context<'_>,
        input: UpsertWarehouseInput,
    ) -> async_graphql::Result<UpsertWarehousePayload> {
        let draft = crate::operations::WarehouseDraft {
            code: &input.code,
            name: &input.name,
            partner_code: input.partner_code.as_deref(),
            latitude: input.latitude,
            longitude: input.longitude,
            priority: input.priority,
            handling_days: input.handling_days,
            base_cost: input.base_cost.0,
            cost_per_km: input.cost_per_km.0,
            active: input.active,
        };
        let result = crate::operations::upsert_warehouse(app(ctx)?, draft).await;
        let (warehouse, user_errors) = into_payload(result)?;
        Ok(UpsertWarehousePayload { warehouse: warehouse.map(Warehouse), user_errors })
    }
}
