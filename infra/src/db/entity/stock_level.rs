//! The `stock_levels` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_levels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub warehouse_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub product_id: i64,
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    /// Bumped on every change (feeds and reservations alike).
    pub version: i64,
    /// Sequence of the feed that last set the level; older feeds are ignored.
    pub feed_sequence: Option<i64>,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
