//! The `products` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub sku: String,
    pub name: String,
    pub unit_price_micros: i64,
    pub backorderable: bool,
    pub lead_time_days: i32,
    pub updated_at_ms: i64,
    /// The day (days since the epoch) the estimates of its whole queue were
    /// last dated; `None` when part of the queue waits for the worker.
    pub tail_dated_on: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
