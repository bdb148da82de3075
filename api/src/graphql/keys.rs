//! API keys: `apiKeys`, `createApiKey`, `revokeApiKey` (admins only; the
//! same as `shipmix keys` on the command line).

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use infra::store::KeyRecord;

use super::scalars::DateTime;
use super::{app, internal};
use crate::error::{UserError, into_payload};

/// What an API key may act as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum ApiRole {
    Storefront,
    Partner,
    Agent,
    Admin,
}

impl From<domain::access::Role> for ApiRole {
    fn from(role: domain::access::Role) -> Self {
        match role {
            domain::access::Role::Storefront => ApiRole::Storefront,
            domain::access::Role::Partner => ApiRole::Partner,
            domain::access::Role::Agent => ApiRole::Agent,
            domain::access::Role::Admin => ApiRole::Admin,
        }
    }
}

impl From<ApiRole> for domain::access::Role {
    fn from(role: ApiRole) -> Self {
        match role {
            ApiRole::Storefront => domain::access::Role::Storefront,
            ApiRole::Partner => domain::access::Role::Partner,
            ApiRole::Agent => domain::access::Role::Agent,
            ApiRole::Admin => domain::access::Role::Admin,
        }
    }
}

/// What caused an event or a stock change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub(crate) enum ActorKind {
    /// A request made with an API key.
    Key,
    /// The gateway on its own: the backorder worker, allocation of arriving stock.
    Gateway,
    /// An operator on the command line.
    Operator,
}

#[derive(SimpleObject)]
pub(crate) struct EventActor {
    pub kind: ActorKind,
    /// The key's name.
    pub name: Option<String>,
    pub role: Option<ApiRole>,
}

impl EventActor {
    pub(crate) fn of(actor: &domain::access::Actor) -> Self {
        match actor {
            domain::access::Actor::Key { name, role } => {
                EventActor { kind: ActorKind::Key, name: Some(name.clone()), role: Some((*role).into()) }
            }
            domain::access::Actor::Gateway => EventActor { kind: ActorKind::Gateway, name: None, role: None },
            domain::access::Actor::Operator => EventActor { kind: ActorKind::Operator, name: None, role: None },
        }
    }
}

/// An API key as listed; its secret is shown only when it is created.
pub(crate) struct ApiKey(pub KeyRecord);

#[Object]
impl ApiKey {
    async fn id(&self) -> async_graphql::ID {
        async_graphql::ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn role(&self) -> ApiRole {
        self.0.grant.role().into()
    }

    /// The partner a PARTNER key is bound to.
    async fn partner_code(&self) -> Option<&str> {
        self.0.grant.partner()
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }

    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at_ms.map(DateTime)
    }

    /// When a request last used it (recorded at most every few seconds).
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at_ms.map(DateTime)
    }
}

#[derive(Default)]
pub(crate) struct KeyQuery;

#[Object]
impl KeyQuery {
    /// Every key, oldest first, revoked ones included.
    #[graphql(complexity = "super::LIST_WEIGHT * child_complexity")]
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        Ok(app(ctx)?.store.keys().await.map_err(internal)?.into_iter().map(ApiKey).collect())
    }
}

#[derive(Debug, InputObject)]
pub(crate) struct CreateApiKeyInput {
    /// Who holds it, e.g. "web shop" or "ACME portal"; the order timeline
    /// and the stock audit trail name callers by it.
    pub name: String,
    pub role: ApiRole,
    /// The partner a PARTNER key is bound to (and only then).
    pub partner_code: Option<String>,
}

#[derive(SimpleObject)]
pub(crate) struct CreateApiKeyPayload {
    pub key: Option<ApiKey>,
    /// The secret to send as `Authorization: Bearer <secret>`: shown this
    /// once, never stored.
    pub secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub(crate) struct RevokeApiKeyPayload {
    pub key: Option<ApiKey>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub(crate) struct KeyMutation;

#[Object]
impl KeyMutation {
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let result = crate::operations::create_key(
            &app(ctx)?.store,
            &input.name,
            input.role.into(),
            input.partner_code.as_deref(),
        )
        .await;
        let (created, user_errors) = into_payload(result)?;
        let (key, secret) = created.map(|k| (ApiKey(k.record), k.secret)).unzip();
        Ok(CreateApiKeyPayload { key, secret, user_errors })
    }

    /// Revokes a key: requests with it are refused on every replica within
    /// a few seconds (at once on this one).
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        id: async_graphql::ID,
    ) -> async_graphql::Result<RevokeApiKeyPayload> {
        let (key, user_errors) = into_payload(crate::operations::revoke_key(app(ctx)?, &id).await)?;
        Ok(RevokeApiKeyPayload { key: key.map(ApiKey), user_errors })
    }
}
