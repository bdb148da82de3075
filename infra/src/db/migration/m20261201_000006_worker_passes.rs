//! What the backorder worker's passes and the page of every status select,
//! indexed so that a pass reads its candidates and nothing that was dealt
//! with before: a product whose queue's dates are not today's; a waiting
//! backorder not yet reported overdue, by age; one whose estimate slipped
//! and whose delay credit is not decided yet, by how far it slipped. A
//! backorder leaves each index once its pass dealt with it (flagged
//! overdue; credited, or found owed nothing), so neither grows with what
//! earlier passes did.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("backorders"))
                .add_column(ColumnDef::new(Alias::new("delay_settled_at_ms")).big_integer().null())
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("products"))
                .add_column(ColumnDef::new(Alias::new("tail_dated_on")).integer().null())
                .take(),
        )
        .await?;
        let db = m.get_connection();
        // The worker's daily re-dating finds the products it has not done yet.
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS products_by_tail_day ON products (tail_dated_on)").await?;
        // Credits granted before this column existed were decided then.
        db.execute_unprepared(
            "UPDATE backorders SET delay_settled_at_ms = \
             (SELECT c.created_at_ms FROM compensations c WHERE c.backorder_id = backorders.id) \
             WHERE id IN (SELECT backorder_id FROM compensations WHERE backorder_id IS NOT NULL)",
        )
        .await?;
        // Partial and expression indexes read the same on SQLite and
        // Postgres; the predicates name no parameter, so a query with bound
        // values still matches them.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS backorders_not_yet_overdue \
             ON backorders (status, created_at_ms) WHERE overdue_at_ms IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS backorders_slipped \
             ON backorders (status, (estimated_available - promised_available)) WHERE delay_settled_at_ms IS NULL",
        )
        .await?;
        // A page of every status lists unconfirmed backorders last: the
        // same order as an expression index, of every sku and of one.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS backorders_every_status_order \
             ON backorders ((confirmed_at_ms IS NULL), priority DESC, confirmed_at_ms, id)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS backorders_every_status_order_by_product \
             ON backorders (product_id, (confirmed_at_ms IS NULL), priority DESC, confirmed_at_ms, id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS backorders_not_yet_overdue").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS products_by_tail_day").await?;
        m.alter_table(Table::alter().table(Alias::new("products")).drop_column(Alias::new("tail_dated_on")).take())
            .await?;
        for index in ["backorders_slipped", "backorders_every_status_order", "backorders_every_status_order_by_product"]
        {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        m.alter_table(
            Table::alter().table(Alias::new("backorders")).drop_column(Alias::new("delay_settled_at_ms")).take(),
        )
        .await
    }
}
