//! At most one open package per order and warehouse. Units that join an
//! order at a warehouse go into the package already open there; two open
//! packages from one warehouse would ship one order as two for no reason.
//! The store keeps this under the order's lock; the index makes a bug that
//! breaks it fail loudly instead of splitting a delivery.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Partial unique indexes read the same on SQLite and Postgres.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS shipments_one_open_per_warehouse \
                 ON shipments (order_id, warehouse_id) WHERE status IN ('PENDING', 'RELEASED')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS shipments_one_open_per_warehouse").await?;
        Ok(())
    }
}
