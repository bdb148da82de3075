//! Which caller a request's key stands for, without a database read per
//! request: each replica keeps what it looked up for a short while
//! (`ttl`), so a revocation made anywhere takes effect everywhere within
//! `ttl`; and it records a key's last use once per `ttl` per replica
//! (never a write per request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::access::Caller;

use crate::digest::secret_hash;
use crate::store::{KEY_HASH_KIND, KEY_PREFIX, Store, StoreError};

/// How many distinct secrets a replica remembers; beyond it, what expired
/// is dropped first and then everything (a flood of made-up keys cannot
/// grow memory).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
struct Entry {
    caller: Option<Caller>,
    fetched: Instant,
}

#[derive(Debug, Clone)]
pub struct KeyRing {
    store: Store,
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl KeyRing {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self { store, ttl, entries: Arc::default() }
    }

    /// The caller the secret stands for; `None` for a secret that is not a
    /// key's, or a revoked key's.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Caller>, StoreError> {
        if !plausible(secret) {
            return Ok(None);
        }
        let hash = secret_hash(KEY_HASH_KIND, secret);
        if let Some(entry) = self.lock().get(&hash)
            && entry.fetched.elapsed() < self.ttl
        {
            return Ok(entry.caller.clone());
        }
        let caller = self.store.key_by_hash(&hash).await?.and_then(|k| k.caller());
        if let Some(caller) = &caller {
            // The lookup happens because the key is in use now; recorded off
            // the request's path, and a failure only loses a timestamp.
            let (store, id, now) = (self.store.clone(), caller.key_id, self.store.now_ms());
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(id, now).await {
                    tracing::warn!(error = %e, key = id, "cannot record a key's last use");
                }
            });
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.fetched.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, Entry { caller: caller.clone(), fetched: Instant::now() });
        Ok(caller)
    }

    /// Forgets a key here at once (the replica that revoked it); the others
    /// forget it within `ttl`.
    pub fn forget(&self, key_id: i64) {
        self.lock().retain(|_, e| e.caller.as_ref().is_none_or(|c| c.key_id != key_id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A secret as keys are made: the prefix and 64 hex digits (a demo key
/// may be shorter, never longer or of other characters).
fn plausible(secret: &str) -> bool {
    secret.starts_with(KEY_PREFIX)
        && secret.len() <= KEY_PREFIX.len() + 64
        && secret.bytes().skip(KEY_PREFIX.len()).all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
