//! The rank tree of every backorder queue (`domain::backorder::rank`), so
//! that a queue position costs a few dozen key lookups instead of a count
//! of everyone ahead; filled from the backorders already confirmed.
//!
//! And three indexes of backorders fewer, each a prefix of a wider one
//! (by order, of `backorders_by_order_and_status`; by product and status,
//! and then confirmation or priority, of `backorders_in_queue_order`):
//! every allocation rewrites the status of the rows it serves, and each
//! index is one more entry to write per row.

use domain::backorder::rank;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// Indexes of backorders a wider one leads with, and their columns.
const REDUNDANT: [(&str, &[&str]); 3] = [
    ("backorders_by_order", &["order_id"]),
    ("backorders_queue", &["product_id", "status", "confirmed_at_ms"]),
    ("backorders_by_priority", &["product_id", "status", "priority"]),
];

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("queue_counts"))
                .if_not_exists()
                .col(ColumnDef::new(Alias::new("product_id")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("node")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("entries")).big_integer().not_null())
                .primary_key(Index::create().col(Alias::new("product_id")).col(Alias::new("node")))
                .take(),
        )
        .await?;
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let confirmed = Query::select()
            .columns(["product_id", "priority", "confirmed_at_ms", "created_at_ms"].map(Alias::new))
            .from(Alias::new("backorders"))
            .and_where(Expr::col(Alias::new("status")).eq("CONFIRMED"))
            .take();
        let mut entries = Vec::new();
        for row in db.query_all_raw(backend.build(&confirmed)).await? {
            let product: i64 = row.try_get("", "product_id")?;
            let priority: i32 = row.try_get("", "priority")?;
            let confirmed: Option<i64> = row.try_get("", "confirmed_at_ms")?;
            let created: i64 = row.try_get("", "created_at_ms")?;
            entries.push((product, rank::queue_key(priority, confirmed.unwrap_or(created))));
        }
        let rows: Vec<_> = rank::changes(entries, 1).into_iter().collect();
        for chunk in rows.chunks(500) {
            let mut insert = Query::insert();
            insert.into_table(Alias::new("queue_counts")).columns(["product_id", "node", "entries"].map(Alias::new));
            for &((product, node), entries) in chunk {
                insert.values_panic([product.into(), rank::node_column(node).into(), entries.into()]);
            }
            db.execute_raw(backend.build(&insert)).await?;
        }
        for redundant in REDUNDANT {
            m.drop_index(Index::drop().name(redundant.0).table(Alias::new("backorders")).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in REDUNDANT {
            let mut index = Index::create().name(name).table(Alias::new("backorders")).if_not_exists().take();
            for column in columns {
                index.col(Alias::new(*column));
            }
            m.create_index(index).await?;
        }
        m.drop_table(Table::drop().table(Alias::new("queue_counts")).to_owned()).await
    }
}
