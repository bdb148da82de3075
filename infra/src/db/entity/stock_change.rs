//! The `stock_changes` table: the audit trail of stock levels.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub warehouse_id: i64,
    pub product_id: i64,
    /// `SET`, `FEED`, `RECEIVE`, `ADJUST`, `SHORT_PICK`, `SHIP`.
    pub kind: String,
    pub actor: String,
    pub on_hand_before: i64,
    pub on_hand_after: i64,
    pub safety_before: i64,
    pub safety_after: i64,
    pub sequence: Option<i64>,
    pub note: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
