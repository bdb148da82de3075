//! Schema migrations, applied by `shipmix migrate` and on `serve` start.
//! The same migrations run on SQLite and Postgres. A migration, once
//! released, is never edited: changes come as new migrations.

mod m20261126_000001_initial;
mod m20261126_000002_compensations;
mod m20261126_000003_lifecycle;
mod m20261201_000004_one_open_package;
mod m20261201_000005_queue_order;
mod m20261201_000006_worker_passes;
mod m20261202_000007_access;
mod m20261202_000008_queue_ranks;

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_initial::Migration),
            Box::new(m20261126_000002_compensations::Migration),
            Box::new(m20261126_000003_lifecycle::Migration),
            Box::new(m20261201_000004_one_open_package::Migration),
            Box::new(m20261201_000005_queue_order::Migration),
            Box::new(m20261201_000006_worker_passes::Migration),
            Box::new(m20261202_000007_access::Migration),
            Box::new(m20261202_000008_queue_ranks::Migration),
        ]
    }
}
