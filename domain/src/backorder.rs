//! Backorders: the state machine and the queue.
//!
//! `AWAITING_CONFIRMATION → CONFIRMED → ALLOCATED`, or `CANCELLED` from
//! either waiting state. Units that arrive go to confirmed backorders of their
//! sku before anyone else: higher order priority first (3PLs let some
//! accounts jump the queue), then oldest confirmation, then oldest backorder.

use std::cmp::Reverse;

use thiserror::Error;

use crate::order::BackorderStatus;

/// What is asked of a backorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackorderAction {
    Confirm,
    Cancel,
    Allocate,
}

impl BackorderAction {
    fn verb(self) -> &'static str {
        match self {
            BackorderAction::Confirm => "confirmed",
            BackorderAction::Cancel => "cancelled",
            BackorderAction::Allocate => "allocated",
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

#[cfg(test)]
mod tests {
    use super::*;
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
        for s in [S::Allocated, S::Cancelled, S::Substituted, S::Expired] {
            assert!(transition(s, A::Cancel).is_err(), "{s}");
        }
    }

    #[test]
    fn the_queue_serves_priority_then_the_oldest_confirmation() {
        let w = |id, priority, at, quantity| Waiting { id, priority, confirmed_at_ms: at, quantity };
        let served = allocate(vec![w(1, 0, 300, 2), w(2, 0, 100, 3), w(3, 5, 900, 1), w(4, 0, 100, 4)], 5);
        assert_eq!(served, [(3, 1), (2, 3), (4, 1)]);
        assert!(allocate(vec![w(1, 0, 1, 2)], 0).is_empty());
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
