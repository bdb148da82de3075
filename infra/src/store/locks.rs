//! The one lock order every write transaction follows.
//!
//! A product's row guards its stock levels and its backorder queue; an
//! order's row guards its status, lines, packages and credits. A row under
//! one of them is written only by a transaction that holds it. Every write
//! transaction takes what it needs up front, in this order:
//!
//! 1. products, by id;
//! 2. orders, by id.
//!
//! Two transactions that wait for each other would each have to hold a lock
//! the other wants later in that order, which the order forbids, so writers
//! queue instead of deadlocking. Two cases cannot know every lock up front:
//! units that a cancellation frees go to other orders' backorders, found
//! only once the queue is read. Such an order lock is waited for when its id
//! is above every order lock held, and taken `NOWAIT` otherwise: a lock
//! that cannot wait cannot close a cycle, and a refusal rolls the
//! transaction back to be run again (a lost race).
//!
//! Locks are `FOR NO KEY UPDATE`: they do not conflict with the key-share
//! locks that inserting a row referencing a product or an order takes, so
//! adding order lines or events never waits for a product or order lock.
//!
//! On SQLite every write transaction begins `IMMEDIATE` and holds the one
//! write lock, so there is nothing to take here; the bookkeeping (what is
//! held, the order it was taken in) is checked on both databases alike.

use std::collections::BTreeSet;

use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::StoreError;
use crate::db::entity::{order, product};

/// The locks one write transaction holds.
#[derive(Debug, Default)]
pub(crate) struct Locks {
    products: BTreeSet<i64>,
    orders: BTreeSet<i64>,
}

impl Locks {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Locks `ids` (waiting for them), in id order. Products come before
    /// every order: asking for a new product once an order is held is a
    /// broken invariant, not a race.
    pub(crate) async fn products<C: ConnectionTrait>(&mut self, db: &C, ids: &[i64]) -> Result<(), StoreError> {
        let wanted: BTreeSet<i64> = ids.iter().copied().filter(|id| !self.products.contains(id)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        if !self.orders.is_empty() {
            return Err(StoreError::Invariant(format!(
                "products {wanted:?} locked after orders {:?}, against the lock order",
                self.orders
            )));
        }
        if let Some(&last) = self.products.last()
            && wanted.first().is_some_and(|&first| first < last)
        {
            return Err(StoreError::Invariant(format!(
                "products {wanted:?} locked after product {last}, against the lock order"
            )));
        }
        if is_postgres(db) {
            product::Entity::find()
                .select_only()
                .column(product::Column::Id)
                .filter(product::Column::Id.is_in(wanted.iter().copied()))
                .order_by_asc(product::Column::Id)
                .lock(LockType::NoKeyUpdate)
                .into_tuple::<i64>()
                .all(db)
                .await?;
        }
        self.products.extend(wanted);
        Ok(())
    }

    /// Locks those of `ids` that no other transaction holds, and returns
    /// them: for background passes, which take what is free and leave the
    /// rest for later instead of queueing behind the requests.
    pub(crate) async fn free_products<C: ConnectionTrait>(
        &mut self,
        db: &C,
        ids: &BTreeSet<i64>,
    ) -> Result<BTreeSet<i64>, StoreError> {
        if !self.orders.is_empty() || !self.products.is_empty() {
            return Err(StoreError::Invariant("a background pass takes its products first".to_owned()));
        }
        let got: BTreeSet<i64> = if is_postgres(db) {
            product::Entity::find()
                .select_only()
                .column(product::Column::Id)
                .filter(product::Column::Id.is_in(ids.iter().copied()))
                .order_by_asc(product::Column::Id)
                .lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked)
                .into_tuple::<i64>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        } else {
            ids.clone()
        };
        self.products.extend(got.iter().copied());
        Ok(got)
    }

    /// Locks orders: waiting for those above every order already held, in
    /// id order, and without waiting (`NOWAIT`, a refusal is a lost race)
    /// for those below.
    pub(crate) async fn orders<C: ConnectionTrait>(&mut self, db: &C, ids: &[i64]) -> Result<(), StoreError> {
        let wanted: BTreeSet<i64> = ids.iter().copied().filter(|id| !self.orders.contains(id)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let ceiling = self.orders.last().copied();
        let (below, above): (Vec<i64>, Vec<i64>) = wanted.iter().partition(|&&id| ceiling.is_some_and(|c| id < c));
        if is_postgres(db) {
            for (ids, behavior) in [(below, Some(LockBehavior::Nowait)), (above, None)] {
                if ids.is_empty() {
                    continue;
                }
                let query = order::Entity::find()
                    .select_only()
                    .column(order::Column::Id)
                    .filter(order::Column::Id.is_in(ids))
                    .order_by_asc(order::Column::Id);
                let query = match behavior {
                    Some(b) => query.lock_with_behavior(LockType::NoKeyUpdate, b),
                    None => query.lock(LockType::NoKeyUpdate),
                };
                query.into_tuple::<i64>().all(db).await?;
            }
        }
        self.orders.extend(wanted);
        Ok(())
    }

    /// A write under a product's lock checks that it holds it.
    pub(crate) fn require_product(&self, id: i64) -> Result<(), StoreError> {
        if self.products.contains(&id) {
            Ok(())
        } else {
            Err(StoreError::Invariant(format!("product {id} written without its lock")))
        }
    }

    /// A write under an order's lock checks that it holds it.
    pub(crate) fn require_order(&self, id: i64) -> Result<(), StoreError> {
        if self.orders.contains(&id) {
            Ok(())
        } else {
            Err(StoreError::Invariant(format!("order {id} written without its lock")))
        }
    }

    pub(crate) fn holds_product(&self, id: i64) -> bool {
        self.products.contains(&id)
    }
}

fn is_postgres<C: ConnectionTrait>(db: &C) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect("sqlite::memory:").await.unwrap()
    }

    #[tokio::test]
    async fn locks_are_taken_products_first_and_in_id_order() {
        let db = sqlite().await;
        let mut locks = Locks::new();
        locks.products(&db, &[3, 1]).await.unwrap();
        locks.products(&db, &[3, 5]).await.unwrap();
        assert!(locks.holds_product(1) && locks.holds_product(5));
        assert!(matches!(locks.products(&db, &[2]).await, Err(StoreError::Invariant(_))), "below one held");
        locks.orders(&db, &[9]).await.unwrap();
        assert!(locks.require_order(9).is_ok() && locks.require_product(3).is_ok());
        assert!(matches!(locks.require_order(8), Err(StoreError::Invariant(_))));
        assert!(matches!(locks.require_product(4), Err(StoreError::Invariant(_))));
        assert!(matches!(locks.products(&db, &[7]).await, Err(StoreError::Invariant(_))), "a product after an order");
        locks.products(&db, &[5]).await.unwrap();
        // Orders below the highest held are taken without waiting; held ones are kept.
        locks.orders(&db, &[4, 12]).await.unwrap();
        assert!(locks.require_order(4).is_ok() && locks.require_order(12).is_ok());
    }

    #[tokio::test]
    async fn a_background_pass_takes_its_products_first() {
        let db = sqlite().await;
        let mut locks = Locks::new();
        let ids: BTreeSet<i64> = [2, 4].into();
        assert_eq!(locks.free_products(&db, &ids).await.unwrap(), ids);
        assert!(matches!(locks.free_products(&db, &ids).await, Err(StoreError::Invariant(_))));
    }
}
