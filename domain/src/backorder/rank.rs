//! Queue positions in O(log n): a Fenwick tree (binary indexed tree) of
//! how many confirmed backorders of a sku wait at each queue key, kept
//! sparse (only nodes that count something exist).
//!
//! A backorder's queue key packs the two leading parts of queue order,
//! priority (higher first) and confirmation time (older first), into one
//! number that grows along the queue. The entries ahead of a backorder are
//! those with a smaller key plus those with the same key and a smaller id;
//! the tree answers the first part by summing at most 64 nodes, and the
//! second part (backorders of one priority confirmed in the same
//! millisecond) is a count the caller reads from its queue index.
//!
//! Joining or leaving the queue adds one or minus one to at most 64 nodes.
//! Both walks are fixed by the key alone, so a store keeps the tree as rows
//! `(sku, node) → entries` and touches only the nodes named here.

use std::collections::BTreeMap;

use crate::limits::MAX_PRIORITY;

/// Bits of the key that hold the confirmation time: milliseconds since
/// the epoch up to the year 2248.
const TIME_BITS: u32 = 43;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// Where a confirmed backorder stands in its sku's queue, as one number:
/// smaller is served earlier. Priorities outside `±MAX_PRIORITY` and times
/// outside the key's range are clamped to its ends (neither occurs: both
/// are checked or come from the clock).
pub fn queue_key(priority: i32, confirmed_at_ms: i64) -> u64 {
    let priority = i64::from(priority).clamp(-i64::from(MAX_PRIORITY), i64::from(MAX_PRIORITY));
    // Higher priority first: 0 for the highest, 2 × MAX_PRIORITY for the lowest.
    let band = u64::try_from(i64::from(MAX_PRIORITY) - priority).unwrap_or(0);
    let time = u64::try_from(confirmed_at_ms).unwrap_or(0).min(TIME_MASK);
    (band << TIME_BITS) | time
}

/// The nodes that count an entry at `key`: what joining or leaving the
/// queue adds one to or takes one from.
pub fn counting_nodes(key: u64) -> impl Iterator<Item = u64> {
    // The tree is 1-based; a key of u64::MAX cannot occur (the band is at
    // most 2 × MAX_PRIORITY < 2^21), so the shift by one never overflows.
    let mut node = Some(key + 1);
    std::iter::from_fn(move || {
        let current = node?;
        node = current.checked_add(current & current.wrapping_neg());
        Some(current)
    })
}

/// The nodes whose counts add up to the entries at keys smaller than `key`.
pub fn nodes_before(key: u64) -> impl Iterator<Item = u64> {
    // Entries at keys 0..key sit at nodes 1..=key: the prefix up to `key`.
    let mut node = key;
    std::iter::from_fn(move || {
        if node == 0 {
            return None;
        }
        let current = node;
        node &= node - 1;
        Some(current)
    })
}

/// What `entries` (a queue and a key each) joining their queues (`by` 1)
/// or leaving them (`by` −1) changes: an amount per queue and node. Entries
/// near each other in a queue share most of their nodes, so a batch of the
/// head costs far fewer rows than 64 per entry.
pub fn changes<Q: Ord + Copy>(entries: impl IntoIterator<Item = (Q, u64)>, by: i64) -> BTreeMap<(Q, u64), i64> {
    let mut changes = BTreeMap::new();
    for (queue, key) in entries {
        for node in counting_nodes(key) {
            *changes.entry((queue, node)).or_default() += by;
        }
    }
    changes
}

/// A node as a signed 64-bit column: the same bits, since nodes are only
/// ever compared for equality.
pub fn node_column(node: u64) -> i64 {
    i64::from_ne_bytes(node.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keys_follow_queue_order() {
        // Higher priority first, whatever the time.
        assert!(queue_key(5, 9_000) < queue_key(4, 1_000));
        assert!(queue_key(MAX_PRIORITY, i64::MAX) < queue_key(-MAX_PRIORITY, 0));
        // Within a priority, older first.
        assert!(queue_key(0, 1_000) < queue_key(0, 1_001));
        // Out of range ends are clamped, not wrapped.
        assert_eq!(queue_key(i32::MAX, 0), queue_key(MAX_PRIORITY, 0));
        assert_eq!(queue_key(0, -5), queue_key(0, 0));
        assert!(queue_key(-MAX_PRIORITY, i64::MAX) < u64::MAX);
    }

    #[test]
    fn walks_are_short() {
        let key = queue_key(-MAX_PRIORITY, (1 << TIME_BITS) - 1);
        assert!(counting_nodes(key).count() <= 64);
        assert!(nodes_before(key).count() <= 64);
        assert_eq!(nodes_before(0).count(), 0);
        assert_eq!(node_column(u64::MAX), -1);
    }

    proptest! {
        /// The tree, kept sparse in a map as a store keeps it, counts the
        /// entries before every key exactly, through joins and leaves.
        #[test]
        fn the_tree_counts_what_is_ahead(
            joined in proptest::collection::vec((-3i32..3, 0i64..40), 0..60),
            left in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
            asked in proptest::collection::vec((-4i32..4, -2i64..45), 1..20),
        ) {
            let mut entries: Vec<u64> = joined.into_iter().map(|(p, at)| queue_key(p, at)).collect();
            let mut tree: HashMap<u64, i64> =
                changes(entries.iter().map(|&k| ((), k)), 1).into_iter().map(|(((), n), c)| (n, c)).collect();
            let mut gone = Vec::new();
            for index in left {
                if entries.is_empty() {
                    break;
                }
                gone.push(((), entries.swap_remove(index.index(entries.len()))));
            }
            for (((), node), by) in changes(gone, -1) {
                let count = tree.get_mut(&node).expect("a counted node exists");
                *count += by;
                if *count == 0 {
                    tree.remove(&node);
                }
            }
            for (priority, at) in asked {
                let key = queue_key(priority, at);
                let counted: i64 = nodes_before(key).map(|n| tree.get(&n).copied().unwrap_or(0)).sum();
                let ahead = entries.iter().filter(|&&k| k < key).count() as i64;
                prop_assert_eq!(counted, ahead);
            }
            prop_assert!(tree.values().all(|&c| c > 0));
        }
    }
}
