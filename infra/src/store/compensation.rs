//! Compensation credits and the totals of an order.

use domain::Money;
use domain::compensation::{Grant, OrderTotals};
use domain::ids::OrderId;
use domain::order::EventKind;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::rows::event;
use super::{Store, StoreError, money_from_micros, to_micros};
use crate::db::entity::compensation;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompensationRecord {
    pub id: i64,
    pub order_id: i64,
    pub amount: Money,
    pub reason: String,
    pub automatic: bool,
    pub created_at_ms: i64,
}

fn record(m: compensation::Model) -> CompensationRecord {
    CompensationRecord {
        id: m.id,
        order_id: m.order_id,
        amount: money_from_micros(m.amount_micros),
        reason: m.reason,
        automatic: m.kind != "MANUAL",
        created_at_ms: m.created_at_ms,
    }
}

impl Store {
    /// Credits an order by hand (an agent's decision), exact to the cent.
    pub async fn issue_compensation(
        &self,
        order_id: OrderId,
        grant: Grant,
        reason: &str,
    ) -> Result<CompensationRecord, StoreError> {
        let order_id = order_id.get();
        let now = self.now_ms();
        let txn = self.write().await?;
        // Credits are the order's: two agents crediting at once each see
        // what the other granted, so the cap on the total holds.
        let mut locks = super::locks::Locks::new();
        locks.orders(&txn, &[order_id]).await?;
        let current = super::rows::totals(&txn, order_id).await?;
        let amount = current.credit(grant).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let id = compensation::Entity::insert(compensation::ActiveModel {
            order_id: Set(order_id),
            amount_micros: Set(to_micros(amount.amount())?),
            reason: Set(reason.to_owned()),
            kind: Set("MANUAL".to_owned()),
            backorder_id: Set(None),
            created_at_ms: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        event(
            &txn,
            order_id,
            EventKind::OrderCompensated,
            json!({ "amount": amount.to_string(), "reason": reason }),
            now,
        )
        .await?;
        txn.commit().await?;
        let row =
            compensation::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::UnknownOrder(order_id))?;
        Ok(record(row))
    }

    pub async fn compensations_of(&self, order_id: i64) -> Result<Vec<CompensationRecord>, StoreError> {
        let rows = compensation::Entity::find()
            .filter(compensation::Column::OrderId.eq(order_id))
            .order_by_asc(compensation::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    pub async fn order_totals(&self, order_id: i64) -> Result<OrderTotals, StoreError> {
        super::rows::totals(&self.db, order_id).await
    }
}
