//! Compensations: exact-money credits on an order (for delays, by hand or
//! automatically once per backorder).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("compensations")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("order_id"))
                .col(big_integer("amount_micros"))
                .col(string("reason"))
                .col(string("kind"))
                // Unique where set: an automatic credit is issued at most once per backorder.
                .col(big_integer_null("backorder_id").unique_key())
                .col(big_integer("created_at_ms"))
                .foreign_key(ForeignKey::create().from("compensations", "order_id").to("orders", "id"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("compensations_by_order")
                .table("compensations")
                .col("order_id")
                .if_not_exists()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("compensations").if_exists().take()).await
    }
}
