//! The GraphQL schema: one resolver object per feature, merged.
//!
//! GraphQL types here are `api`-local and built from domain values and store
//! records; no database row is a GraphQL type.

mod amend;
mod catalog;
mod fulfillment;
mod gate;
mod inputs;
mod keys;
mod loaders;
mod network;
mod orders;
mod scalars;
mod stock;

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct Query(
    network::NetworkQuery,
    catalog::CatalogQuery,
    stock::StockQuery,
    fulfillment::FulfillmentQuery,
    orders::OrderQuery,
    amend::AmendQuery,
    keys::KeyQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    network::NetworkMutation,
    catalog::CatalogMutation,
    stock::StockMutation,
    stock::PartnerStockMutation,
    stock::ReceiptMutation,
    fulfillment::FulfillmentMutation,
    orders::BackorderMutation,
    orders::LifecycleMutation,
    orders::CompensationMutation,
    amend::AmendMutation,
    keys::KeyMutation,
);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection a query may have; the schema's own nesting needs 8.
pub const MAX_DEPTH: usize = 12;
/// What a query may cost: each field 1, times the size of the lists it is
/// in (a page's `first`, the skus asked for, `LIST_WEIGHT` for lists of an
/// object's parts), plus the weight of the searches it asks for.
pub const MAX_COMPLEXITY: usize = 50_000;
/// What a list of an object's parts (an order's lines, events, packages; a
/// product's substitutes; a sku's locations) counts as.
pub const LIST_WEIGHT: usize = 10;
/// A quote's search: `QUOTE_WEIGHT` plus `QUOTE_LINE_WEIGHT` per line, so
/// a request holds at most four quotes, or one of 100 lines.
pub const QUOTE_WEIGHT: usize = 10_000;
pub const QUOTE_LINE_WEIGHT: usize = 200;
/// An explanation runs a search per package of the plan.
pub const EXPLANATION_WEIGHT: usize = 10_000;

fn quote_weight(lines: usize) -> usize {
    QUOTE_WEIGHT + QUOTE_LINE_WEIGHT * lines
}

/// What a page of a connection weighs: the rows it can hold.
fn page_weight(first: Option<i32>) -> usize {
    first.map_or(DEFAULT_PAGE, |n| usize::try_from(n).unwrap_or(0).clamp(1, MAX_PAGE))
}

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
}

/// The served schema, with shared state and per-request data loaders added
/// by the HTTP layer.
pub fn build_schema(state: AppState) -> AppSchema {
    builder().data(state).finish()
}

/// The gate every request passes first: the same schema, which checks the
/// access table and charges the request's cost instead of executing it
/// (`gate`).
pub struct GateSchema(pub AppSchema);

pub use gate::Parsed;

pub fn build_gate(state: AppState) -> GateSchema {
    GateSchema(builder().extension(gate::Gate).data(state).finish())
}

/// The schema's SDL, built without any data: what `schema.graphql` holds.
pub fn sdl() -> String {
    builder().finish().sdl()
}

pub use loaders::Loaders;

use async_graphql::{Context, ErrorExtensions};

use crate::error::ApiError;

fn app<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
}

/// The deadline of this request's searches: set when the request arrived,
/// or from now for a request that came without one.
fn deadline(ctx: &Context<'_>) -> async_graphql::Result<crate::planning::Deadline> {
    match ctx.data_opt::<crate::planning::Deadline>() {
        Some(deadline) => Ok(*deadline),
        None => Ok(app(ctx)?.planner.deadline()),
    }
}

/// The caller the request acts as; every request that reaches a resolver
/// has one (only introspection is answered without a key).
fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a domain::access::Caller> {
    ctx.data::<domain::access::Caller>().map_err(|_| {
        ApiError::user(crate::error::ErrorCode::Unauthenticated, "send an API key: Authorization: Bearer <key>")
            .extend()
    })
}

/// The id clients see of a row of `kind`.
async fn public_id(
    ctx: &Context<'_>,
    kind: infra::secrets::IdKind,
    id: i64,
) -> async_graphql::Result<async_graphql::ID> {
    let secrets = app(ctx)?.secrets().await.map_err(internal)?;
    Ok(async_graphql::ID(secrets.public_id(kind, id)))
}

fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
}

/// A failure of ours surfaced in a resolver: logged with its whole cause
/// chain, shown as "internal error".
fn internal<E: std::error::Error + Send + Sync + 'static>(err: E) -> async_graphql::Error {
    ApiError::Internal(anyhow::Error::new(err)).log().extend()
}

/// A rule of ours that stored data broke, e.g. a plan naming a warehouse
/// that is not there.
fn broken(what: &'static str) -> async_graphql::Error {
    ApiError::Internal(anyhow::anyhow!(what)).log().extend()
}

/// Page size bounds of every connection.
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

fn page_size(first: Option<i32>) -> async_graphql::Result<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE as i32).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::user(
            crate::error::ErrorCode::InvalidInput,
            format!("first must be between 1 and {MAX_PAGE}, got {n}"),
        )
        .extend()),
    }
}

type Page<N> = async_graphql::connection::Connection<
    String,
    N,
    async_graphql::connection::EmptyFields,
    async_graphql::connection::EmptyFields,
>;

/// A connection page from `limit + 1` rows fetched after a cursor: the
/// extra row only says whether there is a next page.
fn page<T, N: async_graphql::OutputType>(
    rows: Vec<T>,
    limit: usize,
    after_cursor: bool,
    cursor: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Page<N> {
    let mut connection = async_graphql::connection::Connection::new(after_cursor, rows.len() > limit);
    connection
        .edges
        .extend(rows.into_iter().take(limit).map(|row| async_graphql::connection::Edge::new(cursor(&row), node(row))));
    connection
}
