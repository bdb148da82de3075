//! Planning off the request workers, on a bounded pool, within a time
//! budget.
//!
//! The search is CPU work that can take a second on an adversarial order;
//! run on an HTTP worker it would stall every request queued behind it,
//! health checks included. Each plan runs on tokio's blocking threads, at
//! most `threads` at once (the rest wait for a permit), and every search of
//! one request stops at that request's deadline with its best plan so far
//! (`optimal: false` and its lower bound, as when the node budget runs out).
//! The default pool leaves one core to the HTTP workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::sourcing::{SearchBudget, Stop};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The planning pool and the budgets of one request's searches.
#[derive(Debug, Clone)]
pub struct Planner {
    permits: Arc<Semaphore>,
    nodes: u64,
    time_budget: Duration,
}

/// Plans at once by default: every core but one, at least one.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// The deadline of a request's searches, set when the request arrives.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

impl Planner {
    pub fn new(threads: usize, nodes: SearchBudget, time_budget: Duration) -> Self {
        Self { permits: Arc::new(Semaphore::new(threads.max(1))), nodes: nodes.node_limit(), time_budget }
    }

    /// The deadline of a request arriving now.
    pub fn deadline(&self) -> Deadline {
        Deadline(Instant::now() + self.time_budget)
    }

    /// The budget of a search that must end by `deadline`.
    pub fn budget(&self, deadline: Deadline) -> SearchBudget {
        SearchBudget::nodes(self.nodes).with_stop(Stop::when(move || Instant::now() >= deadline.0))
    }

    /// Runs `plan` on the pool with the budget of `deadline`. Waiting for a
    /// permit counts against the deadline: a request that waited too long
    /// gets the quick unproven plan rather than its full share.
    pub async fn run<T: Send + 'static>(
        &self,
        deadline: Deadline,
        plan: impl FnOnce(SearchBudget) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|e| ApiError::Internal(e.into()))?;
        let budget = self.budget(deadline);
        // A blocking thread has no span of its own: the plan's spans belong
        // to the request that asked for it.
        let parent = tracing::Span::current();
        // The permit goes with the work: a request that is dropped while
        // its plan runs still holds its place until the plan is done.
        let work = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _entered = parent.enter();
            plan(budget)
        });
        work.await.map_err(|e| match e.try_into_panic() {
            Ok(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                ApiError::Internal(anyhow::anyhow!("planning panicked: {message}"))
            }
            Err(e) => ApiError::Internal(e.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_most_the_pool_plans_at_once_and_a_panic_is_an_error() {
        let planner = Planner::new(2, SearchBudget::default(), Duration::from_secs(5));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs = (0..6).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            planner.run(planner.deadline(), move |_| {
                let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            })
        });
        for done in futures_util::future::join_all(jobs).await {
            done.unwrap();
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
        let panicked = planner.run(planner.deadline(), |_| -> u32 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(ApiError::Internal(e)) if e.to_string() == "planning panicked: boom"));
        assert!(planner.run(planner.deadline(), |_| 1).await.is_ok(), "the pool goes on after a panic");
    }

    #[test]
    fn a_passed_deadline_stops_the_search_at_once() {
        use domain::sourcing::{SourcingRequest, SplitPolicy, plan_fulfillment};
        use domain::{GeoPoint, Network, OrderLine, Quantity, ShippingRate, Sku, Warehouse, WarehouseCode};
        let code = WarehouseCode::new("W1").unwrap();
        let rate = ShippingRate::new(rust_decimal::Decimal::ONE, rust_decimal::Decimal::ZERO).unwrap();
        let mut network =
            Network::new(vec![Warehouse::new(code.clone(), GeoPoint::new(40.0, -75.0).unwrap(), rate, 100)]).unwrap();
        network.set_available(&code, Sku::new("A").unwrap(), 5).unwrap();
        let line = OrderLine::new(Sku::new("A").unwrap(), Quantity::new(2).unwrap());
        let request =
            SourcingRequest::new(vec![line], GeoPoint::new(40.7, -74.0).unwrap(), SplitPolicy::ShipAvailable, None)
                .unwrap();
        let planner = Planner::new(1, SearchBudget::default(), Duration::from_secs(5));
        let passed = plan_fulfillment(&request, &network, planner.budget(Deadline(Instant::now())));
        assert!(!passed.optimal(), "a search past its deadline claims nothing");
        assert_eq!(passed.units_now(), 2, "but still ships what it can");
        let in_time = plan_fulfillment(&request, &network, planner.budget(planner.deadline()));
        assert!(in_time.optimal());
    }
}
