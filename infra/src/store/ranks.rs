//! Queue positions from the rank tree of each sku's queue
//! (`domain::backorder::rank`, rows of `queue_counts`): whoever moves a
//! backorder into or out of the confirmed queue says so here, under the
//! product's lock, and a position is a read of at most 64 nodes plus the
//! backorders confirmed in the same millisecond, whatever the queue's length.

use std::collections::{BTreeMap, HashMap};

use domain::backorder::rank::{self, node_column, nodes_before, queue_key};
use domain::order::BackorderStatus;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Select, Set,
};

use super::StoreError;
use super::locks::Locks;
use crate::db::entity::{backorder, queue_count};

/// Tree rows one statement writes or reads at most.
const NODES_PER_STATEMENT: usize = 500;

/// A confirmed backorder's key in its queue.
pub(super) fn key_of(row: &backorder::Model) -> u64 {
    stored_key(row.priority, row.confirmed_at_ms, row.created_at_ms)
}

/// The key of a stored backorder: its confirmation is its place, or its
/// creation where no confirmation time is stored (as queue order sorts it).
fn stored_key(priority: i32, confirmed_at_ms: Option<i64>, created_at_ms: i64) -> u64 {
    queue_key(priority, confirmed_at_ms.unwrap_or(created_at_ms))
}

/// A confirmed backorder's queue and key.
pub(super) fn entry(row: &backorder::Model) -> (i64, u64) {
    (row.product_id, key_of(row))
}

/// Confirmed backorders (`entry`) joined their queues (`by` 1) or left
/// them (−1): the nodes that count them move, set-based, and nodes that
/// count nothing any more are deleted, so the tree stays the size of the
/// queues.
pub(super) async fn moved<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    entries: impl IntoIterator<Item = (i64, u64)>,
    by: i64,
) -> Result<(), StoreError> {
    let entries: Vec<(i64, u64)> = entries.into_iter().collect();
    for &(product_id, _) in &entries {
        locks.require_product(product_id)?;
    }
    let changes: Vec<((i64, u64), i64)> = rank::changes(entries, by).into_iter().collect();
    for chunk in changes.chunks(NODES_PER_STATEMENT) {
        let added = Expr::col((queue_count::Entity, queue_count::Column::Entries))
            .add(Expr::col((sea_orm::sea_query::Alias::new("excluded"), queue_count::Column::Entries)));
        queue_count::Entity::insert_many(chunk.iter().map(|&((product_id, node), entries)| queue_count::ActiveModel {
            product_id: Set(product_id),
            node: Set(node_column(node)),
            entries: Set(entries),
        }))
        .on_conflict(
            OnConflict::columns([queue_count::Column::ProductId, queue_count::Column::Node])
                .value(queue_count::Column::Entries, added)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    if by < 0 {
        let mut by_product: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for &((product_id, node), _) in &changes {
            by_product.entry(product_id).or_default().push(node_column(node));
        }
        for (product_id, nodes) in by_product {
            for chunk in nodes.chunks(NODES_PER_STATEMENT) {
                queue_count::Entity::delete_many()
                    .filter(queue_count::Column::ProductId.eq(product_id))
                    .filter(queue_count::Column::Node.is_in(chunk.iter().copied()))
                    .filter(queue_count::Column::Entries.eq(0))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Builds a product's tree again from its confirmed backorders: what a
/// database whose backorders were written around the store (an import, a
/// hand repair) needs before its positions can be trusted. Reads the whole
/// queue, so it is a repair, never part of a request.
pub(super) async fn recount<C: ConnectionTrait>(db: &C, locks: &Locks, product_id: i64) -> Result<(), StoreError> {
    locks.require_product(product_id)?;
    queue_count::Entity::delete_many().filter(queue_count::Column::ProductId.eq(product_id)).exec(db).await?;
    let confirmed: Vec<(i32, Option<i64>, i64)> = backorder::Entity::find()
        .select_only()
        .columns([backorder::Column::Priority, backorder::Column::ConfirmedAtMs, backorder::Column::CreatedAtMs])
        .filter(backorder::Column::ProductId.eq(product_id))
        .filter(backorder::Column::Status.eq(BackorderStatus::Confirmed.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    let entries = confirmed
        .into_iter()
        .map(|(priority, confirmed, created)| (product_id, stored_key(priority, confirmed, created)));
    moved(db, locks, entries, 1).await
}

/// How many confirmed backorders are ahead of each of `rows` (confirmed
/// backorders of one product) in its queue: the tree's counts below each
/// key and below the next one, read in one statement, and, only for keys
/// the tree says more than one backorder holds, the ties among them
/// (`same_key_ahead`).
pub(super) async fn ahead<C: ConnectionTrait>(
    db: &C,
    product_id: i64,
    rows: &[&backorder::Model],
) -> Result<Vec<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<u64> = rows.iter().map(|b| key_of(b)).collect();
    // The key's band is far below the top bit, so the next key exists.
    let mut nodes: Vec<i64> =
        keys.iter().flat_map(|&k| nodes_before(k).chain(nodes_before(k + 1))).map(node_column).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let mut counts: HashMap<i64, i64> = HashMap::new();
    for chunk in nodes.chunks(NODES_PER_STATEMENT) {
        let read: Vec<(i64, i64)> = tree_nodes(product_id, chunk).into_tuple().all(db).await?;
        counts.extend(read);
    }
    let below =
        |key: u64| -> i64 { nodes_before(key).map(|n| counts.get(&node_column(n)).copied().unwrap_or(0)).sum() };
    let mut ahead: Vec<i64> = keys.iter().map(|&k| below(k)).collect();
    let tied: Vec<usize> = (0..rows.len()).filter(|&i| below(keys[i] + 1) - ahead[i] > 1).collect();
    if !tied.is_empty() {
        let tied_rows: Vec<&backorder::Model> = tied.iter().map(|&i| rows[i]).collect();
        let ties = same_key_ahead(product_id, &tied_rows);
        let counted = db
            .query_one_raw(ties.build(db.get_database_backend()))
            .await?
            .ok_or_else(|| StoreError::Invariant("a count of ties in a queue answered no row".to_owned()))?;
        for (t, &i) in tied.iter().enumerate() {
            ahead[i] += counted.try_get::<i64>("", &format!("t{t}"))?;
        }
    }
    Ok(ahead)
}

/// The counts of some nodes of a product's tree, by primary key.
pub(super) fn tree_nodes(product_id: i64, nodes: &[i64]) -> Select<queue_count::Entity> {
    queue_count::Entity::find()
        .select_only()
        .column(queue_count::Column::Node)
        .column(queue_count::Column::Entries)
        .filter(queue_count::Column::ProductId.eq(product_id))
        .filter(queue_count::Column::Node.is_in(nodes.iter().copied()))
}

/// For each of `rows`, the confirmed backorders of its priority confirmed
/// in the same millisecond with a smaller id (`t0`, `t1`, …): what the tree
/// cannot tell apart, read as ranges of the queue index.
pub(super) fn same_key_ahead(product_id: i64, rows: &[&backorder::Model]) -> Select<backorder::Entity> {
    use sea_orm::sea_query::Func;
    let same_key = |b: &backorder::Model| {
        Condition::all()
            .add(backorder::Column::Priority.eq(b.priority))
            .add(backorder::Column::ConfirmedAtMs.eq(b.confirmed_at_ms.unwrap_or(b.created_at_ms)))
    };
    let mut any = Condition::any();
    let mut query = backorder::Entity::find().select_only();
    for (i, b) in rows.iter().enumerate() {
        any = any.add(same_key(b));
        let ahead = Expr::case(same_key(b).add(backorder::Column::Id.lt(b.id)), Expr::val(1)).finally(Expr::val(0));
        let counted: [Expr; 2] = [Func::sum(ahead).into(), Expr::val(0)];
        query = query.expr_as(Func::coalesce(counted), format!("t{i}"));
    }
    query
        .filter(backorder::Column::ProductId.eq(product_id))
        .filter(backorder::Column::Status.eq(BackorderStatus::Confirmed.as_str()))
        .filter(any)
}
