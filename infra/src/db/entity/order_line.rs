//! The `order_lines` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "order_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub line_no: i32,
    pub product_id: i64,
    pub sku: String,
    pub quantity: i64,
    pub unit_price_micros: i64,
    /// Units cancelled (by hand, with their order, or expired unconfirmed).
    pub cancelled: i64,
    /// Units that ship as another product instead.
    pub substituted: i64,
    /// Set on a substitute line: the line it stands in for.
    pub replaces_line_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
