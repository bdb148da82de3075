//! Who may do what: API keys (only a hash of each secret is kept), the key
//! that placed each order, the actor of every order event, the audit trail
//! of stock changes, and the gateway's own secrets (what order tokens and
//! opaque ids are derived from).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alias::new("api_keys"))
                .if_not_exists()
                .col(ColumnDef::new(Alias::new("id")).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Alias::new("name")).string().not_null())
                .col(ColumnDef::new(Alias::new("role")).string().not_null())
                .col(ColumnDef::new(Alias::new("partner_code")).string().null())
                .col(ColumnDef::new(Alias::new("secret_hash")).string().not_null().unique_key())
                .col(ColumnDef::new(Alias::new("created_at_ms")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("revoked_at_ms")).big_integer().null())
                .col(ColumnDef::new(Alias::new("last_used_at_ms")).big_integer().null())
                .take(),
        )
        .await?;
        for (table, def) in [
            ("orders", ColumnDef::new(Alias::new("owner_key_id")).big_integer().null().take()),
            ("order_events", ColumnDef::new(Alias::new("actor")).string().null().take()),
            ("shipments", ColumnDef::new(Alias::new("carrier")).string().null().take()),
        ] {
            m.alter_table(Table::alter().table(Alias::new(table)).add_column(def).take()).await?;
        }
        m.create_table(
            Table::create()
                .table(Alias::new("stock_changes"))
                .if_not_exists()
                .col(ColumnDef::new(Alias::new("id")).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Alias::new("warehouse_id")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("product_id")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("kind")).string().not_null())
                .col(ColumnDef::new(Alias::new("actor")).string().not_null())
                .col(ColumnDef::new(Alias::new("on_hand_before")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("on_hand_after")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("safety_before")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("safety_after")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("sequence")).big_integer().null())
                .col(ColumnDef::new(Alias::new("note")).string().null())
                .col(ColumnDef::new(Alias::new("created_at_ms")).big_integer().not_null())
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Alias::new("gateway_secrets"))
                .if_not_exists()
                .col(ColumnDef::new(Alias::new("name")).string().not_null().primary_key())
                .col(ColumnDef::new(Alias::new("value")).string().not_null())
                .take(),
        )
        .await?;
        let db = m.get_connection();
        // An agent's search by the shopper's reference (exact or prefix: a
        // range on the text) and by when they were placed.
        // Compared byte by byte (Postgres's "C" collation, SQLite's own), so
        // that a prefix is a range of the index whatever the locale.
        let reference = match m.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "(customer_reference COLLATE \"C\")",
            _ => "customer_reference",
        };
        db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS orders_by_reference ON orders ({reference}, id)"))
            .await?;
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS orders_by_placed ON orders (created_at_ms, id)").await?;
        // A partner's pick queue: a warehouse's packages of a status, oldest first.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS shipments_pick_queue ON shipments (warehouse_id, status, id)",
        )
        .await?;
        // A warehouse's audit trail, newest first, of every sku or of one.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS stock_changes_by_warehouse ON stock_changes (warehouse_id, id)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS stock_changes_by_level ON stock_changes (warehouse_id, product_id, id)",
        )
        .await?;
        Ok(())
    }
}
