//! Partners and warehouses.

use domain::{GeoPoint, ShippingRate, Warehouse, WarehouseCode};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{Store, StoreError, from_micros, to_micros};
use crate::db::entity::{partner, warehouse};

/// A warehouse as clients see it.
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseRecord {
    pub id: i64,
    pub code: WarehouseCode,
    pub name: String,
    pub partner_code: Option<String>,
    pub location: GeoPoint,
    pub priority: i32,
    pub handling_days: u32,
    pub base_cost: Decimal,
    pub cost_per_km: Decimal,
    pub active: bool,
    pub version: i64,
}

impl WarehouseRecord {
    /// The sourcing engine's view.
    pub fn to_domain(&self) -> Warehouse {
        let rate = ShippingRate::new(self.base_cost, self.cost_per_km).expect("records are made with a valid rate");
        Warehouse::new(self.code.clone(), self.location, rate, self.priority)
    }
}

/// A warehouse to create or update (by code).
#[derive(Debug, Clone)]
pub struct WarehouseInput {
    pub code: WarehouseCode,
    pub name: String,
    pub partner_code: Option<String>,
    pub location: GeoPoint,
    pub priority: i32,
    pub handling_days: u32,
    pub rate: ShippingRate,
    pub active: bool,
}

pub(super) fn record(model: warehouse::Model, partner: Option<String>) -> Result<WarehouseRecord, StoreError> {
    let (base_cost, cost_per_km) = (from_micros(model.base_cost_micros), from_micros(model.cost_per_km_micros));
    // Checked here so that `to_domain` cannot fail on a record we made.
    ShippingRate::new(base_cost, cost_per_km)
        .map_err(|e| StoreError::Invariant(format!("warehouse {}: stored rate: {e}", model.id)))?;
    Ok(WarehouseRecord {
        id: model.id,
        code: super::stored::warehouse_code(model.code)?,
        name: model.name,
        partner_code: partner,
        location: super::stored::point(model.latitude, model.longitude)?,
        priority: model.priority,
        handling_days: super::stored::count("handling days", i64::from(model.handling_days))?,
        base_cost,
        cost_per_km,
        active: model.active,
        version: model.version,
    })
}

impl Store {
    /// Creates or updates a warehouse by code; a partner named by code is
    /// created on first mention.
    pub async fn upsert_warehouse(&self, input: WarehouseInput) -> Result<WarehouseRecord, StoreError> {
        let base = to_micros(input.rate.base().amount())?;
        let per_km = to_micros(input.rate.per_km())?;
        let txn = self.write().await?;
        let partner_id = match &input.partner_code {
            None => None,
            Some(code) => {
                let found = partner::Entity::find().filter(partner::Column::Code.eq(code.as_str())).one(&txn).await?;
                Some(match found {
                    Some(p) => p.id,
                    None => {
                        partner::ActiveModel { code: Set(code.clone()), name: Set(code.clone()), ..Default::default() }
                            .insert(&txn)
                            .await?
                            .id
                    }
                })
            }
        };
        let existing =
            warehouse::Entity::find().filter(warehouse::Column::Code.eq(input.code.as_str())).one(&txn).await?;
        let mut active: warehouse::ActiveModel = match &existing {
            Some(model) => model.clone().into(),
            None => warehouse::ActiveModel { code: Set(input.code.to_string()), version: Set(0), ..Default::default() },
        };
        active.name = Set(input.name);
        active.partner_id = Set(partner_id);
        active.latitude = Set(input.location.latitude());
        active.longitude = Set(input.location.longitude());
        active.priority = Set(input.priority);
        active.handling_days = Set(i32::try_from(input.handling_days).unwrap_or(i32::MAX));
        active.base_cost_micros = Set(base);
        active.cost_per_km_micros = Set(per_km);
        active.active = Set(input.active);
        active.version = Set(existing.as_ref().map_or(1, |m| m.version + 1));
        active.updated_at_ms = Set(self.now_ms());
        let saved = if existing.is_some() { active.update(&txn).await? } else { active.insert(&txn).await? };
        txn.commit().await?;
        record(saved, input.partner_code)
    }

    /// Warehouses by code, in code order; unknown codes are left out.
    pub async fn warehouses_by_code(&self, codes: &[String]) -> Result<Vec<WarehouseRecord>, StoreError> {
        let models = warehouse::Entity::find()
            .filter(warehouse::Column::Code.is_in(codes.iter().map(String::as_str)))
            .order_by_asc(warehouse::Column::Code)
            .all(&self.db)
            .await?;
        with_partners(&self.db, models).await
    }

    /// Whether the network holds nothing yet (no warehouse, no product).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        use sea_orm::PaginatorTrait;
        let warehouses = warehouse::Entity::find().count(&self.db).await?;
        let products = crate::db::entity::product::Entity::find().count(&self.db).await?;
        Ok(warehouses == 0 && products == 0)
    }

    /// Every warehouse, active or not.
    pub async fn all_warehouses(&self) -> Result<Vec<WarehouseRecord>, StoreError> {
        let models = warehouse::Entity::find().order_by_asc(warehouse::Column::Code).all(&self.db).await?;
        with_partners(&self.db, models).await
    }

    pub async fn warehouses_by_id(&self, ids: &[i64]) -> Result<Vec<WarehouseRecord>, StoreError> {
        warehouses_by_id(&self.db, ids).await
    }

    /// A page of warehouses in code order after the code `after`; only
    /// those `partner` operates when it is given.
    pub async fn warehouses_page(
        &self,
        after: Option<&str>,
        limit: u64,
        active: Option<bool>,
        partner: Option<&str>,
    ) -> Result<Vec<WarehouseRecord>, StoreError> {
        let mut query = warehouse::Entity::find().order_by_asc(warehouse::Column::Code).limit(limit);
        if let Some(code) = partner {
            let found = partner::Entity::find().filter(partner::Column::Code.eq(code)).one(&self.db).await?;
            let Some(found) = found else { return Ok(Vec::new()) };
            query = query.filter(warehouse::Column::PartnerId.eq(found.id));
        }
        if let Some(after) = after {
            query = query.filter(warehouse::Column::Code.gt(after));
        }
        if let Some(active) = active {
            query = query.filter(warehouse::Column::Active.eq(active));
        }
        let models = query.all(&self.db).await?;
        with_partners(&self.db, models).await
    }
}

/// Warehouses by id, read on `db` (the pool, or a transaction).
pub(super) async fn warehouses_by_id<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<Vec<WarehouseRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let models = warehouse::Entity::find().filter(warehouse::Column::Id.is_in(ids.iter().copied())).all(db).await?;
    with_partners(db, models).await
}

async fn with_partners<C: ConnectionTrait>(
    db: &C,
    models: Vec<warehouse::Model>,
) -> Result<Vec<WarehouseRecord>, StoreError> {
    let ids: Vec<i64> = models.iter().filter_map(|m| m.partner_id).collect();
    let partners = if ids.is_empty() {
        Vec::new()
    } else {
        partner::Entity::find().filter(partner::Column::Id.is_in(ids)).all(db).await?
    };
    models
        .into_iter()
        .map(|m| {
            let code = m.partner_id.and_then(|id| partners.iter().find(|p| p.id == id)).map(|p| p.code.clone());
            record(m, code)
        })
        .collect()
}
