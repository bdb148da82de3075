//! Retrying writes that lost a race.
//!
//! Every store write checks, inside its transaction, that the rows it read
//! still hold what it saw; when a concurrent writer got there first (or the
//! database picked it as a deadlock victim) the whole transaction rolls back
//! and the store answers `StockMoved`. Nothing was written, so running it
//! again is safe.

use std::time::Duration;

use infra::store::StoreError;

/// How many times a write runs before the caller gets `CONTENTION`.
pub const WRITE_ATTEMPTS: u32 = 8;

/// A random pause before trying again, growing with the attempt: writers
/// that collided on the same rows spread out instead of colliding again.
pub fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let ceiling_ms = 2u64.saturating_mul(u64::from(attempt) + 1).min(50);
    let random = RandomState::new().hash_one(attempt);
    Duration::from_micros(random % (ceiling_ms * 1_000 + 1))
}

/// Runs `write` until it is not pre-empted by a concurrent writer, at most
/// [`WRITE_ATTEMPTS`] times.
pub async fn retrying<T, F, W>(mut write: W) -> Result<T, StoreError>
where
    W: FnMut() -> F,
    F: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(StoreError::StockMoved) if attempt + 1 < WRITE_ATTEMPTS => {
                tracing::debug!(attempt, "write pre-empted by a concurrent writer; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// How long a stock arrival (a feed, a receipt, a positive adjustment, an
/// expected receipt) keeps being retried before the caller hears of it.
pub const ARRIVAL_DEADLINE: Duration = Duration::from_secs(30);

/// Runs a write that reports what a warehouse holds until it applies: a
/// warehouse's count is the truth and a partner that is told `CONTENTION`
/// may never resend it. Lost races are retried with backoff (capped, so a
/// long queue of writers is not overtaken for ever) until `deadline` has
/// passed; only then does the race reach the caller.
pub async fn retrying_arrival<T, F, W>(deadline: Duration, mut write: W) -> Result<T, StoreError>
where
    W: FnMut() -> F,
    F: Future<Output = Result<T, StoreError>>,
{
    let started = tokio::time::Instant::now();
    let mut attempt = 0;
    loop {
        match write().await {
            Err(StoreError::StockMoved) if started.elapsed() < deadline => {
                tracing::debug!(attempt, "stock arrival pre-empted by a concurrent writer; retrying");
                tokio::time::sleep(backoff(attempt.min(WRITE_ATTEMPTS))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn a_lost_race_is_run_again_until_it_goes_through() {
        let calls = Cell::new(0);
        let result = retrying(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 3 { Err(StoreError::StockMoved) } else { Ok(n) } }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test]
    async fn it_gives_up_after_the_last_attempt_and_never_retries_other_errors() {
        let calls = Cell::new(0);
        let result: Result<(), _> = retrying(|| {
            calls.set(calls.get() + 1);
            async { Err(StoreError::StockMoved) }
        })
        .await;
        assert!(matches!(result, Err(StoreError::StockMoved)));
        assert_eq!(calls.get(), WRITE_ATTEMPTS);

        calls.set(0);
        let result: Result<(), _> = retrying(|| {
            calls.set(calls.get() + 1);
            async { Err(StoreError::UnknownOrder(7)) }
        })
        .await;
        assert!(matches!(result, Err(StoreError::UnknownOrder(7))));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stock_arrival_is_retried_past_the_usual_attempts_until_its_deadline() {
        let calls = Cell::new(0);
        let result = retrying_arrival(ARRIVAL_DEADLINE, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n <= 3 * WRITE_ATTEMPTS { Err(StoreError::StockMoved) } else { Ok(n) } }
        })
        .await;
        assert_eq!(result.unwrap(), 3 * WRITE_ATTEMPTS + 1);

        calls.set(0);
        let result: Result<(), _> = retrying_arrival(Duration::from_secs(1), || {
            calls.set(calls.get() + 1);
            async { Err(StoreError::StockMoved) }
        })
        .await;
        assert!(matches!(result, Err(StoreError::StockMoved)), "it gives up once the deadline passed");
        assert!(calls.get() > WRITE_ATTEMPTS, "{} attempts", calls.get());

        calls.set(0);
        let result: Result<(), _> = retrying_arrival(ARRIVAL_DEADLINE, || {
            calls.set(calls.get() + 1);
            async { Err(StoreError::UnknownSku("X".to_owned())) }
        })
        .await;
        assert!(matches!(result, Err(StoreError::UnknownSku(_))));
        assert_eq!(calls.get(), 1);
    }
}
