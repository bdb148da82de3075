//! API keys: created with a fresh secret (shown once; only its hash is
//! kept), listed, revoked, found by the hash of a secret a request shows.

use domain::access::{Caller, Grant, Role};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{Store, StoreError};
use crate::db::entity::{api_key, partner};
use crate::digest::{new_secret, secret_hash};

/// What the hash of an API key's secret is taken under.
pub const KEY_HASH_KIND: &str = "shipmix api key";
/// How every API key's secret begins, so that a leaked one is recognisable
/// (secret scanners match on it) and a malformed one is refused unread.
pub const KEY_PREFIX: &str = "shm_";

/// A key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: i64,
    pub name: String,
    pub grant: Grant,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
}

impl KeyRecord {
    /// The caller a request with this key acts as; none once revoked.
    pub fn caller(&self) -> Option<Caller> {
        self.revoked_at_ms.is_none().then(|| Caller {
            key_id: self.id,
            name: self.name.clone(),
            grant: self.grant.clone(),
        })
    }
}

/// A key just created, with the secret that is shown this once.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub record: KeyRecord,
    pub secret: String,
}

fn record(model: api_key::Model) -> Result<KeyRecord, StoreError> {
    let role: Role =
        model.role.parse().map_err(|e| StoreError::Invariant(format!("api key {}: stored role: {e}", model.id)))?;
    let grant = Grant::new(role, model.partner_code)
        .map_err(|e| StoreError::Invariant(format!("api key {}: stored grant: {e}", model.id)))?;
    Ok(KeyRecord {
        id: model.id,
        name: model.name,
        grant,
        created_at_ms: model.created_at_ms,
        revoked_at_ms: model.revoked_at_ms,
        last_used_at_ms: model.last_used_at_ms,
    })
}

impl Store {
    /// A new key with a fresh random secret. A partner key must name a
    /// partner that operates warehouses here.
    pub async fn create_key(&self, name: &str, grant: Grant) -> Result<NewKey, StoreError> {
        self.insert_key(name, grant, new_secret(KEY_PREFIX)).await
    }

    /// A key with a secret chosen by the caller (the demo's published
    /// keys), unless one with that secret exists; `None` when it did.
    pub async fn ensure_key(&self, name: &str, grant: Grant, secret: &str) -> Result<Option<KeyRecord>, StoreError> {
        let hash = secret_hash(KEY_HASH_KIND, secret);
        if api_key::Entity::find().filter(api_key::Column::SecretHash.eq(hash.as_str())).one(&self.db).await?.is_some()
        {
            return Ok(None);
        }
        match self.insert_key(name, grant, secret.to_owned()).await {
            Ok(created) => Ok(Some(created.record)),
            // Another replica started with the same demo at the same time.
            Err(StoreError::Database(e)) if StoreError::is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn insert_key(&self, name: &str, grant: Grant, secret: String) -> Result<NewKey, StoreError> {
        if let Some(code) = grant.partner() {
            let known = partner::Entity::find().filter(partner::Column::Code.eq(code)).one(&self.db).await?;
            if known.is_none() {
                return Err(StoreError::Invalid(format!("unknown partner {code}")));
            }
        }
        let model = api_key::ActiveModel {
            name: Set(name.to_owned()),
            role: Set(grant.role().as_str().to_owned()),
            partner_code: Set(grant.partner().map(str::to_owned)),
            secret_hash: Set(secret_hash(KEY_HASH_KIND, &secret)),
            created_at_ms: Set(self.now_ms()),
            revoked_at_ms: Set(None),
            last_used_at_ms: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(StoreError::Database)?;
        Ok(NewKey { record: record(model)?, secret })
    }

    /// Every key, oldest first (revoked ones too: they are the record of
    /// who had access).
    pub async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let models = api_key::Entity::find().order_by_asc(api_key::Column::Id).all(&self.db).await?;
        models.into_iter().map(record).collect()
    }

    /// Revokes a key; revoking a revoked key keeps its first revocation.
    pub async fn revoke_key(&self, id: i64) -> Result<KeyRecord, StoreError> {
        let model = api_key::Entity::find_by_id(id).one(&self.db).await?.ok_or(StoreError::UnknownKey(id))?;
        if model.revoked_at_ms.is_some() {
            return record(model);
        }
        let mut active: api_key::ActiveModel = model.into();
        active.revoked_at_ms = Set(Some(self.now_ms()));
        record(active.update(&self.db).await?)
    }

    /// The key whose secret hashes to `hash`, revoked or not.
    pub async fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let model = api_key::Entity::find().filter(api_key::Column::SecretHash.eq(hash)).one(&self.db).await?;
        model.map(record).transpose()
    }

    /// Records that a key was used at `at_ms` (never moving it back).
    pub async fn touch_key(&self, id: i64, at_ms: i64) -> Result<(), StoreError> {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAtMs, sea_orm::sea_query::Expr::value(at_ms))
            .filter(api_key::Column::Id.eq(id))
            .filter(
                sea_orm::Condition::any()
                    .add(api_key::Column::LastUsedAtMs.is_null())
                    .add(api_key::Column::LastUsedAtMs.lt(at_ms)),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// What names a part of an order, for finding whose order it is.
#[derive(Debug, Clone, Copy)]
pub enum OrderPart {
    Order(domain::ids::OrderId),
    Line(domain::ids::OrderLineId),
    Backorder(domain::ids::BackorderId),
    Substitution(domain::ids::SubstitutionId),
}

impl OrderPart {
    /// The error for a part that is not there (or not the caller's: the
    /// same answer, so nothing leaks).
    pub fn unknown(self) -> StoreError {
        match self {
            OrderPart::Order(id) => StoreError::UnknownOrder(id.get()),
            OrderPart::Line(id) => StoreError::UnknownLine(id.get()),
            OrderPart::Backorder(id) => StoreError::UnknownBackorder(id.get()),
            OrderPart::Substitution(id) => StoreError::UnknownSubstitution(id.get()),
        }
    }
}

impl Store {
    /// The order a part belongs to and the key that placed it (`None`
    /// when the part does not exist). Neither ever changes, so a caller
    /// may check them before the write that follows.
    pub async fn owner_of(&self, part: OrderPart) -> Result<Option<(i64, Option<i64>)>, StoreError> {
        use crate::db::entity::{backorder, order, order_line, substitution};
        use sea_orm::QuerySelect;
        let order_id: Option<i64> = match part {
            OrderPart::Order(id) => Some(id.get()),
            OrderPart::Line(id) => {
                order_line::Entity::find_by_id(id.get())
                    .select_only()
                    .column(order_line::Column::OrderId)
                    .into_tuple()
                    .one(&self.db)
                    .await?
            }
            OrderPart::Backorder(id) => {
                backorder::Entity::find_by_id(id.get())
                    .select_only()
                    .column(backorder::Column::OrderId)
                    .into_tuple()
                    .one(&self.db)
                    .await?
            }
            OrderPart::Substitution(id) => {
                substitution::Entity::find_by_id(id.get())
                    .select_only()
                    .column(substitution::Column::OrderId)
                    .into_tuple()
                    .one(&self.db)
                    .await?
            }
        };
        let Some(order_id) = order_id else { return Ok(None) };
        let owner: Option<Option<i64>> = order::Entity::find_by_id(order_id)
            .select_only()
            .column(order::Column::OwnerKeyId)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(owner.map(|owner| (order_id, owner)))
    }

    /// A secret every replica shares, made on first use: the first replica
    /// to ask creates it, every other one reads that one.
    pub async fn gateway_secret(&self, name: &str) -> Result<String, StoreError> {
        use crate::db::entity::gateway_secret;
        if let Some(found) = gateway_secret::Entity::find_by_id(name.to_owned()).one(&self.db).await? {
            return Ok(found.value);
        }
        let made = gateway_secret::ActiveModel { name: Set(name.to_owned()), value: Set(new_secret("")) };
        match gateway_secret::Entity::insert(made).exec(&self.db).await {
            Ok(_) => {}
            Err(e) if StoreError::is_unique_violation(&e) => {}
            Err(e) => return Err(StoreError::Database(e)),
        }
        let found = gateway_secret::Entity::find_by_id(name.to_owned()).one(&self.db).await?;
        found.map(|f| f.value).ok_or_else(|| StoreError::Invariant(format!("gateway secret {name} vanished")))
    }
}
