//! Changing an order after it was placed: cancelling part of a line,
//! substituting another product for waiting units, and re-sourcing units a
//! warehouse could not pick.
//!
//! Every unit of a line stays accounted for: ordered = shipped + in open
//! packages + waiting + cancelled + substituted. Each change runs in one
//! transaction with the same guards as allocation (stock rows by their
//! conditional updates, backorder rows by their expected status and
//! quantity), and units it frees go to the backorder queue first.

use std::collections::HashMap;

use domain::Money;
use domain::amend::{AmendError, LineAccount, SubstitutionStatus, newest_first};
use domain::backorder::BackorderAction;
use domain::ids::{OrderLineId, ShipmentId, SubstitutionId};
use domain::order::{EventKind, ShipmentStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde_json::json;

use super::backorders::allocate_arrivals;
use super::locks::Locks;
use super::placing::{LineRef, open_backorder, place_units, settle_order};
use super::queue::refresh_estimates;
use super::rows::{OPEN, UNSHIPPED, cap_credits, count_on_line, event, move_shipment, package, split_backorder};
use super::rows::{StockChange, release};
use super::stored;
use super::{Store, StoreError, money_from_micros};
use crate::db::entity::{backorder, order, order_line, product, shipment, shipment_line, substitution};

fn units(v: i64) -> Result<u32, StoreError> {
    stored::count("units", v)
}

/// Accounts for every line of the given orders: line id → (order id, account).
async fn accounts<C: ConnectionTrait>(
    db: &C,
    order_ids: &[i64],
) -> Result<HashMap<i64, (i64, LineAccount)>, StoreError> {
    if order_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let lines =
        order_line::Entity::find().filter(order_line::Column::OrderId.is_in(order_ids.iter().copied())).all(db).await?;
    let mut out: HashMap<i64, (i64, LineAccount)> = lines
        .iter()
        .map(|l| {
            let account = LineAccount {
                ordered: units(l.quantity)?,
                cancelled: units(l.cancelled)?,
                substituted: units(l.substituted)?,
                ..Default::default()
            };
            Ok((l.id, (l.order_id, account)))
        })
        .collect::<Result<_, StoreError>>()?;
    let shipments: HashMap<i64, ShipmentStatus> = shipment::Entity::find()
        .filter(shipment::Column::OrderId.is_in(order_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|s| Ok((s.id, stored::shipment_status(&s.status)?)))
        .collect::<Result<_, StoreError>>()?;
    let shipment_lines = if shipments.is_empty() {
        Vec::new()
    } else {
        shipment_line::Entity::find()
            .filter(shipment_line::Column::ShipmentId.is_in(shipments.keys().copied()))
            .all(db)
            .await?
    };
    for sl in shipment_lines {
        let Some((_, account)) = out.get_mut(&sl.order_line_id) else { continue };
        match shipments[&sl.shipment_id] {
            ShipmentStatus::Shipped => account.shipped += units(sl.quantity)?,
            ShipmentStatus::Pending | ShipmentStatus::Released => account.allocated += units(sl.quantity)?,
            ShipmentStatus::Cancelled => {}
        }
    }
    let waiting = super::rows::waiting_of(order_ids.iter().copied()).all(db).await?;
    for b in waiting {
        if let Some((_, account)) = out.get_mut(&b.order_line_id) {
            account.backordered += units(b.quantity)?;
        }
    }
    Ok(out)
}

/// A line's account, read under its order's lock: one that does not add up
/// is a broken invariant, and nothing is changed on it.
async fn account_of<C: ConnectionTrait>(db: &C, line: &order_line::Model) -> Result<LineAccount, StoreError> {
    let account = accounts(db, &[line.order_id])
        .await?
        .remove(&line.id)
        .map(|(_, account)| account)
        .ok_or_else(|| StoreError::Invariant(format!("line {} is missing from its order's accounts", line.id)))?;
    if !account.balances() {
        return Err(StoreError::Invariant(format!("line {} does not balance: {account:?}", line.id)));
    }
    Ok(account)
}

/// Locks `products` and then the line's order, and reads the line and the
/// order again as they are under the locks.
async fn lock_line<C: ConnectionTrait>(
    db: &C,
    locks: &mut Locks,
    products: &[i64],
    line: &order_line::Model,
) -> Result<(order_line::Model, order::Model), StoreError> {
    locks.products(db, products).await?;
    locks.orders(db, &[line.order_id]).await?;
    line_and_order(db, line.id).await
}

async fn line_and_order<C: ConnectionTrait>(
    db: &C,
    line_id: i64,
) -> Result<(order_line::Model, order::Model), StoreError> {
    let line = order_line::Entity::find_by_id(line_id).one(db).await?.ok_or(StoreError::UnknownLine(line_id))?;
    let order =
        order::Entity::find_by_id(line.order_id).one(db).await?.ok_or(StoreError::UnknownOrder(line.order_id))?;
    Ok((line, order))
}

/// Takes `wanted` units out of a line's waiting backorders, newest first
/// (the oldest keep their place in the queue), by `action` (cancel or
/// substitute). Returns
/// the units taken.
async fn take_waiting<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    line: &order_line::Model,
    wanted: u32,
    action: BackorderAction,
    now: i64,
) -> Result<u32, StoreError> {
    let rows: HashMap<i64, backorder::Model> = backorder::Entity::find()
        .filter(backorder::Column::OrderLineId.eq(line.id))
        .filter(backorder::Column::Status.is_in(OPEN))
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let held = rows.values().map(|b| Ok((b.id, units(b.quantity)?))).collect::<Result<_, StoreError>>()?;
    let mut taken = 0;
    for (id, take) in newest_first(held, wanted) {
        let row = &rows[&id];
        split_backorder(db, locks, row, i64::from(take), action, now).await?;
        if action == BackorderAction::Cancel {
            let payload = json!({ "backorder": row.id, "sku": row.sku, "quantity": take });
            event(db, line.order_id, EventKind::BackorderCancelled, payload, now).await?;
        }
        taken += take;
    }
    Ok(taken)
}

/// Takes `wanted` units out of a line's packages that have not left, newest
/// first, releasing their reservations (`shipped == false`) or writing them
/// off the warehouse's on-hand (`shipped == true`: they are gone). A package
/// left empty is cancelled. Returns the units taken.
async fn take_from_packages<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    rows: Vec<(shipment::Model, shipment_line::Model)>,
    wanted: u32,
    written_off: bool,
    now: i64,
) -> Result<u32, StoreError> {
    let held =
        rows.iter().map(|(s, sl)| Ok(((s.id, sl.id), units(sl.quantity)?))).collect::<Result<_, StoreError>>()?;
    let mut taken = 0;
    for ((shipment_id, line_id), take) in newest_first(held, wanted) {
        let (s, sl) = rows.iter().find(|(s, sl)| s.id == shipment_id && sl.id == line_id).expect("chosen from rows");
        let take = i64::from(take);
        move_shipment(db, s.id, &UNSHIPPED, None, now).await?;
        let guarded = shipment_line::Entity::update_many()
            .col_expr(shipment_line::Column::Quantity, Expr::col(shipment_line::Column::Quantity).sub(take))
            .filter(shipment_line::Column::Id.eq(sl.id))
            .filter(shipment_line::Column::Quantity.eq(sl.quantity))
            .exec(db)
            .await?;
        if guarded.rows_affected != 1 {
            return Err(StoreError::StockMoved);
        }
        if take == sl.quantity {
            shipment_line::Entity::delete_by_id(sl.id).exec(db).await?;
        }
        release(db, locks, s.warehouse_id, sl.product_id, take, written_off.then_some(StockChange::ShortPick), now)
            .await?;
        let remaining =
            shipment_line::Entity::find().filter(shipment_line::Column::ShipmentId.eq(s.id)).count(db).await?;
        if remaining == 0 {
            move_shipment(db, s.id, &UNSHIPPED, Some(ShipmentStatus::Cancelled), now).await?;
            event(db, s.order_id, EventKind::ShipmentCancelled, json!({ "shipment": s.id, "reason": "empty" }), now)
                .await?;
        }
        taken += units(take)?;
    }
    Ok(taken)
}

/// A line's units in packages that have not left; `only` narrows to one
/// package.
async fn unshipped_of<C: ConnectionTrait>(
    db: &C,
    line_id: i64,
    only: Option<i64>,
) -> Result<Vec<(shipment::Model, shipment_line::Model)>, StoreError> {
    let lines = shipment_line::Entity::find()
        .filter(shipment_line::Column::OrderLineId.eq(line_id))
        .order_by_desc(shipment_line::Column::Id)
        .all(db)
        .await?;
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = shipment::Entity::find()
        .filter(shipment::Column::Id.is_in(lines.iter().map(|l| l.shipment_id)))
        .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)));
    if let Some(id) = only {
        query = query.filter(shipment::Column::Id.eq(id));
    }
    let open: HashMap<i64, shipment::Model> = query.all(db).await?.into_iter().map(|s| (s.id, s)).collect();
    let rows: Vec<(shipment::Model, shipment_line::Model)> =
        lines.into_iter().filter_map(|l| open.get(&l.shipment_id).map(|s| (s.clone(), l))).collect();
    Ok(rows)
}

/// A substitution as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstitutionRecord {
    pub id: i64,
    pub order_id: i64,
    pub order_line_id: i64,
    pub original_sku: String,
    pub substitute_sku: domain::Sku,
    pub quantity: u32,
    pub status: SubstitutionStatus,
    /// Positive: the shopper is charged; negative: a refund credit.
    pub price_difference: Money,
    pub substitute_line_id: Option<i64>,
    pub note: String,
    pub created_at_ms: i64,
    pub responded_at_ms: Option<i64>,
}

/// What re-sourcing a short pick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortPickOutcome {
    pub order_id: i64,
    /// (warehouse code, units) the missing units now come from.
    pub resourced: Vec<(String, u32)>,
    pub backordered: u32,
}

/// How a substitution is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubstitutionMode {
    /// The shopper accepts or declines it later.
    Propose,
    /// The customer already agreed (an agent on the phone).
    Apply,
}

/// Why a cancellation or substitution is refused, as the store says it.
fn refused(e: AmendError) -> StoreError {
    match e {
        AmendError::AlreadyShipped { .. } => StoreError::AlreadyShipped(e.to_string()),
        _ => StoreError::Conflict(e.to_string()),
    }
}

impl Store {
    /// Every line's accounting for the given orders: by order, then by line id.
    pub async fn line_accounts(
        &self,
        order_ids: &[i64],
    ) -> Result<HashMap<i64, HashMap<i64, LineAccount>>, StoreError> {
        let mut out: HashMap<i64, HashMap<i64, LineAccount>> = HashMap::new();
        for (line, (order, account)) in accounts(&self.db, order_ids).await? {
            out.entry(order).or_default().insert(line, account);
        }
        Ok(out)
    }

    /// Cancels `quantity` units of a line (all that has not shipped when
    /// `None`): waiting backorders first, then packages that have not left.
    /// Released reservations go to the backorder queue. With
    /// `before_shipping`, refused once any package of the order has shipped
    /// (checked under the order's lock). Returns the order id and the skus
    /// whose stock changed.
    pub async fn cancel_order_line(
        &self,
        line_id: OrderLineId,
        quantity: Option<u32>,
        reason: &str,
        before_shipping: bool,
    ) -> Result<(i64, Vec<domain::Sku>), StoreError> {
        let line_id = line_id.get();
        let now = self.now_ms();
        let txn = self.write().await?;
        let (seen, _) = line_and_order(&txn, line_id).await?;
        let mut locks = Locks::new();
        let (line, _) = lock_line(&txn, &mut locks, &[seen.product_id], &seen).await?;
        if before_shipping {
            let shipped = shipment::Entity::find()
                .filter(shipment::Column::OrderId.eq(line.order_id))
                .filter(shipment::Column::Status.eq(ShipmentStatus::Shipped.as_str()))
                .one(&txn)
                .await?;
            if shipped.is_some() {
                return Err(StoreError::AlreadyShipped(
                    "part of this order has shipped: its lines can now be cancelled by customer service only".into(),
                ));
            }
        }
        let account = account_of(&txn, &line).await?;
        let wanted = account.to_cancel(quantity, &format!("{} ({})", line.line_no, line.sku)).map_err(refused)?;
        let from_waiting = take_waiting(&txn, &locks, &line, wanted, BackorderAction::Cancel, now).await?;
        let packages = unshipped_of(&txn, line.id, None).await?;
        let from_packages = take_from_packages(&txn, &locks, packages, wanted - from_waiting, false, now).await?;
        if from_waiting + from_packages != wanted {
            return Err(StoreError::Invariant(format!(
                "line {line_id} had {wanted} units to cancel but only {} were found",
                from_waiting + from_packages
            )));
        }
        count_on_line(&txn, line.id, order_line::Column::Cancelled, i64::from(wanted)).await?;
        event(
            &txn,
            line.order_id,
            EventKind::LineCancelled,
            json!({ "line": line.line_no, "sku": line.sku, "quantity": wanted, "reason": reason }),
            now,
        )
        .await?;
        cap_credits(&txn, &locks, line.order_id, now).await?;
        settle_order(&txn, &locks, line.order_id, now).await?;
        let moved = if from_packages > 0 {
            allocate_arrivals(&txn, &mut locks, &[line.product_id], now).await?
        } else {
            Default::default()
        };
        if !moved.contains(&line.product_id) {
            refresh_estimates(&txn, &locks, line.product_id, now).await?;
        }
        txn.commit().await?;
        let skus = if from_packages > 0 { vec![super::stored::sku(line.sku)?] } else { Vec::new() };
        Ok((line.order_id, skus))
    }

    /// Substitutes `quantity` waiting units of a line (all of them when
    /// `None`) with another product: proposed to the shopper, or applied at
    /// once by an agent.
    pub async fn substitute(
        &self,
        line_id: OrderLineId,
        substitute_sku: &domain::Sku,
        quantity: Option<u32>,
        note: &str,
        mode: SubstitutionMode,
    ) -> Result<SubstitutionRecord, StoreError> {
        let line_id = line_id.get();
        let apply_now = mode == SubstitutionMode::Apply;
        let now = self.now_ms();
        let txn = self.write().await?;
        let (seen, _) = line_and_order(&txn, line_id).await?;
        let substitute = product::Entity::find()
            .filter(product::Column::Sku.eq(substitute_sku.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::UnknownSku(substitute_sku.to_string()))?;
        if substitute.id == seen.product_id {
            return Err(StoreError::Invalid(format!("{} cannot substitute itself", seen.sku)));
        }
        let mut locks = Locks::new();
        let (line, order) = lock_line(&txn, &mut locks, &[seen.product_id, substitute.id], &seen).await?;
        let account = account_of(&txn, &line).await?;
        let wanted = account.to_substitute(quantity, &format!("{} ({})", line.line_no, line.sku)).map_err(refused)?;
        let difference = (substitute.unit_price_micros - line.unit_price_micros)
            .checked_mul(i64::from(wanted))
            .ok_or_else(|| StoreError::Invalid("the price difference is too large".to_owned()))?;
        let id = substitution::Entity::insert(substitution::ActiveModel {
            order_id: Set(order.id),
            order_line_id: Set(line.id),
            substitute_product_id: Set(substitute.id),
            substitute_sku: Set(substitute.sku.clone()),
            quantity: Set(i64::from(wanted)),
            status: Set(if apply_now { SubstitutionStatus::Applied } else { SubstitutionStatus::Proposed }.to_string()),
            price_difference_micros: Set(difference),
            substitute_line_id: Set(None),
            note: Set(note.to_owned()),
            created_at_ms: Set(now),
            responded_at_ms: Set(apply_now.then_some(now)),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        if apply_now {
            apply_substitution(&txn, &mut locks, id, now).await?;
        } else {
            event(
                &txn,
                order.id,
                EventKind::SubstitutionProposed,
                json!({ "substitution": id, "line": line.line_no, "sku": line.sku, "substituteSku": substitute.sku, "quantity": wanted, "priceDifference": money_from_micros(difference).to_string() }),
                now,
            )
            .await?;
        }
        txn.commit().await?;
        self.substitution_record(id).await
    }

    /// The shopper's answer to a proposal; a proposal is answered once.
    pub async fn respond_to_substitution(
        &self,
        id: SubstitutionId,
        accept: bool,
    ) -> Result<SubstitutionRecord, StoreError> {
        let id = id.get();
        let now = self.now_ms();
        let txn = self.write().await?;
        let seen = substitution::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::UnknownSubstitution(id))?;
        let (line, _) = line_and_order(&txn, seen.order_line_id).await?;
        let mut locks = Locks::new();
        lock_line(&txn, &mut locks, &[line.product_id, seen.substitute_product_id], &line).await?;
        let row = substitution::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::UnknownSubstitution(id))?;
        let from = stored::substitution_status(&row.status)?;
        let to = from.respond(accept).map_err(|e| StoreError::Conflict(format!("the substitution was {e}")))?;
        let answered = substitution::Entity::update_many()
            .col_expr(substitution::Column::Status, Expr::value(to.as_str()))
            .col_expr(substitution::Column::RespondedAtMs, Expr::value(now))
            .filter(substitution::Column::Id.eq(id))
            .filter(substitution::Column::Status.eq(from.as_str()))
            .exec(&txn)
            .await?;
        if answered.rows_affected != 1 {
            return Err(StoreError::StockMoved);
        }
        if accept {
            apply_substitution(&txn, &mut locks, id, now).await?;
        } else {
            event(
                &txn,
                row.order_id,
                EventKind::SubstitutionDeclined,
                json!({ "substitution": id, "substituteSku": row.substitute_sku }),
                now,
            )
            .await?;
        }
        txn.commit().await?;
        self.substitution_record(id).await
    }

    pub async fn substitutions_of(&self, order_ids: &[i64]) -> Result<Vec<SubstitutionRecord>, StoreError> {
        let rows = substitution::Entity::find()
            .filter(substitution::Column::OrderId.is_in(order_ids.iter().copied()))
            .order_by_asc(substitution::Column::Id)
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let lines: HashMap<i64, String> = order_line::Entity::find()
            .filter(order_line::Column::Id.is_in(rows.iter().map(|r| r.order_line_id)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|l| (l.id, l.sku))
            .collect();
        rows.into_iter()
            .map(|r| {
                Ok(SubstitutionRecord {
                    id: r.id,
                    order_id: r.order_id,
                    order_line_id: r.order_line_id,
                    original_sku: lines.get(&r.order_line_id).cloned().ok_or_else(|| {
                        StoreError::Invariant(format!("substitution {} names missing line {}", r.id, r.order_line_id))
                    })?,
                    substitute_sku: super::stored::sku(r.substitute_sku)?,
                    quantity: units(r.quantity)?,
                    status: stored::substitution_status(&r.status)?,
                    price_difference: money_from_micros(r.price_difference_micros),
                    substitute_line_id: r.substitute_line_id,
                    note: r.note,
                    created_at_ms: r.created_at_ms,
                    responded_at_ms: r.responded_at_ms,
                })
            })
            .collect()
    }

    async fn substitution_record(&self, id: i64) -> Result<SubstitutionRecord, StoreError> {
        let order_id = substitution::Entity::find_by_id(id)
            .select_only()
            .column(substitution::Column::OrderId)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?
            .ok_or(StoreError::UnknownSubstitution(id))?;
        let mut all = self.substitutions_of(&[order_id]).await?;
        all.retain(|s| s.id == id);
        all.pop().ok_or(StoreError::UnknownSubstitution(id))
    }

    /// A partner found `quantity` units of `sku` missing or damaged while
    /// picking a package: they leave the warehouse's on-hand, and the order
    /// gets them wherever they are still available (the same shelf if the
    /// corrected count has more, joining one of the order's packages, or the
    /// fewest new ones) or waits for them as a confirmed backorder.
    pub async fn report_short_pick(
        &self,
        shipment_id: ShipmentId,
        sku: &domain::Sku,
        quantity: u32,
        reason: &str,
    ) -> Result<ShortPickOutcome, StoreError> {
        let shipment_id = shipment_id.get();
        let now = self.now_ms();
        let txn = self.write().await?;
        let seen = package(&txn, shipment_id).await?;
        let picked: Vec<i64> = product::Entity::find()
            .select_only()
            .column(product::Column::Id)
            .filter(product::Column::Sku.eq(sku.as_str()))
            .into_tuple::<i64>()
            .all(&txn)
            .await?;
        let mut locks = Locks::new();
        locks.products(&txn, &picked).await?;
        locks.orders(&txn, &[seen.order_id]).await?;
        let package = package(&txn, shipment_id).await?;
        if !UNSHIPPED.iter().any(|s| s.as_str() == package.status) {
            return Err(StoreError::Conflict(format!(
                "the shipment is {} and can no longer be short-picked",
                package.status.to_lowercase()
            )));
        }
        let lines = shipment_line::Entity::find()
            .filter(shipment_line::Column::ShipmentId.eq(shipment_id))
            .filter(shipment_line::Column::Sku.eq(sku.as_str()))
            .all(&txn)
            .await?;
        let held: i64 = lines.iter().map(|l| l.quantity).sum();
        if lines.is_empty() {
            return Err(StoreError::Invalid(format!("the shipment holds no {sku}")));
        }
        if i64::from(quantity) > held {
            return Err(StoreError::Invalid(format!("the shipment holds only {held} units of {sku}, not {quantity}")));
        }
        let order = order::Entity::find_by_id(package.order_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::UnknownOrder(package.order_id))?;
        let mut left = quantity;
        let mut resourced: Vec<(String, u32)> = Vec::new();
        let mut backordered = 0;
        for sl in lines {
            if left == 0 {
                break;
            }
            let take = Ord::min(left, units(sl.quantity)?);
            let moved = resource(&txn, &locks, &order, &package, &sl, take, true, now).await?;
            resourced.extend(moved.placed);
            backordered += moved.backordered;
            left -= moved.taken;
        }
        let code = crate::db::entity::warehouse::Entity::find_by_id(package.warehouse_id)
            .one(&txn)
            .await?
            .map(|w| w.code)
            .ok_or_else(|| {
                StoreError::Invariant(format!("a package names missing warehouse {}", package.warehouse_id))
            })?;
        let sources: Vec<serde_json::Value> =
            resourced.iter().map(|(w, q)| json!({ "warehouse": w, "quantity": q })).collect();
        event(
            &txn,
            order.id,
            EventKind::ShortPickReported,
            json!({ "shipment": shipment_id, "warehouse": code, "sku": sku.as_str(), "quantity": quantity, "reason": reason, "resourced": sources, "backordered": backordered }),
            now,
        )
        .await?;
        settle_order(&txn, &locks, order.id, now).await?;
        txn.commit().await?;
        Ok(ShortPickOutcome { order_id: order.id, resourced, backordered })
    }
}

/// Where units taken out of a package went.
struct Resourced {
    taken: u32,
    /// (warehouse code, units).
    placed: Vec<(String, u32)>,
    backordered: u32,
}

/// Takes `units` of a package line out of its package (writing them off
/// the shelf when they are physically gone) and finds them again for the
/// order: elsewhere with the fewest extra packages, or as a confirmed
/// backorder.
#[allow(clippy::too_many_arguments)]
async fn resource<C: ConnectionTrait>(
    db: &C,
    locks: &Locks,
    order: &order::Model,
    package: &shipment::Model,
    sl: &shipment_line::Model,
    units: u32,
    written_off: bool,
    now: i64,
) -> Result<Resourced, StoreError> {
    let taken = take_from_packages(db, locks, vec![(package.clone(), sl.clone())], units, written_off, now).await?;
    let line = LineRef { order_line_id: sl.order_line_id, product_id: sl.product_id, sku: &sl.sku };
    let placed = place_units(db, locks, order, &line, taken, now).await?;
    let placed_units: u32 = placed.iter().map(|p| p.1).sum();
    let backordered = taken - placed_units;
    if backordered > 0 {
        open_backorder(db, locks, order, &line, backordered, "short pick", now).await?;
    }
    Ok(Resourced { taken, placed, backordered })
}

/// A feed counted `counted` units at a level that has more reserved: the
/// warehouse's count is the truth, so the missing units are a short pick
/// there. `domain::inventory::shortfall` picks the reservations that lose
/// them (lowest priority, newest first); each order gets them elsewhere or
/// waits for them, with a `SHORT_PICK_REPORTED` event. Runs with the
/// product's lock held and the level already set to `counted`; takes the
/// orders' locks itself. Returns the units moved.
pub(super) async fn absorb_shortfall<C: ConnectionTrait>(
    db: &C,
    locks: &mut Locks,
    level: &crate::db::entity::stock_level::Model,
    counted: u32,
    now: i64,
) -> Result<u32, StoreError> {
    use domain::inventory::{Reservation, shortfall};
    locks.require_product(level.product_id)?;
    let open: HashMap<i64, shipment::Model> = shipment::Entity::find()
        .filter(shipment::Column::WarehouseId.eq(level.warehouse_id))
        .filter(shipment::Column::Status.is_in(UNSHIPPED.map(ShipmentStatus::as_str)))
        .filter(
            shipment::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(
                shipment_line::Entity::find()
                    .select_only()
                    .column(shipment_line::Column::ShipmentId)
                    .filter(shipment_line::Column::ProductId.eq(level.product_id)),
            )),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let lines = shipment_line::Entity::find()
        .filter(shipment_line::Column::ShipmentId.is_in(open.keys().copied()))
        .filter(shipment_line::Column::ProductId.eq(level.product_id))
        .all(db)
        .await?;
    let order_ids: Vec<i64> = open.values().map(|s| s.order_id).collect();
    let orders = super::rows::locked_orders(db, locks, order_ids).await?;
    let held = lines
        .iter()
        .map(|sl| {
            let order = &orders[&open[&sl.shipment_id].order_id];
            Ok(Reservation {
                id: sl.id,
                priority: order.priority,
                placed_at_ms: order.created_at_ms,
                units: units(sl.quantity)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let reserved = units(level.reserved)?;
    let losing = shortfall(reserved, counted, held);
    let mut moved = 0;
    for (line_id, take) in losing {
        let sl = lines.iter().find(|l| l.id == line_id).expect("chosen from these lines");
        let package = &open[&sl.shipment_id];
        let order = &orders[&package.order_id];
        let result = resource(db, locks, order, package, sl, take, false, now).await?;
        let sources: Vec<serde_json::Value> =
            result.placed.iter().map(|(w, q)| json!({ "warehouse": w, "quantity": q })).collect();
        let code = crate::db::entity::warehouse::Entity::find_by_id(package.warehouse_id)
            .one(db)
            .await?
            .map(|w| w.code)
            .ok_or_else(|| {
                StoreError::Invariant(format!("a package names missing warehouse {}", package.warehouse_id))
            })?;
        event(
            db,
            order.id,
            EventKind::ShortPickReported,
            json!({ "shipment": package.id, "warehouse": code, "sku": sl.sku, "quantity": result.taken, "reason": format!("stock feed counted {counted} where {reserved} were reserved"), "resourced": sources, "backordered": result.backordered }),
            now,
        )
        .await?;
        settle_order(db, locks, order.id, now).await?;
        moved += result.taken;
    }
    if moved != reserved.saturating_sub(counted) {
        return Err(StoreError::Invariant(format!(
            "level (warehouse {}, product {}) reserves {reserved} but its packages hold fewer",
            level.warehouse_id, level.product_id
        )));
    }
    Ok(moved)
}

/// Applies an accepted substitution: the waiting units leave the original
/// line (`substituted`), a new line of the substitute stands in for them
/// (with the lineage), sourced like any backorder (joining an open package
/// when that avoids a new one), the rest waiting in the queue; the price
/// difference is on the substitution row and in the order's totals.
async fn apply_substitution<C: ConnectionTrait>(
    db: &C,
    locks: &mut Locks,
    id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let row = substitution::Entity::find_by_id(id).one(db).await?.ok_or(StoreError::UnknownSubstitution(id))?;
    let (line, order) = line_and_order(db, row.order_line_id).await?;
    let wanted = units(row.quantity)?;
    let taken = take_waiting(db, locks, &line, wanted, BackorderAction::Substitute, now).await?;
    if taken < wanted {
        return Err(StoreError::Conflict(format!(
            "line {} ({}) has only {taken} waiting units left to substitute, not {wanted}",
            line.line_no, line.sku
        )));
    }
    count_on_line(db, line.id, order_line::Column::Substituted, i64::from(wanted)).await?;
    let substitute = product::Entity::find_by_id(row.substitute_product_id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::UnknownSku(row.substitute_sku.clone()))?;
    let line_no: Option<i32> = order_line::Entity::find()
        .select_only()
        .column_as(order_line::Column::LineNo.max(), "n")
        .filter(order_line::Column::OrderId.eq(order.id))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    let new_line = order_line::ActiveModel {
        order_id: Set(order.id),
        line_no: Set(line_no.unwrap_or(0) + 1),
        product_id: Set(substitute.id),
        sku: Set(substitute.sku.clone()),
        quantity: Set(i64::from(wanted)),
        unit_price_micros: Set(substitute.unit_price_micros),
        cancelled: Set(0),
        substituted: Set(0),
        replaces_line_id: Set(Some(line.id)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    substitution::Entity::update_many()
        .col_expr(substitution::Column::SubstituteLineId, Expr::value(new_line.id))
        .filter(substitution::Column::Id.eq(id))
        .exec(db)
        .await?;
    let target = LineRef { order_line_id: new_line.id, product_id: substitute.id, sku: &substitute.sku };
    let placed = place_units(db, locks, &order, &target, wanted, now).await?;
    let placed_units: u32 = placed.iter().map(|p| p.1).sum();
    if placed_units < wanted {
        open_backorder(db, locks, &order, &target, wanted - placed_units, "substitute not in stock", now).await?;
    }
    let sources: Vec<serde_json::Value> =
        placed.iter().map(|(w, q)| json!({ "warehouse": w, "quantity": q })).collect();
    let difference = money_from_micros(row.price_difference_micros);
    event(
        db,
        order.id,
        EventKind::LineSubstituted,
        json!({
            "substitution": id, "line": line.line_no, "sku": line.sku, "substituteLine": new_line.line_no,
            "substituteSku": substitute.sku, "quantity": wanted, "priceDifference": difference.to_string(),
            "shipsFrom": sources, "backordered": wanted - placed_units,
        }),
        now,
    )
    .await?;
    cap_credits(db, locks, order.id, now).await?;
    settle_order(db, locks, order.id, now).await?;
    refresh_estimates(db, locks, line.product_id, now).await?;
    Ok(())
}
