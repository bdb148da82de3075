//! Products and their ranked substitutes.

use std::collections::HashMap;

use domain::{Money, Sku};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{Store, StoreError, money_from_micros, to_micros};
use crate::db::entity::{product, product_substitute};

/// A product as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRecord {
    pub id: i64,
    pub sku: Sku,
    pub name: String,
    pub unit_price: Money,
    pub backorderable: bool,
    pub lead_time_days: u32,
    /// Best first.
    pub substitutes: Vec<Sku>,
}

/// A product to create or update (by sku).
#[derive(Debug, Clone)]
pub struct ProductInput {
    pub sku: Sku,
    pub name: String,
    pub unit_price: Money,
    pub backorderable: bool,
    pub lead_time_days: u32,
    pub substitutes: Vec<Sku>,
}

impl Store {
    /// Creates or updates products by sku, all in one transaction.
    /// Substitutes must name products that exist or are in the same batch,
    /// and never the product itself.
    pub async fn upsert_products(&self, inputs: Vec<ProductInput>) -> Result<Vec<ProductRecord>, StoreError> {
        let prices = inputs.iter().map(|p| to_micros(p.unit_price.amount())).collect::<Result<Vec<_>, _>>()?;
        let batch: Vec<&str> = inputs.iter().map(|p| p.sku.as_str()).collect();
        for input in &inputs {
            if input.substitutes.contains(&input.sku) {
                return Err(StoreError::Invalid(format!("{} cannot substitute itself", input.sku)));
            }
        }
        let txn = self.write().await?;
        let mentioned: Vec<&str> = inputs.iter().flat_map(|p| p.substitutes.iter().map(Sku::as_str)).collect();
        let known: Vec<String> = product::Entity::find()
            .filter(product::Column::Sku.is_in(mentioned.iter().copied()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| m.sku)
            .collect();
        if let Some(missing) = mentioned.iter().find(|s| !batch.contains(s) && !known.iter().any(|k| k == *s)) {
            return Err(StoreError::UnknownSku((*missing).to_owned()));
        }
        let now = self.now_ms();
        let mut ids = Vec::with_capacity(inputs.len());
        for (input, price) in inputs.iter().zip(&prices) {
            let existing =
                product::Entity::find().filter(product::Column::Sku.eq(input.sku.as_str())).one(&txn).await?;
            let model = product::ActiveModel {
                id: existing.as_ref().map_or(sea_orm::NotSet, |m| Set(m.id)),
                sku: Set(input.sku.to_string()),
                name: Set(input.name.clone()),
                unit_price_micros: Set(*price),
                backorderable: Set(input.backorderable),
                lead_time_days: Set(i32::try_from(input.lead_time_days).unwrap_or(i32::MAX)),
                updated_at_ms: Set(now),
                // The lead time dates the queue's tail: the worker dates it again.
                tail_dated_on: Set(None),
            };
            let id = match existing {
                Some(_) => product::Entity::update(model).exec(&txn).await?.id,
                None => product::Entity::insert(model).exec(&txn).await?.last_insert_id,
            };
            product_substitute::Entity::delete_many()
                .filter(product_substitute::Column::ProductId.eq(id))
                .exec(&txn)
                .await?;
            let rows: Vec<product_substitute::ActiveModel> = input
                .substitutes
                .iter()
                .enumerate()
                .map(|(rank, sku)| product_substitute::ActiveModel {
                    product_id: Set(id),
                    rank: Set(rank as i32 + 1),
                    substitute_sku: Set(sku.to_string()),
                })
                .collect();
            if !rows.is_empty() {
                product_substitute::Entity::insert_many(rows).exec(&txn).await?;
            }
            ids.push(id);
        }
        txn.commit().await?;
        self.products_by_id(&ids).await
    }

    /// Known products among `skus`, in the order asked.
    pub async fn products_by_sku(&self, skus: &[&str]) -> Result<Vec<ProductRecord>, StoreError> {
        products_by_sku(&self.db, skus).await
    }

    pub async fn products_by_id(&self, ids: &[i64]) -> Result<Vec<ProductRecord>, StoreError> {
        let models =
            product::Entity::find().filter(product::Column::Id.is_in(ids.iter().copied())).all(&self.db).await?;
        let mut records = with_substitutes(&self.db, models).await?;
        // Callers get them back in the order they asked.
        let position: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        records.sort_by_key(|r| position.get(&r.id).copied().unwrap_or(usize::MAX));
        Ok(records)
    }

    /// A page of products in sku order after `after`, optionally only those
    /// whose sku or name contains `search` (case-insensitive).
    pub async fn products_page(
        &self,
        after: Option<&str>,
        limit: u64,
        search: Option<&str>,
    ) -> Result<Vec<ProductRecord>, StoreError> {
        let mut query = product::Entity::find().order_by_asc(product::Column::Sku).limit(limit);
        if let Some(after) = after {
            query = query.filter(product::Column::Sku.gt(after));
        }
        if let Some(search) = search.filter(|s| !s.is_empty()) {
            let pattern = format!("%{}%", search.to_lowercase().replace(['%', '_'], ""));
            query = query.filter(
                sea_orm::Condition::any()
                    .add(
                        sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(
                            product::Column::Sku,
                        )))
                        .like(pattern.clone()),
                    )
                    .add(
                        sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(
                            product::Column::Name,
                        )))
                        .like(pattern),
                    ),
            );
        }
        let models = query.all(&self.db).await?;
        with_substitutes(&self.db, models).await
    }
}

/// Known products among `skus`, in the order asked, read on `db` (the pool,
/// or a transaction that must see its own locks' view).
pub(super) async fn products_by_sku<C: ConnectionTrait>(
    db: &C,
    skus: &[&str],
) -> Result<Vec<ProductRecord>, StoreError> {
    let models = product::Entity::find().filter(product::Column::Sku.is_in(skus.iter().copied())).all(db).await?;
    let mut records = with_substitutes(db, models).await?;
    let position: HashMap<&str, usize> = skus.iter().enumerate().map(|(i, &sku)| (sku, i)).collect();
    records.sort_by_key(|r| position.get(r.sku.as_str()).copied().unwrap_or(usize::MAX));
    Ok(records)
}

async fn with_substitutes<C: ConnectionTrait>(
    db: &C,
    models: Vec<product::Model>,
) -> Result<Vec<ProductRecord>, StoreError> {
    let ids: Vec<i64> = models.iter().map(|m| m.id).collect();
    let mut subs: HashMap<i64, Vec<(i32, String)>> = HashMap::new();
    if !ids.is_empty() {
        for row in
            product_substitute::Entity::find().filter(product_substitute::Column::ProductId.is_in(ids)).all(db).await?
        {
            subs.entry(row.product_id).or_default().push((row.rank, row.substitute_sku));
        }
    }
    models
        .into_iter()
        .map(|m| {
            // A product without substitutes has no rows for them.
            let mut ranked = subs.remove(&m.id).unwrap_or_default();
            ranked.sort();
            Ok(ProductRecord {
                id: m.id,
                sku: super::stored::sku(m.sku)?,
                name: m.name,
                unit_price: money_from_micros(m.unit_price_micros),
                backorderable: m.backorderable,
                lead_time_days: super::stored::count("lead time", i64::from(m.lead_time_days))?,
                substitutes: ranked.into_iter().map(|(_, s)| super::stored::sku(s)).collect::<Result<_, _>>()?,
            })
        })
        .collect()
}
