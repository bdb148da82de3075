//! The `compensations` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "compensations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub amount_micros: i64,
    pub reason: String,
    /// `MANUAL` or `AUTOMATIC`.
    pub kind: String,
    /// Set for automatic delay credits: at most one per backorder.
    pub backorder_id: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
