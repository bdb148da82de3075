//! What time does to backorders: unconfirmed ones expire, old ones go
//! overdue (and are cancelled if the policy says so), and slipped estimates
//! earn the automatic delay credit.
//!
//! Any number of gateway replicas run this at once. Each pass takes the
//! locks of the products it works on that nobody holds (`SKIP LOCKED` on
//! Postgres, so replicas split the work instead of queueing behind each
//! other or the requests; SQLite has one writer at a time anyway), then
//! their orders', in the lock order of `locks`; every update is guarded by
//! the state it expects, and the delay credit has a unique key per
//! backorder: a row is never processed twice.

use std::collections::{BTreeSet, HashMap};

use domain::Money;
use domain::backorder::BackorderAction;
use domain::compensation::Grant;
use domain::order::{BackorderStatus, EventKind};
use domain::policy::FulfillmentPolicy;
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use serde_json::json;

use super::locks::Locks;
use super::placing::settle_order;
use super::queue::refresh_estimates;
use super::ranks;
use super::rows::{OPEN, cap_credits, count_on_line, event, split_backorder};
use super::{Store, StoreError, from_micros, to_micros};
use crate::db::entity::{backorder, compensation, order_line};

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MaintenanceReport {
    pub expired: u32,
    pub overdue: u32,
    pub cancelled_overdue: u32,
    pub compensated: u32,
    /// Products whose whole queue was dated for today.
    pub queues_dated: u32,
    /// A pass filled its batch: there may be more to do at once.
    pub more: bool,
}

impl MaintenanceReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Products whose queues one pass dates at most, and refreshes (each
/// dating at most a batch of a tail) it spends on them.
const QUEUES_PER_PASS: u64 = 20;
const REFRESHES_PER_PASS: u32 = 40;

const DAY_MS: i64 = 86_400_000;

impl Store {
    /// Builds every queue's rank tree again from the confirmed backorders
    /// (`ranks::recount`), one product per transaction under its lock, and
    /// says how many queues it counted. For a database whose backorders
    /// were written around the gateway.
    pub async fn recount_queues(&self) -> Result<u64, StoreError> {
        let products: Vec<i64> = crate::db::entity::product::Entity::find()
            .select_only()
            .column(crate::db::entity::product::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await?;
        for &product_id in &products {
            let txn = self.write().await?;
            let mut locks = Locks::new();
            locks.products(&txn, &[product_id]).await?;
            ranks::recount(&txn, &locks, product_id).await?;
            txn.commit().await?;
        }
        Ok(products.len() as u64)
    }

    /// One pass over at most `batch` backorders per check.
    pub async fn run_maintenance(
        &self,
        policy: &FulfillmentPolicy,
        batch: u64,
    ) -> Result<MaintenanceReport, StoreError> {
        let mut report = MaintenanceReport::default();
        (report.queues_dated, report.more) = self.date_queues().await?;
        if policy.unconfirmed_expiry_ms.is_some() {
            report.expired = self.expire_unconfirmed(policy, batch).await?;
        }
        if policy.max_backorder_ms.is_some() {
            (report.overdue, report.cancelled_overdue) = self.flag_overdue(policy, batch).await?;
        }
        if policy.delay_compensation.is_some() {
            report.compensated = self.compensate_delays(policy, batch).await?;
        }
        let busiest = [report.expired, report.overdue, report.compensated].into_iter().fold(0, Ord::max);
        report.more |= u64::from(busiest) >= batch;
        Ok(report)
    }

    /// Dates the queues that are not dated for today: every queue on the
    /// first pass of a day (the supplier's date moves with today), a queue
    /// whose lead time changed, or one whose tail a request left to the
    /// worker. A few products per pass, a bounded number of refreshes, in
    /// one transaction that holds only products nobody else holds; a
    /// product is marked dated once its whole queue is. Nothing due is one
    /// indexed read and no transaction. Returns the products dated and
    /// whether more may be due.
    async fn date_queues(&self) -> Result<(u32, bool), StoreError> {
        use crate::db::entity::product;
        let now = self.now_ms();
        let today = super::rows::today(now).days_since_epoch();
        let due = |stale: Condition| {
            product::Entity::find()
                .select_only()
                .column(product::Column::Id)
                .filter(stale)
                .order_by_asc(product::Column::Id)
                .limit(QUEUES_PER_PASS)
                .into_tuple::<i64>()
        };
        // Two ranges of one index, not an `OR` a planner may scan for.
        let mut candidates: BTreeSet<i64> = due(Condition::all().add(product::Column::TailDatedOn.is_null()))
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        candidates.extend(due(Condition::all().add(product::Column::TailDatedOn.lt(today))).all(&self.db).await?);
        if candidates.is_empty() {
            return Ok((0, false));
        }
        let txn = self.write().await?;
        let mut locks = Locks::new();
        let free = locks.free_products(&txn, &candidates).await?;
        let (mut dated, mut refreshes) = (0, 0);
        for product_id in free {
            let mut complete = false;
            while !complete && refreshes < REFRESHES_PER_PASS {
                complete = refresh_estimates(&txn, &locks, product_id, now).await?;
                refreshes += 1;
            }
            if !complete {
                break;
            }
            product::Entity::update_many()
                .col_expr(product::Column::TailDatedOn, Expr::value(today))
                .filter(product::Column::Id.eq(product_id))
                .exec(&txn)
                .await?;
            dated += 1;
        }
        txn.commit().await?;
        Ok((dated, candidates.len() as u64 >= QUEUES_PER_PASS || refreshes >= REFRESHES_PER_PASS))
    }

    /// Candidates of a pass, under the locks of their products (those no
    /// request holds; the rest wait for the next pass) and then of their
    /// orders, read again under them so that a row that moved meanwhile is
    /// left out.
    async fn claim(
        &self,
        txn: &DatabaseTransaction,
        query: Select<backorder::Entity>,
        batch: u64,
    ) -> Result<(Vec<backorder::Model>, Locks), StoreError> {
        let seen = query.clone().order_by_asc(backorder::Column::Id).limit(batch).all(txn).await?;
        let mut locks = Locks::new();
        let products: BTreeSet<i64> = seen.iter().map(|r| r.product_id).collect();
        let free = locks.free_products(txn, &products).await?;
        let seen: Vec<&backorder::Model> = seen.iter().filter(|r| free.contains(&r.product_id)).collect();
        let orders: Vec<i64> = seen.iter().map(|r| r.order_id).collect();
        locks.orders(txn, &orders).await?;
        let rows = query
            .filter(backorder::Column::Id.is_in(seen.iter().map(|r| r.id)))
            .order_by_asc(backorder::Column::Id)
            .all(txn)
            .await?;
        Ok((rows, locks))
    }

    async fn expire_unconfirmed(&self, policy: &FulfillmentPolicy, batch: u64) -> Result<u32, StoreError> {
        let now = self.now_ms();
        let Some(expired_by) = policy.expired_if_created_by(now) else { return Ok(0) };
        let txn = self.write().await?;
        let due = unconfirmed_since(expired_by);
        let (rows, locks) = self.claim(&txn, due, batch).await?;
        let mut done = 0;
        let mut touched = BTreeSet::new();
        for row in rows {
            // Read again under the locks: nobody else moves it now.
            split_backorder(&txn, &locks, &row, row.quantity, BackorderAction::Expire, now).await?;
            count_on_line(&txn, row.order_line_id, order_line::Column::Cancelled, row.quantity).await?;
            event(
                &txn,
                row.order_id,
                EventKind::BackorderExpired,
                json!({ "backorder": row.id, "sku": row.sku, "quantity": row.quantity, "reason": "not confirmed in time" }),
                now,
            )
            .await?;
            cap_credits(&txn, &locks, row.order_id, now).await?;
            settle_order(&txn, &locks, row.order_id, now).await?;
            touched.insert(row.product_id);
            done += 1;
        }
        for product_id in touched {
            refresh_estimates(&txn, &locks, product_id, now).await?;
        }
        txn.commit().await?;
        Ok(done)
    }

    async fn flag_overdue(&self, policy: &FulfillmentPolicy, batch: u64) -> Result<(u32, u32), StoreError> {
        let now = self.now_ms();
        let Some(overdue_by) = policy.overdue_if_created_by(now) else { return Ok((0, 0)) };
        let txn = self.write().await?;
        let mut due = not_yet_overdue(overdue_by);
        if let Some(expired_by) = policy.expired_if_created_by(now) {
            // An unconfirmed backorder past its window expires; it is not
            // also reported overdue on the way out.
            due = due.filter(
                Condition::any()
                    .add(backorder::Column::Status.ne(BackorderStatus::AwaitingConfirmation.as_str()))
                    .add(backorder::Column::CreatedAtMs.gt(expired_by)),
            );
        }
        let (rows, locks) = self.claim(&txn, due, batch).await?;
        let (mut flagged, mut cancelled) = (0, 0);
        let mut touched = BTreeSet::new();
        for row in rows {
            let flag = backorder::Entity::update_many()
                .col_expr(backorder::Column::OverdueAtMs, Expr::value(now))
                .col_expr(backorder::Column::UpdatedAtMs, Expr::value(now))
                .filter(backorder::Column::Id.eq(row.id))
                .filter(backorder::Column::Status.eq(row.status.clone()))
                .filter(backorder::Column::Quantity.eq(row.quantity))
                .filter(backorder::Column::OverdueAtMs.is_null());
            if flag.exec(&txn).await?.rows_affected != 1 {
                continue;
            }
            if policy.cancel_overdue {
                // The flag leaves status and quantity as read: the guard holds.
                split_backorder(&txn, &locks, &row, row.quantity, BackorderAction::Cancel, now).await?;
            }
            flagged += 1;
            let waited_days = (now - row.created_at_ms) / DAY_MS;
            event(
                &txn,
                row.order_id,
                EventKind::BackorderOverdue,
                json!({ "backorder": row.id, "sku": row.sku, "quantity": row.quantity, "waitedDays": waited_days }),
                now,
            )
            .await?;
            if policy.cancel_overdue {
                count_on_line(&txn, row.order_line_id, order_line::Column::Cancelled, row.quantity).await?;
                event(
                    &txn,
                    row.order_id,
                    EventKind::BackorderCancelled,
                    json!({ "backorder": row.id, "sku": row.sku, "quantity": row.quantity, "reason": "overdue" }),
                    now,
                )
                .await?;
                cap_credits(&txn, &locks, row.order_id, now).await?;
                settle_order(&txn, &locks, row.order_id, now).await?;
                touched.insert(row.product_id);
                cancelled += 1;
            }
        }
        for product_id in touched {
            refresh_estimates(&txn, &locks, product_id, now).await?;
        }
        txn.commit().await?;
        Ok((flagged, cancelled))
    }

    async fn compensate_delays(&self, policy: &FulfillmentPolicy, batch: u64) -> Result<u32, StoreError> {
        let Some(rule) = policy.delay_compensation else { return Ok(0) };
        let now = self.now_ms();
        let txn = self.write().await?;
        let threshold = i64::from(rule.threshold_days);
        let (rows, _locks) = self.claim(&txn, slipped_unsettled(threshold), batch).await?;
        let prices: HashMap<i64, i64> = order_line::Entity::find()
            .select_only()
            .column(order_line::Column::Id)
            .column(order_line::Column::UnitPriceMicros)
            .filter(order_line::Column::Id.is_in(rows.iter().map(|r| r.order_line_id)))
            .into_tuple()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let mut done = 0;
        let decided: Vec<i64> = rows.iter().map(|r| r.id).collect();
        // A credited backorder is marked decided in the same transaction, so
        // the selection never returns one; the unique key backs it.
        for row in rows {
            let Some(promised) = row.promised_available else { continue };
            let Some(&price) = prices.get(&row.order_line_id) else { continue };
            let value = Money::new(from_micros(price) * Decimal::from(row.quantity));
            let slip = row.estimated_available - promised;
            let Some(owed) = policy.delay_credit(slip, value) else { continue };
            let totals = super::rows::totals(&txn, row.order_id).await?;
            // Never more than what is left of the order's total.
            let Ok(amount) = totals.credit(Grant::Amount(owed)) else { continue };
            let reason = format!("automatic: {} delayed {slip} days", row.sku);
            let inserted = compensation::Entity::insert(compensation::ActiveModel {
                order_id: Set(row.order_id),
                amount_micros: Set(to_micros(amount.amount())?),
                reason: Set(reason.clone()),
                kind: Set("AUTOMATIC".to_owned()),
                backorder_id: Set(Some(row.id)),
                created_at_ms: Set(now),
                ..Default::default()
            })
            .on_conflict(OnConflict::column(compensation::Column::BackorderId).do_nothing().to_owned())
            .exec_without_returning(&txn)
            .await?;
            if inserted != 1 {
                continue;
            }
            event(
                &txn,
                row.order_id,
                EventKind::OrderCompensated,
                json!({ "amount": amount.to_string(), "reason": reason, "backorder": row.id, "automatic": true }),
                now,
            )
            .await?;
            done += 1;
        }
        // Decided, credited or not: the next pass reads past them.
        for chunk in decided.chunks(1_000) {
            backorder::Entity::update_many()
                .col_expr(backorder::Column::DelaySettledAtMs, Expr::value(now))
                .filter(backorder::Column::Id.is_in(chunk.iter().copied()))
                .filter(backorder::Column::DelaySettledAtMs.is_null())
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(done)
    }
}

/// Waiting backorders whose estimate slipped more than `threshold` days past
/// their promise and whose delay credit nobody decided yet: a range of the
/// `backorders_slipped` index, which holds only undecided rows.
fn slipped_unsettled(threshold: i64) -> Select<backorder::Entity> {
    backorder::Entity::find()
        .filter(backorder::Column::Status.is_in(OPEN))
        .filter(backorder::Column::DelaySettledAtMs.is_null())
        .filter(
            Expr::col(backorder::Column::EstimatedAvailable)
                .sub(Expr::col(backorder::Column::PromisedAvailable))
                .gt(threshold),
        )
}

/// Waiting backorders created by `overdue_by` and not reported overdue: a
/// range of the `backorders_not_yet_overdue` index.
fn not_yet_overdue(overdue_by: i64) -> Select<backorder::Entity> {
    backorder::Entity::find()
        .filter(backorder::Column::Status.is_in(OPEN))
        .filter(backorder::Column::OverdueAtMs.is_null())
        .filter(backorder::Column::CreatedAtMs.lte(overdue_by))
}

/// Backorders still awaiting confirmation, created by `expired_by`.
fn unconfirmed_since(expired_by: i64) -> Select<backorder::Entity> {
    backorder::Entity::find()
        .filter(backorder::Column::Status.eq(BackorderStatus::AwaitingConfirmation.as_str()))
        .filter(backorder::Column::CreatedAtMs.lte(expired_by))
}

/// The worker's selections, as sent to `backend` with sample values, and
/// the column their index search must lead with (see `queue_reads`).
pub fn worker_reads(backend: sea_orm::DatabaseBackend) -> Vec<(&'static str, String, &'static str)> {
    use sea_orm::QueryTrait;
    [
        ("unconfirmed past their window", unconfirmed_since(1_000), "status"),
        ("not yet overdue", not_yet_overdue(1_000), "status"),
        ("slipped, credit undecided", slipped_unsettled(3), "status"),
    ]
    .into_iter()
    .map(|(name, query, leading)| {
        (name, query.order_by_asc(backorder::Column::Id).limit(200).build(backend).to_string(), leading)
    })
    .collect()
}
