//! The rest of the order lifecycle: cancelled and substituted units per line
//! (with the lineage of a substitute line), the partial-shipment charge of an
//! order, the promise a backorder was made with and when it went overdue,
//! and substitution proposals.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// SQLite takes one column per `ALTER TABLE`.
async fn add_column(m: &SchemaManager<'_>, table: &str, column: ColumnDef) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(Alias::new(table)).add_column(column).take()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_column(m, "order_lines", big_integer("cancelled").default(0).take()).await?;
        add_column(m, "order_lines", big_integer("substituted").default(0).take()).await?;
        add_column(m, "order_lines", big_integer_null("replaces_line_id").take()).await?;
        add_column(m, "orders", big_integer("partial_shipment_charge_micros").default(0).take()).await?;
        add_column(m, "backorders", integer_null("promised_available").take()).await?;
        add_column(m, "backorders", big_integer_null("overdue_at_ms").take()).await?;
        // The order's queue priority, copied (it never changes): whether a new
        // backorder jumps anyone is one index probe, not a join.
        add_column(m, "backorders", integer("priority").default(0).take()).await?;
        for (name, table, columns) in [
            ("backorders_by_status_and_age", "backorders", &["status", "created_at_ms"][..]),
            ("backorders_by_priority", "backorders", &["product_id", "status", "priority"][..]),
            ("backorders_by_line", "backorders", &["order_line_id"][..]),
            ("shipment_lines_by_line", "shipment_lines", &["order_line_id"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new(table)).if_not_exists();
            for column in columns {
                index.col(Alias::new(*column));
            }
            m.create_index(index).await?;
        }
        m.create_table(
            Table::create()
                .table("substitutions")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("order_id"))
                .col(big_integer("order_line_id"))
                .col(big_integer("substitute_product_id"))
                .col(string("substitute_sku"))
                .col(big_integer("quantity"))
                // PROPOSED, ACCEPTED, DECLINED, APPLIED (directly by an agent).
                .col(string("status"))
                // Positive: the shopper owes it; negative: a refund credit.
                .col(big_integer("price_difference_micros"))
                .col(big_integer_null("substitute_line_id"))
                .col(string("note"))
                .col(big_integer("created_at_ms"))
                .col(big_integer_null("responded_at_ms"))
                .foreign_key(ForeignKey::create().from("substitutions", "order_id").to("orders", "id"))
                .foreign_key(ForeignKey::create().from("substitutions", "order_line_id").to("order_lines", "id"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("substitutions_by_order")
                .table("substitutions")
                .col("order_id")
                .if_not_exists()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("substitutions").if_exists().take()).await?;
        for (name, table) in [
            ("backorders_by_status_and_age", "backorders"),
            ("backorders_by_priority", "backorders"),
            ("backorders_by_line", "backorders"),
            ("shipment_lines_by_line", "shipment_lines"),
        ] {
            m.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned()).await?;
        }
        for (table, column) in [
            ("backorders", "priority"),
            ("backorders", "overdue_at_ms"),
            ("backorders", "promised_available"),
            ("orders", "partial_shipment_charge_micros"),
            ("order_lines", "replaces_line_id"),
            ("order_lines", "substituted"),
            ("order_lines", "cancelled"),
        ] {
            m.alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new(column)).take()).await?;
        }
        Ok(())
    }
}
