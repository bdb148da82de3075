//! The `shipments` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "shipments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub warehouse_id: i64,
    pub status: String,
    pub tracking_number: Option<String>,
    /// Who carries it, as the partner said when it shipped.
    pub carrier: Option<String>,
    pub cost_micros: i64,
    pub distance_m: i64,
    pub estimated_delivery: i32,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
