//! The stock cache: availability per sku, read through on queries and
//! quotes, invalidated on every stock write.
//!
//! Best effort by design. Redis when `REDIS_URL` is set (shared by every
//! replica), an in-process map otherwise. A Redis error or timeout is logged
//! at warn and treated as a miss, so a slow or dead Redis costs latency, never
//! a failed request; the connection manager reconnects when it returns.
//!
//! On Redis, each replica also keeps a near copy of what it read (bounded,
//! same TTL), so a hit costs no round trip. Every invalidation is published
//! on a Redis channel; every replica listens and drops what it is told
//! changed. The near copy is used only while that subscription is up: when
//! it drops, the copy is dropped wholesale and reads go to Redis until the
//! subscription is back, so no replica serves a level another replica
//! changed more than a moment (a message's flight) ago. A read that began
//! before an invalidation arrived does not fill the near copy.
//! Nothing that reserves stock reads the cache: `placeOrder` plans from the
//! database inside its retry loop, so a stale entry can at worst show a
//! stale number or make a quote's token go stale, never oversell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::inventory::StockLevel;
use domain::{Sku, WarehouseCode};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::store::{LocationStock, SkuStock, Store, StoreError, WarehouseRecord};

/// How the cache is set up.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `redis://host:port`; the in-process cache when `None`.
    pub redis_url: Option<String>,
    /// How long an entry may serve reads; bounds staleness across replicas.
    pub ttl: Duration,
    /// Longest a Redis call may take before it counts as a miss.
    pub redis_timeout: Duration,
    /// Prefix of every Redis key, so several deployments (or tests) can
    /// share one Redis.
    pub namespace: String,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            ttl: Duration::from_secs(30),
            redis_timeout: Duration::from_millis(250),
            namespace: "shipmix".to_owned(),
        }
    }
}

/// Entries the in-process cache holds before it starts over.
const LOCAL_CAPACITY: usize = 100_000;

#[derive(Debug, Serialize, Deserialize)]
struct CachedSku {
    product_id: i64,
    locations: Vec<CachedLocation>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedLocation {
    warehouse_id: i64,
    warehouse: String,
    on_hand: i64,
    reserved: i64,
    safety_stock: i64,
    version: i64,
    feed_sequence: Option<i64>,
}

impl CachedSku {
    fn from_stock(stock: &SkuStock) -> Self {
        Self {
            product_id: stock.product_id,
            locations: stock
                .locations
                .iter()
                .map(|l| CachedLocation {
                    warehouse_id: l.warehouse_id,
                    warehouse: l.warehouse.to_string(),
                    on_hand: i64::from(l.level.on_hand()),
                    reserved: i64::from(l.level.reserved()),
                    safety_stock: i64::from(l.level.safety_stock()),
                    version: l.version,
                    feed_sequence: l.feed_sequence,
                })
                .collect(),
        }
    }

    /// `None` for an entry that does not decode (another version wrote it):
    /// a miss, not an error.
    fn into_stock(self, sku: Sku) -> Option<SkuStock> {
        let locations = self
            .locations
            .into_iter()
            .map(|l| {
                Some(LocationStock {
                    warehouse_id: l.warehouse_id,
                    warehouse: WarehouseCode::new(l.warehouse).ok()?,
                    level: StockLevel::new(l.on_hand, l.reserved, l.safety_stock).ok()?,
                    version: l.version,
                    feed_sequence: l.feed_sequence,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(SkuStock { sku, product_id: self.product_id, locations })
    }
}

/// `domain::access::Bucket::take` inside Redis: refill by the time since
/// the last take (the server's clock), then pay or refuse. Returns
/// `{paid, available}`; the available points as a string, since Redis
/// truncates Lua numbers to integers.
const BUCKET_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local cost, size, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'a', 't')
local a = tonumber(v[1]) or size
local last = tonumber(v[2]) or now
if now > last then a = math.min(size, a + (now - last) * rate / 1000) else now = last end
local paid = 0
if a >= cost then a = a - cost; paid = 1 end
redis.call('HSET', KEYS[1], 'a', tostring(a), 't', now)
if rate > 0 then redis.call('PEXPIRE', KEYS[1], math.ceil(size * 1000 / rate) + 1000) end
return {paid, tostring(a)}
";

struct Redis {
    client: redis::Client,
    manager: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// When connecting last failed; retried at most once a second.
    last_failure: Mutex<Option<Instant>>,
    timeout: Duration,
}

enum Backend {
    Local(Entries),
    Redis(Redis, Arc<Near>),
}

/// Entries kept in process, each with the time it was stored: the whole
/// cache without Redis, a replica's near copy with it.
#[derive(Default)]
struct Entries(Mutex<HashMap<Sku, (Instant, SkuStock)>>);

impl Entries {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sku, (Instant, SkuStock)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entries of `skus` younger than `ttl`.
    fn get(&self, skus: &[Sku], ttl: Duration) -> Vec<Option<SkuStock>> {
        let map = self.lock();
        skus.iter().map(|sku| map.get(sku).filter(|(at, _)| at.elapsed() < ttl).map(|(_, s)| s.clone())).collect()
    }

    /// Stores `read` if `keep` still holds once the map is locked (starting
    /// over when the map would pass its capacity).
    fn put_if(&self, read: &[SkuStock], keep: impl FnOnce() -> bool) {
        let mut map = self.lock();
        if !keep() {
            return;
        }
        if map.len() + read.len() > LOCAL_CAPACITY {
            map.clear();
        }
        let now = Instant::now();
        for stock in read {
            map.insert(stock.sku.clone(), (now, stock.clone()));
        }
    }

    /// Forgets `skus` (every sku when `None`).
    fn remove(&self, skus: Option<&[Sku]>) {
        let mut map = self.lock();
        match skus {
            None => map.clear(),
            Some(skus) => {
                for sku in skus {
                    map.remove(sku);
                }
            }
        }
    }
}

/// A replica's near copy of what it read from Redis.
struct Near {
    entries: Entries,
    /// Bumped by every invalidation seen (this replica's or another's) and
    /// whenever the subscription drops or comes back.
    version: std::sync::atomic::AtomicU64,
    /// The subscription is up: other replicas' invalidations arrive.
    live: std::sync::atomic::AtomicBool,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    channel: String,
}

/// Turns the near copy off when the listener ends, however it ends (its
/// runtime shutting down cancels it mid-loop).
struct Offline<'a>(&'a Near);

impl Drop for Offline<'_> {
    fn drop(&mut self) {
        self.0.live.store(false, std::sync::atomic::Ordering::SeqCst);
        self.0.evict(None);
    }
}

impl Near {
    fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn live(&self) -> bool {
        self.live.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forgets `skus` (every sku when `None`); the version moves first, so
    /// a read in flight does not put back what was just forgotten.
    fn evict(&self, skus: Option<&[Sku]>) {
        self.version.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.entries.remove(skus);
    }

    /// Keeps what was read, unless something was invalidated since the
    /// read began (`since`) or the subscription is down.
    fn fill(&self, read: &[SkuStock], since: u64) {
        self.entries.put_if(read, || self.live() && self.version() == since);
    }

    /// Listens for invalidations until the task is dropped, reconnecting
    /// after a second whenever the subscription drops.
    async fn listen(self: Arc<Self>, client: redis::Client) {
        use futures_util::StreamExt as _;
        loop {
            if let Ok(mut pubsub) = client.get_async_pubsub().await
                && pubsub.subscribe(&self.channel).await.is_ok()
            {
                let _offline = Offline(&self);
                // Whatever was kept may have changed while nobody listened.
                self.evict(None);
                self.live.store(true, std::sync::atomic::Ordering::SeqCst);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let payload: String = message.get_payload().unwrap_or_default();
                    if payload == "*" {
                        self.evict(None);
                    } else {
                        let skus: Vec<Sku> = payload.split('\n').filter_map(|s| Sku::new(s).ok()).collect();
                        self.evict(Some(&skus));
                    }
                }
                tracing::warn!("lost the stock invalidation channel; the near cache is off until it is back");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Skus served from the cache and skus read from the database, since start.
#[derive(Debug, Default)]
pub struct CacheCounts {
    pub hits: std::sync::atomic::AtomicU64,
    pub misses: std::sync::atomic::AtomicU64,
}

/// The stock cache. Cheap to clone.
#[derive(Clone)]
pub struct StockCache {
    backend: Arc<Backend>,
    counts: Arc<CacheCounts>,
    ttl: Duration,
    /// `<namespace>:stock:`
    prefix: String,
    namespace: String,
}

impl std::fmt::Debug for StockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match *self.backend {
            Backend::Local(_) => "local",
            Backend::Redis(..) => "redis",
        };
        f.debug_struct("StockCache").field("backend", &kind).field("ttl", &self.ttl).finish()
    }
}

impl StockCache {
    /// Builds the cache. A malformed Redis URL is an error; an unreachable
    /// Redis is not (it is retried as calls come).
    pub fn new(settings: &CacheSettings) -> Result<Self, redis::RedisError> {
        let backend = match &settings.redis_url {
            None => Backend::Local(Entries::default()),
            Some(url) => Backend::Redis(
                Redis {
                    client: redis::Client::open(url.as_str())?,
                    manager: tokio::sync::Mutex::new(None),
                    last_failure: Mutex::new(None),
                    timeout: settings.redis_timeout,
                },
                Arc::new(Near {
                    entries: Entries::default(),
                    version: Default::default(),
                    live: Default::default(),
                    listener: Mutex::new(None),
                    channel: format!("{}:stock-changed", settings.namespace),
                }),
            ),
        };
        Ok(Self {
            backend: Arc::new(backend),
            counts: Arc::default(),
            ttl: settings.ttl,
            prefix: format!("{}:stock:", settings.namespace),
            namespace: settings.namespace.clone(),
        })
    }

    /// The Redis key of a sku's entry.
    pub fn key(&self, sku: &Sku) -> String {
        format!("{}{sku}", self.prefix)
    }

    /// Hits and misses of `stock_of`, per sku.
    pub fn counts(&self) -> &CacheCounts {
        &self.counts
    }

    /// Takes `cost` points from the leaky bucket `name` kept in Redis, so
    /// that every replica draws on the same one: the arithmetic of
    /// `domain::access::Bucket`, run atomically on the Redis server's clock.
    /// `None` without Redis or when the call fails (the caller then keeps
    /// the bucket in process).
    pub async fn take_from_bucket(
        &self,
        name: &str,
        cost: u64,
        size: domain::access::BucketSize,
    ) -> Option<domain::access::Take> {
        let Backend::Redis(redis, _) = &*self.backend else { return None };
        let key = format!("{}:bucket:{name}", self.namespace);
        let answer: (i64, String) = redis
            .call("EVAL bucket", |mut c| async move {
                redis::cmd("EVAL")
                    .arg(BUCKET_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(cost)
                    .arg(size.size)
                    .arg(size.per_second)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let available: f64 = answer.1.parse().ok()?;
        Some(if answer.0 == 1 {
            domain::access::Take::Paid { left: available }
        } else {
            domain::access::Take::Refused { available, retry_after_ms: size.wait_ms(cost, available) }
        })
    }

    pub fn is_redis(&self) -> bool {
        matches!(*self.backend, Backend::Redis(..))
    }

    /// Whether this replica's near copy is in use (the invalidation
    /// channel is up); always false for the in-process cache.
    pub fn near_cache_live(&self) -> bool {
        match &*self.backend {
            Backend::Local(_) => false,
            Backend::Redis(_, near) => near.live(),
        }
    }

    /// Starts (or restarts) listening for other replicas' invalidations.
    fn listen(&self, redis: &Redis, near: &Arc<Near>) {
        if near.live() {
            // Live means the listener runs: nothing to lock on the hot path.
            return;
        }
        let mut listener = near.listener.lock().unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            *listener = Some(runtime.spawn(near.clone().listen(redis.client.clone())));
        }
    }

    /// Whether Redis answers a `PING` within the call timeout; `None` for
    /// the in-process cache, which has nothing to ask.
    pub async fn ping(&self) -> Option<bool> {
        match &*self.backend {
            Backend::Local(_) => None,
            Backend::Redis(redis, _) => {
                let pong: Option<String> =
                    redis.call("PING", |mut c| async move { redis::cmd("PING").query_async(&mut c).await }).await;
                Some(pong.is_some())
            }
        }
    }

    /// Cached entries for `skus`, `None` where missing or unreadable.
    pub async fn get_many(&self, skus: &[Sku]) -> Vec<Option<SkuStock>> {
        let Backend::Redis(redis, near) = &*self.backend else {
            return self.get_many_far(skus).await;
        };
        self.listen(redis, near);
        let since = near.version();
        let mut out = if near.live() { near.entries.get(skus, self.ttl) } else { vec![None; skus.len()] };
        let missing: Vec<Sku> =
            skus.iter().zip(&out).filter(|(_, hit)| hit.is_none()).map(|(s, _)| s.clone()).collect();
        if missing.is_empty() {
            return out;
        }
        let mut far = self.get_many_far(&missing).await.into_iter();
        let mut read = Vec::new();
        for slot in out.iter_mut().filter(|s| s.is_none()) {
            *slot = far.next().flatten();
            read.extend(slot.clone());
        }
        near.fill(&read, since);
        out
    }

    /// Entries from the backing store: the in-process map, or Redis.
    async fn get_many_far(&self, skus: &[Sku]) -> Vec<Option<SkuStock>> {
        match &*self.backend {
            Backend::Local(entries) => entries.get(skus, self.ttl),
            Backend::Redis(redis, _) => {
                let keys: Vec<String> = skus.iter().map(|s| self.key(s)).collect();
                // One MGET for all skus: one round trip however many are asked.
                let values: Option<Vec<Option<String>>> =
                    redis.call("MGET", |mut c| async move { c.mget::<_, Vec<Option<String>>>(&keys).await }).await;
                match values {
                    Some(values) if values.len() == skus.len() => values
                        .into_iter()
                        .zip(skus)
                        .map(|(v, sku)| {
                            v.and_then(|text| serde_json::from_str::<CachedSku>(&text).ok())
                                .and_then(|c| c.into_stock(sku.clone()))
                        })
                        .collect(),
                    _ => vec![None; skus.len()],
                }
            }
        }
    }

    pub async fn put_many(&self, entries: &[SkuStock]) {
        let since = match &*self.backend {
            Backend::Redis(_, near) => near.version(),
            Backend::Local(_) => 0,
        };
        self.put_many_since(entries, since).await;
    }

    /// Stores entries read from the database; the near copy keeps them
    /// only if nothing was invalidated since `since`.
    async fn put_many_since(&self, entries: &[SkuStock], since: u64) {
        if entries.is_empty() {
            return;
        }
        match &*self.backend {
            Backend::Local(map) => map.put_if(entries, || true),
            Backend::Redis(redis, near) => {
                near.fill(entries, since);
                let ttl = self.ttl.as_secs().max(1);
                let mut pipe = redis::pipe();
                for e in entries {
                    let text = serde_json::to_string(&CachedSku::from_stock(e)).expect("plain data serializes");
                    pipe.set_ex(self.key(&e.sku), text, ttl).ignore();
                }
                let _: Option<()> =
                    redis.call("SET", |mut c| async move { pipe.query_async::<()>(&mut c).await }).await;
            }
        }
    }

    /// Drops the entries of `skus`; called after every write to their stock.
    pub async fn invalidate(&self, skus: &[Sku]) {
        if skus.is_empty() {
            return;
        }
        match &*self.backend {
            Backend::Local(map) => map.remove(Some(skus)),
            Backend::Redis(redis, near) => {
                near.evict(Some(skus));
                let keys: Vec<String> = skus.iter().map(|s| self.key(s)).collect();
                let changed: Vec<&str> = skus.iter().map(Sku::as_str).collect();
                let mut pipe = redis::pipe();
                pipe.del(&keys).ignore().publish(&near.channel, changed.join("\n")).ignore();
                let _: Option<()> =
                    redis.call("DEL+PUBLISH", |mut c| async move { pipe.query_async::<()>(&mut c).await }).await;
            }
        }
    }

    /// Drops every entry, e.g. after a warehouse was activated or retired.
    pub async fn invalidate_all(&self) {
        match &*self.backend {
            Backend::Local(map) => map.remove(None),
            Backend::Redis(redis, near) => {
                near.evict(None);
                let channel = near.channel.clone();
                let pattern = format!("{}*", self.prefix);
                let _: Option<()> = redis
                    .call("SCAN+DEL", |mut c| async move {
                        let keys: Vec<String> = {
                            let mut iter = c.scan_match::<_, String>(&pattern).await?;
                            let mut keys = Vec::new();
                            while let Some(k) = iter.next_item().await {
                                keys.push(k?);
                            }
                            keys
                        };
                        for chunk in keys.chunks(500) {
                            c.del::<_, ()>(chunk).await?;
                        }
                        c.publish::<_, _, ()>(&channel, "*").await
                    })
                    .await;
            }
        }
    }

    /// Stock of `skus` through the cache: hits from the cache, misses from
    /// the store (and then cached). Errors are the store's.
    #[tracing::instrument(name = "cache.read", skip_all, fields(skus = skus.len()))]
    pub async fn stock_of(&self, store: &Store, skus: &[Sku]) -> Result<Vec<SkuStock>, StoreError> {
        let cached = self.get_many(skus).await;
        let missing: Vec<Sku> =
            skus.iter().zip(&cached).filter(|(_, hit)| hit.is_none()).map(|(s, _)| s.clone()).collect();
        use std::sync::atomic::Ordering::Relaxed;
        self.counts.hits.fetch_add((skus.len() - missing.len()) as u64, Relaxed);
        self.counts.misses.fetch_add(missing.len() as u64, Relaxed);
        // Captured before the read: a write that lands meanwhile keeps
        // what this read saw out of the near copy.
        let since = match &*self.backend {
            Backend::Redis(_, near) => near.version(),
            Backend::Local(_) => 0,
        };
        let mut fresh = if missing.is_empty() { Vec::new() } else { store.stock_of(&missing).await? };
        self.put_many_since(&fresh, since).await;
        let mut out = Vec::with_capacity(skus.len());
        for hit in cached {
            match hit {
                Some(stock) => out.push(stock),
                None => out.push(fresh.remove(0)),
            }
        }
        Ok(out)
    }
}

impl Redis {
    /// Runs one Redis call with a timeout; any failure is logged and `None`.
    async fn call<T, F, Fut>(&self, what: &'static str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match tokio::time::timeout(self.timeout, op(connection)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::warn!(command = what, error = %e, "redis call failed; serving from the database");
                None
            }
            Err(_) => {
                tracing::warn!(
                    command = what,
                    timeout_ms = self.timeout.as_millis() as u64,
                    "redis call timed out; serving from the database"
                );
                None
            }
        }
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let mut slot = self.manager.lock().await;
        if let Some(manager) = slot.as_ref() {
            return Some(manager.clone());
        }
        {
            let last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return None;
            }
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        match tokio::time::timeout(self.timeout * 2, self.client.get_connection_manager_with_config(config)).await {
            Ok(Ok(manager)) => {
                tracing::info!("connected to redis");
                *slot = Some(manager.clone());
                Some(manager)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot connect to redis; serving from the database");
                *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                None
            }
            Err(_) => {
                tracing::warn!("connecting to redis timed out; serving from the database");
                *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                None
            }
        }
    }
}

/// Every warehouse, held in-process and refreshed at most every `max_age`
/// (or at once after this replica changed one). A network has tens to
/// hundreds of warehouses that change rarely, while every availability
/// location and every planned shipment names one: reading them per request
/// would cost more than everything else those requests do.
#[derive(Debug, Clone)]
pub struct WarehouseDirectory {
    inner: Arc<tokio::sync::RwLock<Option<LoadedView>>>,
    max_age: Duration,
}

/// A view and when it was loaded.
type LoadedView = (Instant, Arc<Warehouses>);

/// A consistent view of the warehouses, by id and by code.
#[derive(Debug, Default)]
pub struct Warehouses {
    by_id: HashMap<i64, WarehouseRecord>,
    by_code: HashMap<String, i64>,
}

impl Warehouses {
    pub fn by_id(&self, id: i64) -> Option<&WarehouseRecord> {
        self.by_id.get(&id)
    }

    pub fn by_code(&self, code: &str) -> Option<&WarehouseRecord> {
        self.by_code.get(code).and_then(|id| self.by_id.get(id))
    }
}

impl WarehouseDirectory {
    pub fn new(max_age: Duration) -> Self {
        Self { inner: Arc::new(tokio::sync::RwLock::new(None)), max_age }
    }

    /// The current view, reloaded from the store when stale.
    pub async fn get(&self, store: &Store) -> Result<Arc<Warehouses>, StoreError> {
        if let Some((at, view)) = &*self.inner.read().await
            && at.elapsed() < self.max_age
        {
            return Ok(view.clone());
        }
        let mut slot = self.inner.write().await;
        // Another request may have reloaded while this one waited.
        if let Some((at, view)) = &*slot
            && at.elapsed() < self.max_age
        {
            return Ok(view.clone());
        }
        let records = store.all_warehouses().await?;
        let view = Arc::new(Warehouses {
            by_code: records.iter().map(|w| (w.code.to_string(), w.id)).collect(),
            by_id: records.into_iter().map(|w| (w.id, w)).collect(),
        });
        *slot = Some((Instant::now(), view.clone()));
        Ok(view)
    }

    /// Forgets the view; the next read reloads it.
    pub async fn invalidate(&self) {
        *self.inner.write().await = None;
    }
}
