//! The backorder worker: dates the queues a new day (or a changed lead
//! time) moved, expires unconfirmed backorders, flags (and, if the policy
//! says so, cancels) overdue ones, and issues the automatic delay credit. Every replica runs one; the store makes sure no backorder is
//! processed twice.

use std::time::Duration;

use crate::state::AppState;

/// Rows per check and pass: a full batch means there may be more, so the
/// worker goes again at once instead of waiting for the next tick.
const BATCH: u64 = 200;

/// Runs until the task is dropped.
pub async fn run(state: AppState) {
    let policy = state.settings.policy;
    let mut tick = tokio::time::interval(state.settings.maintenance_interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            match state.store.run_maintenance(&policy, BATCH).await {
                Ok(report) if report.is_empty() => break,
                Ok(report) => {
                    tracing::info!(
                        expired = report.expired,
                        overdue = report.overdue,
                        cancelled_overdue = report.cancelled_overdue,
                        compensated = report.compensated,
                        queues_dated = report.queues_dated,
                        "backorder maintenance"
                    );
                    if !report.more {
                        break;
                    }
                }
                Err(error) => {
                    // Another replica holding the same rows, or the database
                    // away for a moment: the next tick tries again.
                    tracing::warn!(%error, "backorder maintenance failed");
                    break;
                }
            }
        }
    }
}
