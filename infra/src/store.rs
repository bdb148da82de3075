//! Stores: the database behind plain functions that speak in domain values
//! and plain records. No sea-orm type crosses this module's boundary.

mod amend;
mod backorders;
mod catalog;
mod compensation;
mod keys;
mod levels;
mod lifecycle;
mod locks;
mod maintenance;
mod network;
mod orders;
mod placing;
mod queue;
mod ranks;
mod rows;
mod stock;
mod stored;

use std::sync::Arc;

use rust_decimal::Decimal;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use thiserror::Error;

pub use amend::{ShortPickOutcome, SubstitutionMode, SubstitutionRecord};
pub use backorders::queue_reads;
pub use catalog::{ProductInput, ProductRecord};
pub use compensation::CompensationRecord;
pub use domain::compensation::OrderTotals;
pub use keys::{KEY_HASH_KIND, KEY_PREFIX, KeyRecord, NewKey, OrderPart};
pub use levels::{LocationStock, SkuStock, SourcingSnapshot, StockVersion, snapshot_from};
pub use maintenance::MaintenanceReport;
pub use maintenance::worker_reads;
pub use network::{WarehouseInput, WarehouseRecord};
pub use orders::{
    BackorderRecord, EventRecord, NewOrder, OrderFilter, OrderLineRecord, OrderRecord, PlacedOrder, ReferenceMatch,
    ShipmentLineRecord, ShipmentRecord,
};
pub use queue::ReceiptRecord;
pub use stock::{FeedOutcome, StockChangeRecord, StockInput};

use crate::clock::{Clock, SystemClock};
use domain::Money;

/// A failure of a store call: either the caller's input (which the API
/// turns into a typed user error) or ours.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unknown sku {0}")]
    UnknownSku(String),
    #[error("unknown warehouse {0}")]
    UnknownWarehouse(String),
    /// A concurrent writer changed what this write relied on (or the
    /// database chose it as a deadlock victim): nothing was written; retry.
    #[error("a concurrent change got in the way; nothing was written")]
    StockMoved,
    #[error("idempotency key {0:?} was already used with a different request")]
    IdempotencyConflict(String),
    #[error("unknown backorder {0}")]
    UnknownBackorder(i64),
    #[error("unknown shipment {0}")]
    UnknownShipment(i64),
    #[error("unknown order {0}")]
    UnknownOrder(i64),
    #[error("unknown order line {0}")]
    UnknownLine(i64),
    #[error("unknown substitution {0}")]
    UnknownSubstitution(i64),
    #[error("unknown API key {0}")]
    UnknownKey(i64),
    /// Units that left the warehouse cannot be cancelled.
    #[error("{0}")]
    AlreadyShipped(String),
    /// The object is not in a state that allows the change.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    InvalidTransition(domain::backorder::InvalidTransition),
    #[error("{0}")]
    Invalid(String),
    /// A quantity would leave its range (a level above the most it holds).
    #[error("{0}")]
    OutOfRange(String),
    /// Stored rows disagree with a rule the store keeps (a line whose units
    /// do not add up, a lock taken against the lock order): a bug or a
    /// hand-edited database, never the caller's fault. Nothing was written.
    #[error("broken invariant: {0}")]
    Invariant(String),
    #[error("database error")]
    Database(#[source] DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_lost_race(&err) { StoreError::StockMoved } else { StoreError::Database(err) }
    }
}

/// Postgres aborted the transaction as a deadlock victim or a serialization
/// failure, or refused a lock taken without waiting (`NOWAIT`), or SQLite
/// stayed busy past its timeout: another writer won, and the same write may
/// succeed if run again.
fn is_lost_race(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err else {
        return false;
    };
    let code = e.as_database_error().and_then(|d| d.code());
    matches!(code.as_deref(), Some("40P01" | "40001" | "55P03" | "5" | "517"))
}

impl StoreError {
    /// A unique-constraint violation means another writer got there first.
    pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
    }
}

tokio::task_local! {
    /// Who the writes of the current task act for.
    static ACTOR: domain::access::Actor;
}

/// Runs `work` with every order event and stock change it writes recorded
/// as caused by `actor` (a request's key). Writes outside any such scope
/// are the gateway's own (the backorder worker, a restock's allocation
/// triggered by nobody in particular).
pub async fn acting_as<F: std::future::Future>(actor: domain::access::Actor, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}

/// The label of whoever the current task acts for.
pub(crate) fn current_actor() -> String {
    ACTOR.try_with(domain::access::Actor::label).unwrap_or_else(|_| domain::access::Actor::Gateway.label())
}

/// The database and the queries over it. Cheap to clone (a pool handle and
/// the clock every write is stamped with).
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl Store {
    /// A store on the wall clock.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_clock(db, Arc::new(SystemClock))
    }

    pub fn with_clock(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Now, by the store's clock: what every write is stamped with and what
    /// expiry, overdue and estimates are measured from.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a transaction that reads first and writes
    /// later could not upgrade once another writer committed, and would fail
    /// instead of waiting its turn.
    pub(crate) async fn write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// Connections the pool holds, and how many of them are idle.
    pub fn pool_use(&self) -> (u32, usize) {
        match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        }
    }
}

/// Money is stored in whole millionths of the currency unit.
pub const MICROS_SCALE: u32 = 6;

pub(crate) fn to_micros(amount: Decimal) -> Result<i64, StoreError> {
    let scaled = amount
        .checked_mul(Decimal::from(1_000_000))
        .ok_or_else(|| StoreError::Invalid(format!("{amount} is too large")))?;
    if scaled.fract() != Decimal::ZERO {
        return Err(StoreError::Invalid(format!("{amount} has more than {MICROS_SCALE} decimal places")));
    }
    i64::try_from(scaled.trunc()).map_err(|_| StoreError::Invalid(format!("{amount} is too large")))
}

pub(crate) fn from_micros(micros: i64) -> Decimal {
    Decimal::new(micros, MICROS_SCALE).normalize()
}

pub(crate) fn money_from_micros(micros: i64) -> Money {
    Money::new(from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_past_what_is_stored_is_refused_not_a_panic() {
        assert!(matches!(to_micros(Decimal::MAX), Err(StoreError::Invalid(_))));
        assert!(matches!(to_micros(Decimal::from(i64::MAX)), Err(StoreError::Invalid(_))));
        assert_eq!(to_micros("1.5".parse().unwrap()).unwrap(), 1_500_000);
        assert!(to_micros("0.0000001".parse().unwrap()).is_err());
        assert_eq!(domain::Money::new(Decimal::MAX).to_cents(), None);
    }
}
