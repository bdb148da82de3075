//! The `substitutions` table: proposals and applied substitutions of a line.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "substitutions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub order_line_id: i64,
    pub substitute_product_id: i64,
    pub substitute_sku: String,
    pub quantity: i64,
    /// `PROPOSED`, `ACCEPTED`, `DECLINED` or `APPLIED`.
    pub status: String,
    /// Positive: a charge; negative: a refund credit.
    pub price_difference_micros: i64,
    /// The line that ships instead, once applied.
    pub substitute_line_id: Option<i64>,
    pub note: String,
    pub created_at_ms: i64,
    pub responded_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
