//! Shared helpers: run `shipmix` in-process and scratch files per test.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// What one run of the command line printed and returned.
pub(crate) struct Run {
    pub(crate) code: u8,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `shipmix ARGS…` in this process.
pub(crate) fn shipmix(args: &[&str]) -> Run {
    init_test_logging();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = std::iter::once("shipmix").chain(args.iter().copied());
    let code = api::cli::run(argv, &mut stdout, &mut stderr);
    Run {
        code,
        stdout: String::from_utf8(stdout).expect("utf-8 output"),
        stderr: String::from_utf8(stderr).expect("utf-8 output"),
    }
}

/// A scratch directory that disappears with the test.
pub(crate) struct Scratch {
    dir: TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub(crate) fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write scratch file");
        path
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The repository root, for the checked-in examples.
pub(crate) fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository root")
}

pub(crate) fn example(name: &str) -> String {
    repo_root().join("examples").join(name).display().to_string()
}

/// The JSON objects of a jsonl report.
pub(crate) fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

// ---------------------------------------------------------------------------
// The gateway under test.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use api::server::Application;
use api::state::{AppState, GatewaySettings};
use infra::cache::{CacheSettings, StockCache};
use infra::clock::{Clock, SystemClock};
use infra::db::{self, DatabaseSettings};
use infra::store::Store;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// Which database a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    Sqlite,
    Postgres,
}

/// A running gateway with its own fresh database.
pub(crate) struct TestApp {
    pub(crate) lane: Lane,
    pub(crate) address: String,
    /// Sends the admin key with every request.
    pub(crate) client: reqwest::Client,
    /// The admin key's secret.
    pub(crate) admin_key: String,
    pub(crate) store: Store,
    pub(crate) cache: StockCache,
    pub(crate) database: DatabaseSettings,
    cache_settings: CacheSettings,
    /// The clock the app's store runs on (replicas share it).
    clock: Arc<dyn Clock>,
    server: actix_web::dev::ServerHandle,
    _dir: Option<TempDir>,
}

impl Drop for TestApp {
    /// Stops the server so its connection pool closes with the test: the
    /// Postgres lane would otherwise pile up connections across tests.
    fn drop(&mut self) {
        // The stop command is sent at once; its completion need not be awaited.
        drop(self.server.stop(false));
    }
}

/// The lanes this run covers: SQLite always, Postgres when
/// `TEST_DATABASE_URL` is set.
/// A lane that is missing says so on stderr, and fails the run where `CI`
/// is set: a CI run that silently skipped Postgres would prove nothing.
pub(crate) fn lanes() -> Vec<Lane> {
    let mut lanes = vec![Lane::Sqlite];
    if configured("TEST_DATABASE_URL") {
        lanes.push(Lane::Postgres);
    } else {
        missing("TEST_DATABASE_URL", "the Postgres lane");
    }
    lanes
}

fn configured(var: &str) -> bool {
    std::env::var(var).is_ok_and(|u| !u.is_empty())
}

fn missing(var: &str, lane: &str) {
    assert!(!configured("CI"), "CI is set but {var} is not: {lane} would be skipped");
    eprintln!("skipped: {lane} ({var} is not set)");
}

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);
static PG_SWEPT: OnceCell<()> = OnceCell::const_new();

/// A fresh database per test app: a SQLite file in a temp dir, or a new
/// Postgres database (leftovers of earlier runs are dropped on first use).
async fn fresh_database(lane: Lane) -> (DatabaseSettings, Option<TempDir>) {
    match lane {
        Lane::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            (DatabaseSettings::sqlite_in(dir.path()), Some(dir))
        }
        Lane::Postgres => {
            let admin_url = std::env::var("TEST_DATABASE_URL").expect("checked by lanes()");
            let admin = Database::connect(&admin_url).await.expect("connect to TEST_DATABASE_URL");
            let prefix = format!("shipmix_it_{}_", std::process::id());
            PG_SWEPT
                .get_or_init(|| async {
                    let stale = admin
                        .query_all_raw(sea_orm::Statement::from_string(
                            admin.get_database_backend(),
                            "SELECT datname FROM pg_database WHERE datname LIKE 'shipmix_it_%'".to_owned(),
                        ))
                        .await
                        .expect("list test databases");
                    for row in stale {
                        let name: String = row.try_get("", "datname").expect("datname");
                        if !name.starts_with(&prefix) {
                            let _ = admin
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .await;
                        }
                    }
                })
                .await;
            let name = format!("{prefix}{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
            // A small pool: tests run in parallel against one server.
            (DatabaseSettings { url: format!("{base}/{name}"), max_connections: 8 }, None)
        }
    }
}

/// The cache a lane runs with: Redis on the Postgres lane when
/// `TEST_REDIS_URL` is set (a namespace per app, so parallel tests never
/// share keys), the in-process cache otherwise.
pub(crate) fn cache_for(lane: Lane) -> CacheSettings {
    let redis_url = match lane {
        Lane::Postgres => {
            let url = std::env::var("TEST_REDIS_URL").ok().filter(|u| !u.is_empty());
            if url.is_none() {
                missing("TEST_REDIS_URL", "the Redis cache on the Postgres lane");
            }
            url
        }
        Lane::Sqlite => None,
    };
    CacheSettings {
        redis_url,
        namespace: format!("shipmix-it-{}-{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst)),
        ..CacheSettings::default()
    }
}

/// Starts the real server on 127.0.0.1:0 against a fresh database.
pub(crate) async fn spawn_app(lane: Lane) -> TestApp {
    spawn_app_with(lane, cache_for(lane)).await
}

pub(crate) async fn spawn_app_with(lane: Lane, cache_settings: CacheSettings) -> TestApp {
    spawn_configured(lane, cache_settings, GatewaySettings::default()).await
}

pub(crate) async fn spawn_configured(lane: Lane, cache_settings: CacheSettings, gateway: GatewaySettings) -> TestApp {
    spawn_timed(lane, cache_settings, gateway, Arc::new(SystemClock)).await
}

/// A gateway whose store (and worker) run on `clock`: tests of time move it
/// instead of sleeping.
pub(crate) async fn spawn_timed(
    lane: Lane,
    cache_settings: CacheSettings,
    gateway: GatewaySettings,
    clock: Arc<dyn Clock>,
) -> TestApp {
    spawn_limited(lane, cache_settings, gateway, clock, test_limits()).await
}

/// What test servers may take: a small body limit, the rest as served.
pub(crate) fn test_limits() -> api::server::HttpLimits {
    api::server::HttpLimits { max_body_bytes: 64 * 1024, ..Default::default() }
}

/// A gateway with its own HTTP limits (timeouts, sizes).
pub(crate) async fn spawn_limited(
    lane: Lane,
    cache_settings: CacheSettings,
    gateway: GatewaySettings,
    clock: Arc<dyn Clock>,
    limits: api::server::HttpLimits,
) -> TestApp {
    init_test_logging();
    let (database, dir) = fresh_database(lane).await;
    let (address, store, cache, server) = spawn_on(&database, &cache_settings, gateway, clock.clone(), limits).await;
    let admin_key = key_for(&store, domain::access::Role::Admin, None).await;
    TestApp {
        lane,
        address,
        client: client_with(&admin_key),
        admin_key,
        store,
        cache,
        database,
        cache_settings,
        clock,
        server,
        _dir: dir,
    }
}

/// Another gateway instance on the same database and cache (a replica).
pub(crate) async fn spawn_replica(of: &TestApp) -> TestApp {
    spawn_replica_with(of, GatewaySettings::default()).await
}

/// A replica with its own settings (a policy, a worker interval).
pub(crate) async fn spawn_replica_with(of: &TestApp, gateway: GatewaySettings) -> TestApp {
    let (address, store, cache, server) =
        spawn_on(&of.database, &of.cache_settings, gateway, of.clock.clone(), test_limits()).await;
    TestApp {
        lane: of.lane,
        address,
        client: client_with(&of.admin_key),
        admin_key: of.admin_key.clone(),
        store,
        cache,
        database: of.database.clone(),
        cache_settings: of.cache_settings.clone(),
        clock: of.clock.clone(),
        server,
        _dir: None,
    }
}

/// A new key of `role` (bound to `partner`), made through the store.
pub(crate) async fn key_for(store: &Store, role: domain::access::Role, partner: Option<&str>) -> String {
    let grant = domain::access::Grant::new(role, partner.map(str::to_owned)).expect("a valid grant");
    store.create_key(&format!("test {role}"), grant).await.expect("create a key").secret
}

/// An admin, for requests run on the schema in-process.
pub(crate) fn admin_caller() -> domain::access::Caller {
    let grant = domain::access::Grant::new(domain::access::Role::Admin, None).expect("a valid grant");
    domain::access::Caller { key_id: 0, name: "in-process".into(), grant }
}

/// The `Authorization` header that sends `key`.
pub(crate) fn bearer(key: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).expect("a header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    headers
}

/// An HTTP client that sends `key` with every request.
pub(crate) fn client_with(key: &str) -> reqwest::Client {
    reqwest::Client::builder().default_headers(bearer(key)).build().expect("a client")
}

async fn spawn_on(
    database: &DatabaseSettings,
    cache_settings: &CacheSettings,
    gateway: GatewaySettings,
    clock: Arc<dyn Clock>,
    limits: api::server::HttpLimits,
) -> (String, Store, StockCache, actix_web::dev::ServerHandle) {
    let connection = db::connect(database).await.expect("connect");
    db::migrate(&connection).await.expect("migrate");
    let store = Store::with_clock(connection, clock);
    let cache = StockCache::new(cache_settings).expect("cache settings");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let state = AppState::new(store.clone(), cache.clone(), gateway);
    let app = Application::with_listener(state, listener, limits).expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.handle();
    tokio::spawn(app.run_until_stopped());
    (address, store, cache, server)
}

/// Logs go to the test's output with `TEST_LOG`, and nowhere otherwise:
/// the first call installs the process's subscriber, before `shipmix serve`
/// run in-process could install its own and send every later test's logs
/// to stderr.
pub(crate) fn init_test_logging() {
    let filter = if std::env::var("TEST_LOG").is_ok() { "info" } else { "off" };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// The one column a refused request may change.
const VOLATILE: &str = "last_used_at_ms";

impl TestApp {
    /// A fingerprint of every row of every table but the migrations'
    /// bookkeeping and when a key was last used (every request with a key
    /// may record that): equal before and after a call means it changed
    /// nothing.
    pub(crate) async fn digest(&self) -> std::collections::BTreeMap<String, String> {
        use sea_orm::Statement;
        let db = Database::connect(&self.database.url).await.expect("connect for a digest");
        let backend = db.get_database_backend();
        let query = |sql: String| Statement::from_string(backend, sql);
        let tables_sql = match self.lane {
            Lane::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations' ORDER BY name"
            }
            Lane::Postgres => {
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' ORDER BY tablename"
            }
        };
        let tables: Vec<String> = db
            .query_all_raw(query(tables_sql.to_owned()))
            .await
            .expect("list tables")
            .iter()
            .map(|r| r.try_get::<String>("", "name").expect("table name"))
            .collect();
        let mut digest = std::collections::BTreeMap::new();
        for table in tables {
            let sql = match self.lane {
                Lane::Sqlite => {
                    let columns: Vec<String> = db
                        .query_all_raw(query(format!("PRAGMA table_info('{table}')")))
                        .await
                        .expect("columns")
                        .iter()
                        .map(|r| r.try_get::<String>("", "name").expect("column name"))
                        .filter(|c| c != VOLATILE)
                        .map(|c| format!("quote(\"{c}\")"))
                        .collect();
                    format!(
                        "SELECT coalesce(group_concat(r, '|'), '') AS d FROM (SELECT {} AS r FROM \"{table}\" ORDER BY 1)",
                        columns.join(" || ',' || ")
                    )
                }
                Lane::Postgres => {
                    format!(
                        "SELECT coalesce(string_agg((to_jsonb(t) - '{VOLATILE}')::text, '|' ORDER BY t::text), '') AS d FROM \"{table}\" t"
                    )
                }
            };
            let row = db.query_one_raw(query(sql)).await.expect("digest a table").expect("one row");
            digest.insert(table, row.try_get::<String>("", "d").expect("digest"));
        }
        digest
    }

    /// The row a public id names (for tests that read the tables).
    pub(crate) async fn row_id(&self, kind: infra::secrets::IdKind, public: &str) -> i64 {
        let secrets = infra::secrets::Secrets::load(&self.store).await.expect("the gateway's secrets");
        secrets.row_id(kind, public).expect("a public id").expect("a row")
    }

    pub(crate) fn graphql_url(&self) -> String {
        format!("{}/graphql", self.address)
    }

    /// POSTs a GraphQL request and returns the response body.
    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(self.graphql_url())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        response.json().await.expect("JSON body")
    }

    /// Like [`graphql`](Self::graphql) but fails the test on any GraphQL error.
    pub(crate) async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "[{:?}] unexpected errors: {body}", self.lane);
        body["data"].clone()
    }

    /// Loads a small network: the warehouses, products and levels given.
    pub(crate) async fn seed(
        &self,
        warehouses: &[(&str, f64, f64, &str)],
        products: &[(&str, &str)],
        stock: &[(&str, &str, i64)],
    ) {
        for &(code, lat, lon, base) in warehouses {
            let data = self
                .ok(
                    "mutation($i: UpsertWarehouseInput!) { upsertWarehouse(input: $i) { userErrors { message } } }",
                    json!({ "i": { "code": code, "name": code, "latitude": lat, "longitude": lon,
                                   "baseCost": base, "costPerKm": "0.002" } }),
                )
                .await;
            assert_eq!(data["upsertWarehouse"]["userErrors"], json!([]));
        }
        let products: Vec<Value> = products
            .iter()
            .map(|&(sku, price)| json!({ "sku": sku, "name": format!("Product {sku}"), "unitPrice": price }))
            .collect();
        let data = self
            .ok(
                "mutation($p: [ProductInput!]!) { upsertProducts(input: $p) { userErrors { message } } }",
                json!({ "p": products }),
            )
            .await;
        assert_eq!(data["upsertProducts"]["userErrors"], json!([]));
        let levels: Vec<Value> = stock
            .iter()
            .map(|&(w, sku, on_hand)| json!({ "warehouseCode": w, "sku": sku, "onHand": on_hand }))
            .collect();
        let data = self
            .ok(
                "mutation($l: [StockLevelInput!]!) { setStockLevels(input: $l) { userErrors { message } } }",
                json!({ "l": levels }),
            )
            .await;
        assert_eq!(data["setStockLevels"]["userErrors"], json!([]));
    }
}

/// Three warehouses around New York, Chicago and Reno, and four products.
pub(crate) async fn seeded(lane: Lane) -> TestApp {
    seeded_with(lane, GatewaySettings::default()).await
}

/// [`seeded`], on a gateway with these settings.
pub(crate) async fn seeded_with(lane: Lane, gateway: GatewaySettings) -> TestApp {
    seeded_timed(lane, gateway, Arc::new(SystemClock)).await
}

/// [`seeded_with`], on a gateway whose store runs on `clock`.
pub(crate) async fn seeded_timed(lane: Lane, gateway: GatewaySettings, clock: Arc<dyn Clock>) -> TestApp {
    let app = spawn_timed(lane, cache_for(lane), gateway, clock).await;
    app.seed(
        &[("NYC", 40.7, -74.0, "5"), ("CHI", 41.9, -87.6, "4.5"), ("RNO", 39.5, -119.8, "6")],
        &[("TENT", "199.00"), ("STOVE", "49.50"), ("LAMP", "19.99"), ("RARE", "5.00")],
        &[
            ("NYC", "TENT", 2),
            ("NYC", "LAMP", 10),
            ("CHI", "TENT", 5),
            ("CHI", "STOVE", 3),
            ("RNO", "STOVE", 8),
            ("RNO", "LAMP", 1),
        ],
    )
    .await;
    app
}
