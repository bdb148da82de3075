//! The `warehouses` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "warehouses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub partner_id: Option<i64>,
    pub latitude: f64,
    pub longitude: f64,
    pub priority: i32,
    pub handling_days: i32,
    pub base_cost_micros: i64,
    pub cost_per_km_micros: i64,
    pub active: bool,
    /// Bumped on every change, so plan tokens notice a new tariff.
    pub version: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
