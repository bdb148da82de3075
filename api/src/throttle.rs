//! Per-key rate limits by calculated cost, the convention Shopify's Admin
//! API made familiar: every request costs its calculated query cost (the
//! complexity the schema computes: fields, times page sizes, plus the
//! weight of each search), taken from a leaky bucket per API key whose size
//! and restore rate are its role's. With Redis the buckets live there, so
//! every replica draws on the same one; without it (or while it is down),
//! in process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use domain::access::{Bucket, BucketSize, Role, Take};
use infra::cache::StockCache;

/// Each role's bucket; `None` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub storefront: Option<BucketSize>,
    pub partner: Option<BucketSize>,
    pub agent: Option<BucketSize>,
    pub admin: Option<BucketSize>,
}

impl Default for RateLimits {
    /// A caller may spend 200,000 points at once and 10,000 a second (an
    /// availability query of 10 skus costs about 700, a quote about
    /// 11,000); admins are not limited.
    fn default() -> Self {
        let shared = Some(BucketSize { size: 200_000, per_second: 10_000 });
        Self { storefront: shared, partner: shared, agent: shared, admin: None }
    }
}

impl RateLimits {
    pub fn of(&self, role: Role) -> Option<BucketSize> {
        match role {
            Role::Storefront => self.storefront,
            Role::Partner => self.partner,
            Role::Agent => self.agent,
            Role::Admin => self.admin,
        }
    }

    pub fn set(&mut self, role: Role, size: Option<BucketSize>) {
        match role {
            Role::Storefront => self.storefront = size,
            Role::Partner => self.partner = size,
            Role::Agent => self.agent = size,
            Role::Admin => self.admin = size,
        }
    }
}

/// What charging a request did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Charge {
    Unlimited,
    Paid { left: f64, size: BucketSize },
    Refused { available: f64, retry_after_ms: i64, size: BucketSize },
}

/// Most buckets kept in process: one per key that sent a request lately.
const MAX_LOCAL_BUCKETS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct Throttle {
    limits: RateLimits,
    local: Arc<Mutex<HashMap<i64, Bucket>>>,
    started: Instant,
}

impl Throttle {
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, local: Arc::default(), started: Instant::now() }
    }

    /// Takes a request's cost from its key's bucket.
    pub async fn charge(&self, cache: &StockCache, key_id: i64, role: Role, cost: u64) -> Charge {
        let Some(size) = self.limits.of(role) else { return Charge::Unlimited };
        let take = match cache.take_from_bucket(&format!("key:{key_id}"), cost, size).await {
            Some(take) => take,
            None => self.take_locally(key_id, size, cost),
        };
        match take {
            Take::Paid { left } => Charge::Paid { left, size },
            Take::Refused { available, retry_after_ms } => Charge::Refused { available, retry_after_ms, size },
        }
    }

    fn take_locally(&self, key_id: i64, size: BucketSize, cost: u64) -> Take {
        let now = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let mut buckets = self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_LOCAL_BUCKETS && !buckets.contains_key(&key_id) {
            // A bucket that has refilled is the same as no bucket.
            buckets.retain(|_, b| {
                let mut probe = *b;
                !matches!(probe.take(size, 0, now), Take::Paid { left } if left >= size.size as f64)
            });
            if buckets.len() >= MAX_LOCAL_BUCKETS {
                buckets.clear();
            }
        }
        buckets.entry(key_id).or_insert_with(|| Bucket::full(size, now)).take(size, cost, now)
    }
}
