//! What every request shares: the store, settings, and the clock.

use std::time::Duration;

use chrono::Datelike as _;

use domain::calendar::Day;
use domain::policy::FulfillmentPolicy;
use domain::sourcing::SearchBudget;
use infra::cache::{StockCache, WarehouseDirectory};
use infra::keyring::KeyRing;
use infra::secrets::Secrets;
use infra::store::Store;

/// Tunables of the gateway, validated at startup.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub search_budget: SearchBudget,
    /// How long all the searches of one request may take together.
    pub plan_time_budget: Duration,
    /// Plans searched at once (the planning pool's threads).
    pub planning_threads: usize,
    /// How long a quote's plan token can be redeemed by `placeOrder`.
    pub plan_token_ttl: Duration,
    /// How many times `placeOrder` re-plans when stock moves under it.
    pub placement_attempts: u32,
    /// How stale the in-process warehouse directory may get: how long
    /// another replica's warehouse change takes to show in reads here.
    pub warehouse_refresh: Duration,
    /// The deployment's partial-shipment and backorder policy.
    pub policy: FulfillmentPolicy,
    /// How often the backorder worker looks for expired, overdue and
    /// delayed backorders.
    pub maintenance_interval: Duration,
    /// How long a replica trusts what it read of a key: a revocation takes
    /// effect on every replica within this.
    pub key_ttl: Duration,
    /// Whether introspection (and GraphiQL's schema) answers without a key.
    pub public_introspection: bool,
    /// Each role's cost bucket.
    pub rate_limits: crate::throttle::RateLimits,
    /// Browser origins allowed to call `/graphql` (CORS); `*` for any;
    /// none by default.
    pub cors_origins: Vec<String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            search_budget: SearchBudget::default(),
            plan_time_budget: Duration::from_secs(1),
            planning_threads: crate::planning::default_threads(),
            plan_token_ttl: Duration::from_secs(15 * 60),
            placement_attempts: 32,
            warehouse_refresh: Duration::from_secs(5),
            policy: FulfillmentPolicy::default(),
            maintenance_interval: Duration::from_secs(60),
            key_ttl: Duration::from_secs(2),
            public_introspection: false,
            rate_limits: crate::throttle::RateLimits::default(),
            cors_origins: Vec::new(),
        }
    }
}

/// Shared by every request; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub cache: StockCache,
    /// Warehouse records for reads; placing an order re-reads the database.
    pub warehouses: WarehouseDirectory,
    pub planner: crate::planning::Planner,
    pub metrics: crate::metrics::Metrics,
    /// Which caller each request's key stands for.
    pub keys: KeyRing,
    /// Each key's cost bucket.
    pub throttle: crate::throttle::Throttle,
    /// Read from the database on first use.
    secrets: std::sync::Arc<tokio::sync::OnceCell<Secrets>>,
    pub settings: GatewaySettings,
}

impl AppState {
    pub fn new(store: Store, cache: StockCache, settings: GatewaySettings) -> Self {
        let warehouses = WarehouseDirectory::new(settings.warehouse_refresh);
        let planner = crate::planning::Planner::new(
            settings.planning_threads,
            settings.search_budget.clone(),
            settings.plan_time_budget,
        );
        let keys = KeyRing::new(store.clone(), settings.key_ttl);
        Self {
            store,
            cache,
            warehouses,
            planner,
            metrics: crate::metrics::Metrics::new(),
            keys,
            throttle: crate::throttle::Throttle::new(settings.rate_limits),
            secrets: Default::default(),
            settings,
        }
    }

    /// The gateway's secrets (order tokens).
    pub async fn secrets(&self) -> Result<&Secrets, infra::store::StoreError> {
        self.secrets.get_or_try_init(|| Secrets::load(&self.store)).await
    }

    /// Today in UTC, by the store's clock: the only place the gateway reads
    /// the calendar.
    pub fn today(&self) -> Day {
        let days = self.now_ms().div_euclid(86_400_000);
        Day::from_days_since_epoch(i32::try_from(days).unwrap_or(i32::MAX))
    }

    /// Now, by the store's clock (the wall clock, or a test's).
    pub fn now_ms(&self) -> i64 {
        self.store.now_ms()
    }
}

fn epoch() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

/// The calendar date of a day. A stored day outside the calendar (a
/// hand-edited row) reads as the nearest date rather than failing the read.
pub fn to_date(day: Day) -> chrono::NaiveDate {
    let days = day.days_since_epoch().clamp(-epoch().num_days_from_ce() + 1, Day::LAST.days_since_epoch());
    epoch().checked_add_signed(chrono::Duration::days(i64::from(days))).unwrap_or(chrono::NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_reads_as_a_date() {
        assert_eq!(to_date(Day::from_days_since_epoch(0)).to_string(), "1970-01-01");
        assert_eq!(to_date(Day::LAST).to_string(), "9999-12-31");
        assert_eq!(to_date(Day::from_days_since_epoch(i32::MAX)).to_string(), "9999-12-31");
        assert_eq!(to_date(Day::from_days_since_epoch(i32::MIN)).to_string(), "0001-01-01");
    }
}
