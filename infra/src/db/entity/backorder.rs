//! The `backorders` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backorders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub order_line_id: i64,
    pub product_id: i64,
    pub sku: String,
    pub quantity: i64,
    pub status: String,
    pub estimated_available: i32,
    pub confirmed_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The estimate first promised: what a delay is measured against.
    pub promised_available: Option<i32>,
    /// When it was first reported overdue.
    pub overdue_at_ms: Option<i64>,
    /// The order's queue priority (higher is served first).
    pub priority: i32,
    /// When the automatic delay credit was decided for it (granted, or
    /// nothing was owed): at most once per backorder.
    pub delay_settled_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
