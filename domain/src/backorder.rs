//! Backorders: the state machine and the queue.
//!
//! `AWAITING_CONFIRMATION → CONFIRMED → ALLOCATED`; `CANCELLED` or
//! `SUBSTITUTED` from either waiting state; `EXPIRED` when confirmation never
//! came. Units that arrive go to confirmed backorders of their
//! sku before anyone else: higher order priority first (3PLs let some
//! accounts jump the queue), then oldest confirmation, then oldest backorder.

pub mod rank;

use std::cmp::Reverse;

use thiserror::Error;

use crate::order::BackorderStatus;

/// What is asked of a backorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackorderAction {
    Confirm,
    Cancel,
    Allocate,
    /// The shopper never confirmed within the window.
    Expire,
    /// Another product ships instead.
    Substitute,
}

impl BackorderAction {
    fn verb(self) -> &'static str {
        match self {
            BackorderAction::Confirm => "confirmed",
            BackorderAction::Cancel => "cancelled",
            BackorderAction::Allocate => "allocated",
            BackorderAction::Expire => "expired",
            BackorderAction::Substitute => "substituted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a backorder that is {} cannot be {}", .from.as_str().to_lowercase().replace('_', " "), .action.verb())]
pub struct InvalidTransition {
    pub from: BackorderStatus,
    pub action: BackorderAction,
}

/// The state after `action`, or why it is not allowed.
pub fn transition(from: BackorderStatus, action: BackorderAction) -> Result<BackorderStatus, InvalidTransition> {
    use BackorderAction as A;
    use BackorderStatus as S;
    match (from, action) {
        (S::AwaitingConfirmation, A::Confirm) => Ok(S::Confirmed),
        (S::AwaitingConfirmation | S::Confirmed, A::Cancel) => Ok(S::Cancelled),
        (S::Confirmed, A::Allocate) => Ok(S::Allocated),
        (S::AwaitingConfirmation, A::Expire) => Ok(S::Expired),
        (S::AwaitingConfirmation | S::Confirmed, A::Substitute) => Ok(S::Substituted),
        _ => Err(InvalidTransition { from, action }),
    }
}

/// A confirmed backorder waiting for stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub id: i64,
    /// The order's priority; higher is served first.
    pub priority: i32,
    pub confirmed_at_ms: i64,
    pub quantity: u32,
}

/// Queue order: priority, then confirmation time, then id.
pub fn queue(mut waiting: Vec<Waiting>) -> Vec<Waiting> {
    waiting.sort_by_key(|w| (Reverse(w.priority), w.confirmed_at_ms, w.id));
    waiting
}

/// The order estimates walk the waiting backorders in: the queue first,
/// then the unconfirmed ones as if they joined it now, oldest first (their
/// `confirmed_at_ms` is their creation time).
pub fn estimation_order(confirmed: Vec<Waiting>, mut unconfirmed: Vec<Waiting>) -> Vec<Waiting> {
    let mut ordered = queue(confirmed);
    unconfirmed.sort_by_key(|w| (w.confirmed_at_ms, w.id));
    ordered.extend(unconfirmed);
    ordered
}

/// An expected receipt dated before `today` is a mistake, not a plan; one
/// dated beyond the horizon is a typo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReceiptDate {
    #[error("expectedOn must not be in the past")]
    InThePast,
    #[error("expectedOn must be at most {} days ahead", crate::limits::MAX_RECEIPT_HORIZON_DAYS)]
    TooFarAhead,
}

/// Checks an expected receipt's date against today.
pub fn expected_on(
    day: crate::calendar::Day,
    today: crate::calendar::Day,
) -> Result<crate::calendar::Day, InvalidReceiptDate> {
    if day < today {
        Err(InvalidReceiptDate::InThePast)
    } else if day > today.plus_days(crate::limits::MAX_RECEIPT_HORIZON_DAYS) {
        Err(InvalidReceiptDate::TooFarAhead)
    } else {
        Ok(day)
    }
}

/// Hands `units` to the queue in order: each backorder takes what it needs
/// or what is left. Returns (backorder id, units) for every backorder served.
pub fn allocate(waiting: Vec<Waiting>, mut units: u32) -> Vec<(i64, u32)> {
    let mut out = Vec::new();
    for w in queue(waiting) {
        if units == 0 {
            break;
        }
        let take = w.quantity.min(units);
        if take > 0 {
            units -= take;
            out.push((w.id, take));
        }
    }
    out
}

/// Stock expected at a warehouse on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub expected_on: crate::calendar::Day,
    pub quantity: u32,
    /// Where it arrives (the caller's warehouse key): what the transit to
    /// each backorder's destination is counted from.
    pub origin: i64,
}

/// When each waiting backorder can expect its units: walking the queue in
/// order against the receipts by date, a backorder's units come with the
/// receipt that, after everything ahead of it, covers its last unit, and
/// `arrival(backorder id, receipt)` says when that reaches the shopper;
/// `fallback` (today plus the supplier's lead time) when the receipts run
/// out. `waiting` must already be in the order the units will be handed out.
pub fn estimate_availability(
    waiting: &[Waiting],
    receipts: &[Receipt],
    fallback: crate::calendar::Day,
    arrival: impl Fn(i64, &Receipt) -> crate::calendar::Day,
) -> Vec<(i64, crate::calendar::Day)> {
    let mut receipts = receipts.to_vec();
    receipts.sort_by_key(|r| (r.expected_on, r.origin));
    let mut supply = receipts.iter().scan(0u64, |total, r| {
        *total += u64::from(r.quantity);
        Some((*total, r))
    });
    let mut current = supply.next();
    let mut demand = 0u64;
    waiting
        .iter()
        .map(|w| {
            demand += u64::from(w.quantity);
            while let Some((covered, _)) = current {
                if covered >= demand {
                    break;
                }
                current = supply.next();
            }
            (w.id, current.map_or(fallback, |(_, r)| arrival(w.id, r)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_walk_the_queue_then_the_unconfirmed_oldest_first() {
        let w = |id, priority, at| Waiting { id, priority, confirmed_at_ms: at, quantity: 1 };
        let order = estimation_order(vec![w(1, 0, 50), w(2, 5, 90)], vec![w(3, 9, 70), w(4, 9, 10)]);
        assert_eq!(order.iter().map(|w| w.id).collect::<Vec<_>>(), [2, 1, 4, 3]);
    }

    #[test]
    fn an_expected_receipt_may_be_today_but_not_yesterday() {
        let today = crate::calendar::Day::from_days_since_epoch(100);
        assert_eq!(expected_on(today, today), Ok(today));
        assert_eq!(expected_on(today.plus_days(3), today), Ok(today.plus_days(3)));
        assert_eq!(
            expected_on(crate::calendar::Day::from_days_since_epoch(99), today),
            Err(InvalidReceiptDate::InThePast)
        );
        assert_eq!(expected_on(today.plus_days(3_650), today), Ok(today.plus_days(3_650)));
        assert_eq!(expected_on(today.plus_days(3_651), today), Err(InvalidReceiptDate::TooFarAhead));
    }
    use proptest::prelude::*;

    #[test]
    fn only_waiting_backorders_can_be_confirmed_cancelled_or_allocated() {
        use BackorderAction as A;
        use BackorderStatus as S;
        assert_eq!(transition(S::AwaitingConfirmation, A::Confirm), Ok(S::Confirmed));
        assert_eq!(transition(S::Confirmed, A::Cancel), Ok(S::Cancelled));
        assert_eq!(transition(S::AwaitingConfirmation, A::Cancel), Ok(S::Cancelled));
        assert_eq!(transition(S::Confirmed, A::Allocate), Ok(S::Allocated));
        let err = transition(S::Cancelled, A::Confirm).unwrap_err();
        assert_eq!(err.to_string(), "a backorder that is cancelled cannot be confirmed");
        assert!(transition(S::Confirmed, A::Confirm).is_err());
        assert!(transition(S::AwaitingConfirmation, A::Allocate).is_err());
        assert_eq!(transition(S::AwaitingConfirmation, A::Expire), Ok(S::Expired));
        assert!(transition(S::Confirmed, A::Expire).is_err(), "a confirmed backorder waits, it does not expire");
        assert_eq!(transition(S::Confirmed, A::Substitute), Ok(S::Substituted));
        assert_eq!(transition(S::AwaitingConfirmation, A::Substitute), Ok(S::Substituted));
        for s in [S::Allocated, S::Cancelled, S::Substituted, S::Expired] {
            for action in [A::Cancel, A::Confirm, A::Allocate, A::Expire, A::Substitute] {
                assert!(transition(s, action).is_err(), "{s} {action:?}");
            }
        }
    }

    #[test]
    fn the_queue_serves_priority_then_the_oldest_confirmation() {
        let w = |id, priority, at, quantity| Waiting { id, priority, confirmed_at_ms: at, quantity };
        let served = allocate(vec![w(1, 0, 300, 2), w(2, 0, 100, 3), w(3, 5, 900, 1), w(4, 0, 100, 4)], 5);
        assert_eq!(served, [(3, 1), (2, 3), (4, 1)]);
        assert!(allocate(vec![w(1, 0, 1, 2)], 0).is_empty());
    }

    #[test]
    fn availability_dates_follow_the_queue_through_the_receipts() {
        use crate::calendar::Day;
        let day = Day::from_days_since_epoch;
        let w = |id, quantity| Waiting { id, priority: 0, confirmed_at_ms: id, quantity };
        let receipts = [
            Receipt { expected_on: day(20), quantity: 5, origin: 2 },
            Receipt { expected_on: day(10), quantity: 4, origin: 1 },
        ];
        let on_arrival = |_: i64, r: &Receipt| r.expected_on;
        let dates = estimate_availability(&[w(1, 3), w(2, 2), w(3, 4), w(4, 1)], &receipts, day(99), on_arrival);
        // Day 10 brings 4 (covers #1's 3), day 20 five more (covers #2 and #3
        // exactly: 3 + 2 + 4 = 9); #4 waits for the supplier.
        assert_eq!(dates, [(1, day(10)), (2, day(20)), (3, day(20)), (4, day(99))]);
        assert_eq!(estimate_availability(&[w(1, 1)], &[], day(7), on_arrival), [(1, day(7))]);
        // Transit is counted from where the covering receipt lands, per backorder.
        let transit = |id: i64, r: &Receipt| r.expected_on.plus_days(u32::try_from(id + r.origin).unwrap());
        let dates = estimate_availability(&[w(1, 3), w(2, 2)], &receipts, day(99), transit);
        assert_eq!(dates, [(1, day(12)), (2, day(24))]);
    }

    proptest! {
        #[test]
        fn allocation_never_exceeds_units_or_needs_and_serves_in_queue_order(
            needs in prop::collection::vec((0i32..3, 0i64..50, 1u32..6), 0..12),
            units in 0u32..40,
        ) {
            let waiting: Vec<Waiting> = needs.iter().enumerate()
                .map(|(i, &(priority, at, quantity))| Waiting { id: i as i64, priority, confirmed_at_ms: at, quantity })
                .collect();
            let served = allocate(waiting.clone(), units);
            let total: u32 = served.iter().map(|s| s.1).sum();
            let need: u32 = waiting.iter().map(|w| w.quantity).sum();
            prop_assert_eq!(total, units.min(need));
            let order: Vec<i64> = queue(waiting.clone()).iter().map(|w| w.id).collect();
            // Served ids are a prefix of the queue, all full but the last.
            for (k, &(id, take)) in served.iter().enumerate() {
                prop_assert_eq!(id, order[k]);
                let w = waiting.iter().find(|w| w.id == id).unwrap();
                if k + 1 < served.len() {
                    prop_assert_eq!(take, w.quantity);
                }
            }
        }
    }
}
