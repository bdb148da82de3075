//! The database: connection, migrations and the entities behind the stores.
//!
//! SQLite (a file under the data directory) is the embedded default; Postgres
//! is the production database. The same migrations and queries serve both.

pub mod entity;
pub mod migration;

use std::path::Path;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

/// Where the database is.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…`.
    pub url: String,
    /// Pool size; SQLite serializes writers anyway, so a few suffice there.
    pub max_connections: u32,
}

impl DatabaseSettings {
    /// The embedded default: a SQLite file in `data_dir`, created if missing.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        let file = data_dir.join("shipmix.sqlite");
        Self { url: format!("sqlite://{}?mode=rwc", file.display()), max_connections: 4 }
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }
}

/// Connects and, for SQLite, sets the pragmas that let readers and the
/// writer proceed side by side.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if settings.is_sqlite() {
        // WAL lets readers run while a writer commits; the busy timeout makes
        // concurrent writers queue instead of failing with SQLITE_BUSY.
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
        });
    }
    let db = Database::connect(options).await?;
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    migration::Migrator::up(db, None).await
}
