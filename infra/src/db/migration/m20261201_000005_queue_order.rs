//! Indexes in queue order, so that whatever reads a backorder queue reads
//! only the part it needs: allocation the head of one sku's queue, a queue
//! position the entries ahead of one backorder, the queue page its first
//! rows; an estimate refresh the backorders whose stored date must move.
//! Queue order is higher order priority first, then the oldest
//! confirmation, then the oldest backorder.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, leading) in [
            // One sku's queue: allocation, positions, the page for a sku.
            ("backorders_in_queue_order", &["product_id", "status"][..]),
            // Every sku's queue: the page by status.
            ("backorders_page_order", &["status"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new("backorders")).if_not_exists();
            for column in leading {
                index.col(Alias::new(*column));
            }
            index
                .col((Alias::new("priority"), IndexOrder::Desc))
                .col((Alias::new("confirmed_at_ms"), IndexOrder::Asc))
                .col((Alias::new("id"), IndexOrder::Asc));
            m.create_index(index).await?;
        }
        for (name, columns) in [
            // Backorders of an order by status: what a line's account and an
            // order's settlement read (SQLite would otherwise pick the status
            // index and scan every waiting backorder).
            ("backorders_by_order_and_status", &["order_id", "status"][..]),
            // Waiting backorders by stored estimate: an estimate refresh finds
            // the few whose date must move without reading the queue.
            ("backorders_by_estimate", &["product_id", "status", "estimated_available"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new("backorders")).if_not_exists();
            for column in columns {
                index.col(Alias::new(*column));
            }
            m.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "backorders_in_queue_order",
            "backorders_page_order",
            "backorders_by_estimate",
            "backorders_by_order_and_status",
        ] {
            m.drop_index(Index::drop().name(name).table(Alias::new("backorders")).to_owned()).await?;
        }
        Ok(())
    }
}
