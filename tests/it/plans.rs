//! What each database plans for the queue reads: a read whose cost would
//! grow with the length of a queue (a full scan of backorders, a sort of
//! every row it reads) fails here, on both databases, whatever the sizes in
//! the other tests. The reads come from the store itself
//! (`infra::store::queue_reads`), as it sends them.
//!
//! On Postgres the planner is told to avoid sequential scans, sorts and
//! bitmap scans (which lose the index's order): on the small tables of a
//! test it would rightly prefer them, and the question is whether an index
//! can serve the read in order at all. It still uses them when nothing else
//! can, which is what fails the test.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};

use crate::support::{Lane, lanes, spawn_app};

async fn plan(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let txn = db.begin().await.unwrap();
    let explain = match backend {
        DatabaseBackend::Postgres => {
            for setting in ["enable_seqscan", "enable_sort", "enable_bitmapscan"] {
                txn.execute_unprepared(&format!("SET LOCAL {setting} = off")).await.unwrap();
            }
            format!("EXPLAIN {sql}")
        }
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = txn.query_all_raw(Statement::from_string(backend, explain)).await.unwrap();
    let column = if backend == DatabaseBackend::Postgres { "QUERY PLAN" } else { "detail" };
    let lines = rows.iter().map(|r| r.try_get::<String>("", column).unwrap()).collect();
    txn.rollback().await.unwrap();
    lines
}

#[tokio::test]
async fn queue_reads_go_through_indexes_in_queue_order() {
    for lane in lanes() {
        let app = spawn_app(lane).await;
        let db = infra::db::connect(&app.database).await.unwrap();
        for (name, sql, leading) in infra::store::queue_reads(db.get_database_backend()) {
            let plan = plan(&db, &sql).await;
            let text = plan.join("\n");
            let full_scan = match lane {
                Lane::Postgres => text.contains("Seq Scan on backorders"),
                Lane::Sqlite => plan.iter().any(|l| l.starts_with("SCAN backorders")),
            };
            let sorts = match lane {
                Lane::Postgres => plan.iter().any(|l| l.trim_start().trim_start_matches("->  ").starts_with("Sort")),
                Lane::Sqlite => text.contains("USE TEMP B-TREE FOR ORDER BY"),
            };
            assert!(!full_scan, "[{lane:?}] {name} scans every backorder:\n{sql}\n{text}");
            assert!(!sorts, "[{lane:?}] {name} sorts what it reads:\n{sql}\n{text}");
            // The index search names the column it starts from.
            let searched = match lane {
                Lane::Postgres => plan.iter().any(|l| l.contains("Index Cond") && l.contains(leading)),
                Lane::Sqlite => {
                    plan.iter().any(|l| l.starts_with("SEARCH backorders") && l.contains(&format!("({leading}")))
                }
            };
            assert!(searched, "[{lane:?}] {name} does not search an index by {leading}:\n{sql}\n{text}");
        }
    }
}
