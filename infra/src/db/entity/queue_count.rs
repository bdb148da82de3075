//! The `queue_counts` table: the rank tree of each sku's backorder queue
//! (`domain::backorder::rank`), one row per node that counts something.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub product_id: i64,
    /// The node's number, its 64 bits as a signed column.
    #[sea_orm(primary_key, auto_increment = false)]
    pub node: i64,
    /// Confirmed backorders the node counts; never zero (such rows go).
    pub entries: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
