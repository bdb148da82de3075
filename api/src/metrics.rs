//! Prometheus metrics, served at `/metrics` in the text format.
//!
//! Labels take values from closed sets only (the schema's top-level fields,
//! the error codes, `true`/`false`), so no client can grow the number of
//! series: a request whose document does not validate counts as `invalid`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Every series the gateway exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    user_errors: IntCounterVec,
    plans: IntCounterVec,
    planning: Histogram,
    shipments: Histogram,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    pool_size: IntGauge,
    pool_idle: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("shipmix".to_owned()), None).expect("a valid prefix");
        let requests = IntCounterVec::new(
            Opts::new("graphql_requests_total", "GraphQL requests by top-level field and outcome"),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("graphql_request_duration_seconds", "GraphQL request latency by top-level field")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["operation"],
        )
        .expect("valid metric");
        let user_errors =
            IntCounterVec::new(Opts::new("user_errors_total", "Errors answered to clients, by code"), &["code"])
                .expect("valid metric");
        let plans = IntCounterVec::new(
            Opts::new("plans_total", "Plans made, by whether the search proved them optimal"),
            &["optimal"],
        )
        .expect("valid metric");
        let planning = Histogram::with_opts(
            HistogramOpts::new("sourcing_duration_seconds", "Time one plan's search took")
                .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0]),
        )
        .expect("valid metric");
        let shipments = Histogram::with_opts(
            HistogramOpts::new("plan_shipments", "Packages per plan (above 1: a split)")
                .buckets(vec![0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0]),
        )
        .expect("valid metric");
        let cache_hits = IntCounter::new("stock_cache_hits_total", "Skus served from the stock cache").expect("valid");
        let cache_misses =
            IntCounter::new("stock_cache_misses_total", "Skus read from the database by cached reads").expect("valid");
        let pool_size = IntGauge::new("db_pool_connections", "Connections the database pool holds").expect("valid");
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Idle connections of the pool").expect("valid");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(user_errors.clone()),
            Box::new(plans.clone()),
            Box::new(planning.clone()),
            Box::new(shipments.clone()),
            Box::new(cache_hits.clone()),
            Box::new(cache_misses.clone()),
            Box::new(pool_size.clone()),
            Box::new(pool_idle.clone()),
        ] {
            registry.register(collector).expect("each metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            user_errors,
            plans,
            planning,
            shipments,
            cache_hits,
            cache_misses,
            pool_size,
            pool_idle,
        }
    }

    /// A GraphQL request answered: `operation` is a top-level field (or
    /// `invalid`), `ok` whether it answered without errors.
    pub fn request(&self, operation: &str, ok: bool, seconds: f64) {
        self.requests.with_label_values(&[operation, if ok { "ok" } else { "error" }]).inc();
        self.latency.with_label_values(&[operation]).observe(seconds);
    }

    pub fn user_error(&self, code: &str) {
        self.user_errors.with_label_values(&[code]).inc();
    }

    /// A plan made: how long its search took, whether proven, its packages.
    pub fn plan(&self, seconds: f64, optimal: bool, shipments: usize) {
        self.planning.observe(seconds);
        self.plans.with_label_values(&[if optimal { "true" } else { "false" }]).inc();
        self.shipments.observe(shipments as f64);
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, cache: (u64, u64), pool: (u32, usize)) -> String {
        // Counters only move up: the cache's own counts since start are
        // added as the difference from what was exported before.
        self.cache_hits.inc_by(cache.0.saturating_sub(self.cache_hits.get()));
        self.cache_misses.inc_by(cache.1.saturating_sub(self.cache_misses.get()));
        self.pool_size.set(i64::from(pool.0));
        self.pool_idle.set(i64::try_from(pool.1).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_exported_with_their_labels() {
        let metrics = Metrics::new();
        metrics.request("quoteFulfillment", true, 0.004);
        metrics.user_error("BAD_QUANTITY");
        metrics.plan(0.0002, false, 3);
        let text = metrics.render((7, 2), (4, 3));
        for line in [
            "shipmix_graphql_requests_total{operation=\"quoteFulfillment\",outcome=\"ok\"} 1",
            "shipmix_user_errors_total{code=\"BAD_QUANTITY\"} 1",
            "shipmix_plans_total{optimal=\"false\"} 1",
            "shipmix_plan_shipments_count 1",
            "shipmix_stock_cache_hits_total 7",
            "shipmix_stock_cache_misses_total 2",
            "shipmix_db_pool_connections 4",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(metrics.render((9, 2), (4, 3)).contains("shipmix_stock_cache_hits_total 9"));
    }
}
